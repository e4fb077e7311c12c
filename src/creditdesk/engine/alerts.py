"""Alerts in the engine: the pure rules of `creditdesk.alerting` applied to an account, in
the transaction of the change that raised them (the caller's `store.write`).

Every operation that moves the balance ends here with the balance it started from, so the
armed set follows the balance (re-armed on the way up) and a crossing raises its alert with
the change, never later. The debit path checks in a few integer comparisons whether
anything can fire at all before it builds the rules' values: most debits raise nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import TYPE_CHECKING

from .. import alerting
from ..alerting import AlertDraft, AlertState, DebitFacts
from ..errors import InvalidRequest
from ..models import Alert, AlertSettings
from ..store.ledger import from_micros, to_micros
from ..store.state import EMPTY_BAND, Account, Membership

if TYPE_CHECKING:
    from .core import BillingEngine

MAX_ALERT_PAGE = 1000
LIMIT_MARK = 0      # the mark of member_limit_reached (shares are 1..100)
NO_THRESHOLD = 2**63    # above any balance (at most a few times 10**12 credits)


# --- writing ------------------------------------------------------------------------------

def write(engine: BillingEngine, account: Account, drafts: list[AlertDraft],
          at_us: int) -> None:
    """Append the drafts as alerts, with the balance as the operation left it."""
    balance = account.total
    for draft in drafts:
        account.alerts.append((engine.store.take_alert_id(), at_us, draft.kind,
                               draft.user_id, draft.threshold, balance, draft.message))
    if drafts:
        engine.mutations += 1


def balance_moved(engine: BillingEngine, account: Account, before: int, at_us: int) -> None:
    """After an operation that changed only the balance (a purchase, a paid invoice): raise
    what it crossed downward and re-arm what it reached."""
    config = account.alerting
    if not config.balance_below:
        return
    drafts, config.armed = alerting.drafts_for_balance(config.balance_below, config.armed,
                                                       before, account.total)
    write(engine, account, drafts, at_us)


# --- debits -------------------------------------------------------------------------------

def after_debit(engine: BillingEngine, account: Account, member: Membership, before: int,
                used_before: int, was_running: bool, recharge_declined: bool,
                at_us: int) -> None:
    """A debit that went through or was refused for the balance (with its recharge).

    The hot path: returns after a few comparisons unless a threshold lies between the
    balance before and after, a member share may have been reached, autopilot paused or
    the recharge was declined."""
    config = account.alerting
    after = account.base + account.rollover + account.purchased
    maybe = recharge_declined or (was_running and account.paused)
    low, high = config.band
    if not (low <= after < high and low <= before < high):
        # Left the band between two thresholds the last debit ended in (or no band yet):
        # find the one `after` is in; something may fire only if `before` was elsewhere.
        low, high = config.band = _band(config.balance_below, after)
        maybe = maybe or not low <= before < high
    limit = member.limit
    if not maybe and limit:
        used = member.used
        shares = config.member_usage_percent
        # A share P is newly reached when it lies in (before's percent, after's percent].
        if shares and used_before * 100 // limit != used * 100 // limit:
            maybe = (bisect_right(shares, used_before * 100 // limit)
                     != bisect_right(shares, used * 100 // limit))
    if maybe:
        _debit_alerts(engine, account, member, before, used_before, was_running,
                      recharge_declined, False, at_us)


def _band(thresholds: list[int], balance: int) -> tuple[int, int]:
    """[the highest threshold at or below `balance`, the lowest above it): no debit that
    starts and ends in it crosses a threshold (0 and 2**63 stand for none)."""
    i = bisect_right(thresholds, balance)
    return (thresholds[i - 1] if i else 0,
            thresholds[i] if i < len(thresholds) else NO_THRESHOLD)


def limit_refused(engine: BillingEngine, account: Account, member: Membership,
                  at_us: int) -> None:
    """A debit refused by the member's limit: told once per member per period."""
    mark = account.alerting.marks.get((member.user_id, LIMIT_MARK))
    if mark != account.period_index:
        state = "paused" if account.paused else "running"
        _debit_alerts(engine, account, member, account.total, member.used,
                      state == "running", False, True, at_us)


def _debit_alerts(engine: BillingEngine, account: Account, member: Membership, before: int,
                  used_before: int, was_running: bool, recharge_declined: bool,
                  refused_by_limit: bool, at_us: int) -> None:
    config = account.alerting
    marks, period = config.marks, account.period_index
    uid = member.user_id
    told = frozenset(p for p in config.member_usage_percent if marks.get((uid, p)) == period)
    state = AlertState(config.armed, told, marks.get((uid, LIMIT_MARK)) == period)
    facts = DebitFacts(
        balance_before=before, balance_after=account.total,
        autopilot_before="running" if was_running else "paused",
        autopilot_after="paused" if account.paused else "running",
        user_id=uid, name=engine.store.user(uid).name, limit=member.limit,
        used_before=used_before, used_after=member.used, refused_by_limit=refused_by_limit,
        recharge_declined=recharge_declined)
    settings = AlertSettings.model_construct(balance_below=config.balance_below,
                                             member_usage_percent=config.member_usage_percent)
    drafts, new_state = alerting.debit_alerts(settings, state, facts)
    config.armed = new_state.armed
    for share in new_state.told - told:
        marks[(uid, share)] = period
    if new_state.limit_refused and not state.limit_refused:
        marks[(uid, LIMIT_MARK)] = period
    write(engine, account, drafts, at_us)


# --- period closes ------------------------------------------------------------------------

def after_close(engine: BillingEngine, account: Account, before: int, was_running: bool,
                subscription_declined: bool, at: datetime) -> None:
    """One close (its forfeit and its grant together), stamped at its boundary."""
    config = account.alerting
    settings = AlertSettings.model_construct(balance_below=config.balance_below,
                                             member_usage_percent=config.member_usage_percent)
    drafts, config.armed = alerting.close_alerts(
        settings, config.armed, before, account.total,
        subscription_declined=subscription_declined,
        autopilot_before="running" if was_running else "paused",
        autopilot_after="paused" if account.paused else "running")
    write(engine, account, drafts, to_micros(at))


# --- settings and reads -------------------------------------------------------------------

def settings_model(account: Account) -> AlertSettings:
    config = account.alerting
    return AlertSettings(balance_below=list(config.balance_below),
                         member_usage_percent=list(config.member_usage_percent))


def configure(engine: BillingEngine, account: Account, balance_below: object,
              member_usage_percent: object) -> AlertSettings:
    settings = alerting.check_alert_settings(balance_below, member_usage_percent)
    config = account.alerting
    config.balance_below = list(settings.balance_below)
    config.member_usage_percent = list(settings.member_usage_percent)
    # Only what the balance is at or above now is armed: a threshold set above today's
    # balance stays quiet until the balance has reached it.
    config.armed = alerting.armed_on_configure(config.balance_below, account.total)
    config.band = EMPTY_BAND
    engine.mutations += 1
    return settings


def page(account: Account, limit: object, before: object) -> list[Alert]:
    """Newest first; a page larger than the cap is cut to it (as the ledger's is)."""
    if type(limit) is not int or limit < 1:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_ALERT_PAGE}",
                             field="limit")
    if before is not None and (type(before) is not int or before < 1):
        raise InvalidRequest("before must be an alert id", field="before")
    return [alert_model(row) for row in account.alerts.page(before, min(limit,
                                                                        MAX_ALERT_PAGE))]


def alert_model(row: tuple) -> Alert:
    alert_id, at_us, kind, user_id, threshold, balance_after, message = row
    return Alert(id=alert_id, at=from_micros(at_us), kind=kind, user_id=user_id,
                 threshold=threshold, balance_after=balance_after, message=message)
