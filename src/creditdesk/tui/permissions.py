"""Which role each dashboard control needs: the screen-side mirror of the backend's table.

The dashboard may not import `creditdesk.rules` (architecture.md: tui imports backends,
models and money only), so the contract's permission table is repeated here under the same
action names. It is a courtesy for disabling controls; the backend still refuses on its own.
"""

from __future__ import annotations

ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}

# Same keys as creditdesk.rules.REQUIRED_ROLE; tests/tui/test_app.py checks they agree.
ROLE_NEEDED = {
    "record_usage": "member",
    "view_own_usage": "member",
    "view_balance": "admin",
    "view_usage_history": "admin",
    "view_members": "admin",
    "view_subscription": "admin",
    "view_auto_recharge": "admin",
    "view_ledger": "admin",
    "purchase_credits": "owner",
    "change_plan": "owner",
    "manage_auto_recharge": "owner",
    "set_member_limit": "owner",
    "open_portal": "owner",
    "view_invoices": "owner",
    "view_alerts": "admin",
    "set_alerts": "owner",
    "pay_invoice": "owner",
    "manage_webhooks": "owner",
}


def role_allows(role: str | None, action: str) -> bool:
    """True when `role` may perform `action`; no role (nothing loaded yet) allows nothing."""
    if role is None:
        return False
    return ROLE_RANK[role] >= ROLE_RANK[ROLE_NEEDED[action]]


def role_reason(action: str) -> str:
    """The short visible reason a control is disabled: "Owner only" or "Admin or higher"."""
    needed = ROLE_NEEDED[action]
    return "Owner only" if needed == "owner" else f"{needed.capitalize()} or higher"


def as_role(role: str) -> str:
    """The role with its article, as a sentence says it: "an admin", "a member"."""
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def role_refusal(action: str, role: str) -> str:
    """Why `role` may not use `action`, in words: "Owner only: you are an admin here"."""
    return f"{role_reason(action)}: you are {as_role(role)} here"
