"""Pure alert rules (billing-rules.md, "Alerts"): no I/O, no clock, only values in and out.

The engine owns the state (the settings, the armed thresholds, who was told what this
period) and writes each alert in the transaction of the change that raised it; these
functions only decide *which* alerts a change raises, and word them.

Balance thresholds carry an explicit armed set rather than being derived from the balance
before a change: the armed set is stored with the account and updated in the same
transaction as the balance, so two debits that race across X can raise it only once (the
second one finds X already disarmed), and a threshold set above today's balance starts
disarmed and stays quiet until the balance has been at or above it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Container, Iterable, Sequence
from typing import NamedTuple

from .errors import InvalidRequest
from .models import (
    MAX_BALANCE_THRESHOLDS,
    MAX_CREDITS,
    MAX_USAGE_SHARES,
    AlertKind,
    AlertSettings,
)
from .rules import is_int


class AlertDraft(NamedTuple):
    """An alert before the engine gives it an id, a time and the balance after."""

    kind: AlertKind
    user_id: str | None
    threshold: int | None
    message: str


# --- settings ---------------------------------------------------------------------------

def check_alert_settings(balance_below: object, member_usage_percent: object) -> AlertSettings:
    """Validate and normalise an owner's settings; raise InvalidRequest naming the field.

    Both lists are required (empty for none). Values are sorted and duplicates dropped
    *before* the count is checked, so `[100, 100, 100, 100, 100, 100]` is one threshold.
    """
    thresholds = _check_list(balance_below, "balance_below", 1, MAX_CREDITS, "credits")
    shares = _check_list(member_usage_percent, "member_usage_percent", 1, 100, "percent")
    if len(thresholds) > MAX_BALANCE_THRESHOLDS:
        raise InvalidRequest(f"balance_below takes at most {MAX_BALANCE_THRESHOLDS} "
                             f"thresholds, got {len(thresholds)}", field="balance_below")
    if len(shares) > MAX_USAGE_SHARES:
        raise InvalidRequest(f"member_usage_percent takes at most {MAX_USAGE_SHARES} "
                             f"shares, got {len(shares)}", field="member_usage_percent")
    return AlertSettings(balance_below=thresholds, member_usage_percent=shares)


def _check_list(value: object, field: str, low: int, high: int, unit: str) -> list[int]:
    if value is None:
        raise InvalidRequest(f"{field} is required (an empty list for none)", field=field)
    if not isinstance(value, (list, tuple)):
        raise InvalidRequest(f"{field} must be a list of whole {unit}, "
                             f"not {type(value).__name__}", field=field)
    for item in value:
        if not is_int(item):
            raise InvalidRequest(f"{field} must hold whole {unit}, "
                                 f"not {type(item).__name__}", field=field)
        if not low <= item <= high:
            raise InvalidRequest(f"{field} values must be from {low:,} to {high:,} {unit}, "
                                 f"got {item:,}", field=field)
    return sorted(set(value))


# --- balance thresholds -----------------------------------------------------------------

def armed_on_configure(thresholds: Iterable[int], balance: int) -> frozenset[int]:
    """The armed set right after the settings change: only what the balance is at or above.

    A threshold above today's balance has not been "at or above" yet, so it starts disarmed
    (setting it must not raise anything by itself, nor on the next debit).
    """
    return frozenset(x for x in thresholds if balance >= x)


def balance_crossings(thresholds: Iterable[int], before: int, after: int) -> list[int]:
    """The thresholds one operation crosses downward: from at least X to below X."""
    return sorted(x for x in thresholds if before >= x > after)


def advance_balance_alerts(thresholds: Iterable[int], armed: frozenset[int], before: int,
                           after: int) -> tuple[list[int], frozenset[int]]:
    """(thresholds raised by this operation, the armed set after it).

    `thresholds` as AlertSettings keeps them: a sorted list (anything else is sorted here).

    Raised: armed thresholds the operation takes the balance below, and only those it
    crosses (from at least X). After it: exactly the thresholds the balance is now at or
    above; a raised one is disarmed until the balance is back at or above it.
    """
    current = thresholds if isinstance(thresholds, list) else sorted(thresholds)
    low, high = (after, before) if after < before else (before, after)
    if bisect_right(current, low) == bisect_right(current, high):
        # The usual debit: no threshold between its start and end, so no side changed and
        # the armed set stays as it was (this path runs on every debit: keep it short).
        return [], armed
    raised = [x for x in current if x in armed and before >= x > after]
    return raised, frozenset(x for x in current if after >= x)


# --- member usage shares ----------------------------------------------------------------

def share_reached(share: int, used: int, limit: int) -> bool:
    # In integers: used / limit >= share / 100, with no rounding anywhere.
    return used * 100 >= share * limit


def member_usage_crossings(shares: Iterable[int], limit: int | None, used_before: int,
                           used_after: int, already_raised: Container[int]) -> list[int]:
    """Shares a debit newly takes a member to, each at most once per member per period.

    `already_raised` is what this member was told this period. A member without a limit
    never raises one; a member already past P (a limit lowered under their use) does not
    raise P on the way, since this debit did not take them from below it.
    """
    if not limit:  # none, or 0: reached before any debit, so never newly reached
        return []
    # In whole percents: used*100 >= P*limit exactly when P <= used*100 // limit, so P is
    # newly reached when it lies in (before's floor, after's floor].
    low, high = used_before * 100 // limit, used_after * 100 // limit
    if low >= high:  # the usual debit: not a whole percent further
        return []
    # Shares come sorted (check_alert_settings), so the answer is sorted too.
    return [p for p in shares if low < p <= high and p not in already_raised]


# --- built-in kinds ---------------------------------------------------------------------

def autopilot_paused(before: str, after: str) -> bool:
    """Raised on the change from running to paused, not while it stays paused."""
    return before == "running" and after == "paused"


def member_limit_alert_due(refused_by_limit: bool, refused_before_this_period: bool) -> bool:
    """Only a member's first refusal by their limit in a period is worth telling."""
    return refused_by_limit and not refused_before_this_period


def recharge_failed(enabled_before: bool, enabled_after: bool, payment_declined: bool) -> bool:
    """Auto-recharge switched itself off because its payment was declined."""
    return enabled_before and not enabled_after and payment_declined


def payment_failed(invoice_kind: str, declined: bool, at_period_close: bool) -> bool:
    """A subscription payment declined at a close (past due). A declined pay_invoice retry
    raises nothing: the owner is looking at the answer already."""
    return invoice_kind == "subscription" and declined and at_period_close


# --- wording ----------------------------------------------------------------------------

def balance_draft(threshold: int) -> AlertDraft:
    return AlertDraft("balance_below", None, threshold,
                      f"The balance fell below {threshold:,} credits.")


def member_usage_draft(user_id: str, name: str, share: int) -> AlertDraft:
    return AlertDraft("member_usage", user_id, share,
                      f"{name} has used {share}% of their credit limit this period.")


def builtin_draft(kind: AlertKind, *, user_id: str | None = None,
                  name: str | None = None) -> AlertDraft:
    """The sentence of a built-in kind; only member_limit_reached is about a member."""
    if kind == "member_limit_reached":
        if user_id is None or name is None:
            raise ValueError("member_limit_reached names the member it is about")
        return AlertDraft(kind, user_id, None,
                          f"{name} reached their credit limit and is stopped until the "
                          "next period.")
    if kind not in _BUILTIN_MESSAGES:
        raise ValueError(f"{kind} is not a built-in alert kind")
    return AlertDraft(kind, None, None, _BUILTIN_MESSAGES[kind])


_BUILTIN_MESSAGES: dict[str, str] = {
    "recharge_failed": "Auto-recharge switched itself off: its payment was declined. "
                       "Fix the payment method, then turn it back on.",
    "payment_failed": "The subscription payment was declined; the account is past due "
                      "until that invoice is paid.",
    "autopilot_paused": "Autopilot paused: the balance cannot cover the work. Add credits "
                        "to resume it.",
}


def drafts_for_balance(thresholds: Sequence[int], armed: frozenset[int], before: int,
                       after: int) -> tuple[list[AlertDraft], frozenset[int]]:
    """advance_balance_alerts, worded: what the engine writes with the change."""
    raised, new_armed = advance_balance_alerts(thresholds, armed, before, after)
    return [balance_draft(x) for x in raised], new_armed


# --- one operation, all its alerts ------------------------------------------------------

class AlertState(NamedTuple):
    """What the engine stores for alerts, beside the balance and in its transaction.

    `armed`: per account. `told` and `limit_refused`: per member and period (both start
    empty at every period close).
    """

    armed: frozenset[int]
    told: frozenset[int] = frozenset()
    limit_refused: bool = False


class DebitFacts(NamedTuple):
    """One debit (accepted or refused), as the engine saw it: start and end only."""

    balance_before: int
    balance_after: int  # with any recharge bought on the way
    autopilot_before: str
    autopilot_after: str
    user_id: str
    name: str
    limit: int | None
    used_before: int
    used_after: int  # = used_before when refused
    refused_by_limit: bool = False
    recharge_declined: bool = False  # auto-recharge tried, was declined, switched itself off


def debit_alerts(settings: AlertSettings, state: AlertState,
                 facts: DebitFacts) -> tuple[list[AlertDraft], AlertState]:
    """Every alert one debit raises, in the order things happened, and the new state."""
    drafts: list[AlertDraft] = []
    if facts.recharge_declined:
        drafts.append(builtin_draft("recharge_failed"))
    balance, armed = drafts_for_balance(settings.balance_below, state.armed,
                                        facts.balance_before, facts.balance_after)
    drafts += balance
    shares = member_usage_crossings(settings.member_usage_percent, facts.limit,
                                    facts.used_before, facts.used_after, state.told)
    drafts += [member_usage_draft(facts.user_id, facts.name, p) for p in shares]
    if autopilot_paused(facts.autopilot_before, facts.autopilot_after):
        drafts.append(builtin_draft("autopilot_paused"))
    if member_limit_alert_due(facts.refused_by_limit, state.limit_refused):
        drafts.append(builtin_draft("member_limit_reached", user_id=facts.user_id,
                                    name=facts.name))
    return drafts, AlertState(armed, state.told | frozenset(shares),
                              state.limit_refused or facts.refused_by_limit)


def close_alerts(settings: AlertSettings, armed: frozenset[int], balance_before: int,
                 balance_after: int, *, subscription_declined: bool, autopilot_before: str,
                 autopilot_after: str) -> tuple[list[AlertDraft], frozenset[int]]:
    """A period close as one operation (its forfeit and its grant together).

    The members' `told` and `limit_refused` start again empty after it; that is the
    engine's to reset, with the members' period usage.
    """
    drafts, armed = drafts_for_balance(settings.balance_below, armed, balance_before,
                                       balance_after)
    if payment_failed("subscription", subscription_declined, at_period_close=True):
        drafts.append(builtin_draft("payment_failed"))
    if autopilot_paused(autopilot_before, autopilot_after):
        drafts.append(builtin_draft("autopilot_paused"))
    return drafts, armed
