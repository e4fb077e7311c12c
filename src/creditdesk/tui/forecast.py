"""What the overview predicts at the current pace: roll-over, forfeit, when credits run out.

Pure functions over backend figures and an explicit `now`, so screens stay deterministic.
The pace is this period's use divided by the time elapsed in it, or the recent pace when
that is faster (live work spending now must not be averaged away by a quiet month); only
usage counts, so a recharge or a purchase never looks like negative spending. Later
periods are assumed
to be as long as the current one (the dashboard may not import the engine's calendar
rules, and a forecast only needs the day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models import Balance, LedgerEntry, Subscription

# A forecast further out than this says "more than a year" instead of a date.
HORIZON_PERIODS = 12


# How far back "recent" spending is looked at.
RECENT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class RecentUse:
    """Usage debits (credits, positive) seen in the last `seconds` before now."""
    credits: int
    seconds: float


def recent_use(entries: list[LedgerEntry], now: datetime) -> RecentUse | None:
    """From the newest ledger entries (newest first): what usage spent within the window.
    Grants, purchases and recharges are left out: a top-up is not negative burn. When the
    page does not reach back to the window's start, it covers only its own span."""
    start = now - RECENT_WINDOW
    spent = sum(-(e.base + e.rollover + e.purchased) for e in entries
                if e.kind == "usage" and start <= e.at <= now)
    if not entries or spent <= 0:
        return None
    covered_from = max(start, entries[-1].at) if len(entries) > 1 else start
    seconds = (now - covered_from).total_seconds()
    return RecentUse(spent, seconds) if seconds > 0 else None


@dataclass(frozen=True)
class PeriodForecast:
    per_day: float               # credits per day at the current pace (display only)
    recent: bool                 # the pace is the recent one, faster than the period's
    use_until_close: int         # credits still to be used before the period closes
    rolls_over: int              # unused base + rollover kept at the close (up to the cap)
    forfeited: int               # what the cap throws away at the close
    runs_out_at: datetime | None  # None: not within HORIZON_PERIODS (or no usage at all)


def rollover_cap_at_close(subscription: Subscription) -> int:
    """A plan change pending for this close brings its own cap (billing-rules.md)."""
    pending = subscription.pending_plan
    if pending is not None and subscription.pending_from is not None \
            and subscription.pending_from <= subscription.period_end:
        return pending.rollover_cap
    return subscription.plan.rollover_cap


def base_grant_after_close(subscription: Subscription) -> int:
    pending = subscription.pending_plan
    if pending is not None and subscription.pending_from is not None \
            and subscription.pending_from <= subscription.period_end:
        return pending.base_credits_per_month
    return subscription.plan.base_credits_per_month


def forecast_period(balance: Balance, subscription: Subscription, now: datetime,
                    recent: RecentUse | None = None) -> PeriodForecast | None:
    """None when there is no pace yet (nothing used, or the period has just begun)."""
    elapsed = (now - balance.period_start).total_seconds()
    remaining = max(0.0, (balance.period_end - now).total_seconds())
    if elapsed <= 0 or balance.used_this_period <= 0:
        return None
    pace = balance.used_this_period / elapsed  # credits per second
    recent_pace = recent.credits / recent.seconds if recent else 0.0
    faster = recent_pace > pace
    pace = max(pace, recent_pace)
    use = min(round(pace * remaining), balance.total)
    # Debits take base first, then rollover, then purchased (billing-rules.md).
    from_base = min(use, balance.base)
    from_rollover = min(use - from_base, balance.rollover)
    carry = (balance.base - from_base) + (balance.rollover - from_rollover)
    cap = rollover_cap_at_close(subscription)
    rolls = min(carry, cap)
    return PeriodForecast(per_day=pace * 86_400, recent=faster, use_until_close=use,
                          rolls_over=rolls,
                          forfeited=carry - rolls,
                          runs_out_at=_runs_out(balance, subscription, pace, now))


def _runs_out(balance: Balance, subscription: Subscription, pace: float,
              now: datetime) -> datetime | None:
    """Walk period by period: spend at `pace`, apply each close (cap, new grant)."""
    period = balance.period_end - balance.period_start
    cap = rollover_cap_at_close(subscription)
    grant = base_grant_after_close(subscription)
    base, rollover, purchased = balance.base, balance.rollover, balance.purchased
    start, end = now, balance.period_end
    for _ in range(HORIZON_PERIODS + 1):
        seconds = (end - start).total_seconds()
        need = pace * seconds
        total = base + rollover + purchased
        if need >= total:
            return start + timedelta(seconds=total / pace)
        from_base = min(need, base)
        from_rollover = min(need - from_base, rollover)
        purchased -= need - from_base - from_rollover
        rollover = min(base - from_base + rollover - from_rollover, cap)
        base = grant
        start, end = end, end + period
    return None
