"""Pure billing rules: no I/O, no clock (callers pass `now`), only models and errors.

Everything here is a small function over integers and datetimes so that it can be table-
tested and property-tested on its own; the engine composes them and owns the state.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from .errors import InvalidRequest, PermissionDenied
from .models import MAX_CENTS, MAX_CREDITS

ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}
ROLES = tuple(ROLE_RANK)

# The one permission table (billing-rules.md, "Who can do what"). In a personal account the
# user is its owner, so every action is allowed there; in an org the role must reach this.
REQUIRED_ROLE = {
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
    "pay_invoice": "owner",
    "view_alerts": "admin",
    "set_alerts": "owner",
    "manage_webhooks": "owner",
}

ACTION_WORDS = {
    "record_usage": "record usage",
    "view_own_usage": "view your own usage",
    "view_balance": "view the balance",
    "view_usage_history": "view usage history",
    "view_members": "view members' usage",
    "view_subscription": "view the plan",
    "view_auto_recharge": "view auto-recharge settings",
    "view_ledger": "view the ledger",
    "purchase_credits": "purchase credits",
    "change_plan": "change the plan",
    "manage_auto_recharge": "manage auto-recharge",
    "set_member_limit": "set member credit limits",
    "open_portal": "open the payment portal",
    "view_invoices": "view invoices",
    "pay_invoice": "pay a failed invoice",
    "view_alerts": "view alerts",
    "set_alerts": "set alerts",
    "manage_webhooks": "manage webhooks",
}


def role_allows(role: str, action: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[REQUIRED_ROLE[action]]


def require_role(role: str, action: str) -> None:
    """Raise PermissionDenied naming the role the action needs."""
    if not role_allows(role, action):
        needed = REQUIRED_ROLE[action]
        who = "Owner only" if needed == "owner" else f"{needed.capitalize()} or higher"
        raise PermissionDenied(f"{who}: you are {_article(role)} {role} and cannot "
                               f"{ACTION_WORDS[action]}", required_role=needed)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# --- input validation -------------------------------------------------------------------

def is_int(value: object) -> bool:
    # bool is an int subclass in Python; `true` is never an amount of credits.
    return type(value) is int


def check_credits(value: object, field: str, *, allow_zero: bool = False,
                  whole_dollars: bool = False) -> int:
    """Validate an amount of credits from outside; raise InvalidRequest naming `field`."""
    if not is_int(value):
        raise InvalidRequest(f"{field} must be a whole number of credits, "
                             f"not {type(value).__name__}", field=field)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidRequest(f"{field} must be {'zero or more' if allow_zero else 'positive'}"
                             f", got {value}", field=field)
    if value > MAX_CREDITS:
        raise InvalidRequest(f"{field} is absurdly large ({value:,}); the most is "
                             f"{MAX_CREDITS:,} credits", field=field)
    if whole_dollars and value % 200:
        raise InvalidRequest(f"{field} must be a multiple of 200 credits (whole dollars), "
                             f"got {value:,}", field=field)
    return value


def check_cents(value: object, field: str) -> int:
    if not is_int(value):
        raise InvalidRequest(f"{field} must be a whole number of cents, "
                             f"not {type(value).__name__}", field=field)
    if value <= 0:
        raise InvalidRequest(f"{field} must be positive, got {value}", field=field)
    if value > MAX_CENTS:
        raise InvalidRequest(f"{field} is absurdly large ({value:,} cents)", field=field)
    return value


def check_text(value: object, field: str, *, max_length: int = 200) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be text, not {type(value).__name__}", field=field)
    if not value.strip():
        raise InvalidRequest(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise InvalidRequest(f"{field} is too long (at most {max_length} characters)",
                             field=field)
    return value


def header_safe(key: str) -> bool:
    """Whether an HTTP header carries `key` as it is (RFC 9110: visible ASCII, spaces only
    inside): a client cannot send "ключ" or "a\nb", and a parser strips " k" to "k"."""
    return key.isascii() and key.isprintable() and key[:1] != " " != key[-1:]


def key_is_valid(value: object) -> bool:
    """Whether `check_key` accepts `value`, answered without wording a refusal: the debit's
    one call for its key (a new key on every debit, so nothing can be cached). A str
    subclass answers False here and is left to `check_key` to judge."""
    return (type(value) is str and 0 < len(value) <= 255 and value.isascii()
            and value.isprintable() and value[0] != " " != value[-1])


def check_key(value: object, field: str = "idempotency_key") -> str:
    """An idempotency key: 1-255 characters that every backend, HTTP included, carries."""
    check_text(value, field, max_length=255)
    if not header_safe(value):
        raise InvalidRequest(f"{field} must be printable ASCII with no space at either end "
                             f"(it travels as an HTTP header)", field=field)
    return value


def check_instant(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidRequest(f"{field} must be a datetime, not {type(value).__name__}",
                             field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(f"{field} must carry a UTC offset (a naive time is ambiguous)",
                             field=field)
    return value


# --- debits -----------------------------------------------------------------------------

def split_debit(base: int, rollover: int, purchased: int,
                credits: int) -> tuple[int, int, int] | None:
    """Take `credits` base first, then rollover, then purchased; None if they cannot cover it."""
    if credits > base + rollover + purchased:
        return None
    from_base = base if credits > base else credits
    rest = credits - from_base
    from_rollover = rollover if rest > rollover else rest
    return from_base, from_rollover, rest - from_rollover


def exceeds_limit(used: int, credits: int, limit: int | None) -> bool:
    return limit is not None and used + credits > limit


# --- periods ------------------------------------------------------------------------------

def add_months(anchor: datetime, months: int) -> datetime:
    """The anchor moved by whole months, clamped to the month's last day (Jan 31 -> Feb 28)."""
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_start(anchor: datetime, index: int) -> datetime:
    """Start of credit period `index` (0 is the plan's first); always computed from the
    anchor, never from the previous period, so Jan 31 -> Feb 28 -> Mar 31 (not Mar 28)."""
    return add_months(anchor, index)


def period_index_at(anchor: datetime, now: datetime) -> int:
    """The period that contains `now` (0 before the anchor)."""
    if now <= anchor:
        return 0
    guess = (now.year - anchor.year) * 12 + now.month - anchor.month
    guess = max(guess, 0)
    while guess > 0 and period_start(anchor, guess) > now:
        guess -= 1
    while period_start(anchor, guess + 1) <= now:
        guess += 1
    return guess


def close_period(base: int, rollover: int, rollover_cap: int,
                 next_base: int) -> tuple[int, int, int]:
    """One period close: returns (new base, new rollover, forfeited)."""
    carry = base + rollover
    kept = min(carry, rollover_cap)
    return next_base, kept, carry - kept


def is_billing_period(index: int, billing_start_index: int, billing_period: str) -> bool:
    """Whether the period `index` opens with an invoice for the plan billed since
    `billing_start_index` (monthly: every period; annual: every twelfth)."""
    step = 12 if billing_period == "annual" else 1
    return index >= billing_start_index and (index - billing_start_index) % step == 0


def next_billing_index(index: int, billing_start_index: int, billing_period: str) -> int:
    """The first period after `index` that opens with an invoice."""
    step = 12 if billing_period == "annual" else 1
    done = (index - billing_start_index) // step + 1
    return billing_start_index + done * step


# --- auto-recharge --------------------------------------------------------------------------

def recharge_need(balance_after: int, threshold: int, amount: int) -> int:
    """How many recharge amounts bring `balance_after` (the balance once the debit is taken,
    possibly negative) up to at least `threshold`."""
    short = threshold - balance_after
    if short <= 0:
        return 0
    return -(-short // amount)


# One purchase buys at most this many recharge amounts, so one request can never spend more
# than ten times what the owner chose (with no monthly cap, nothing else would bound it).
MAX_RECHARGE_PACKS = 10


def recharge_allowed(packs: int, amount: int, cap_cents: int | None, spent_cents: int) -> int:
    """Of `packs` wanted, how many keep this period's recharge spend at or under the cap;
    none when more than MAX_RECHARGE_PACKS are wanted (counted before the cap)."""
    if packs > MAX_RECHARGE_PACKS:
        return 0
    if cap_cents is None:
        return packs
    price = amount // 2
    room = cap_cents - spent_cents
    return max(0, min(packs, room // price)) if price else packs


# --- usage history buckets -----------------------------------------------------------------

def bucket_start(day: datetime, granularity: str) -> datetime:
    """Start (UTC midnight) of the day, the Monday-started week, or the month holding `day`."""
    day = day.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day
