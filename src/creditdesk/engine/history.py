"""Usage history from the per-day roll-ups: cost depends on the range, never on history size."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import rules
from ..errors import InvalidRequest
from ..models import MAX_TOP, OTHER_KEY, UsagePoint, UsageSeries
from .ledger import DAY_US, EPOCH, to_micros

if TYPE_CHECKING:
    from .accounts import Account
    from .core import BillingEngine

GRANULARITIES = ("day", "week", "month")
GROUPS = ("source", "member", "campaign")
SOURCES = ("base", "rollover", "purchased")
MAX_RANGE_DAYS = 3_700   # ten years of days: more is a mistake, and would be slow


def usage_series(engine: BillingEngine, account: Account, start: datetime, end: datetime,
                 granularity: str, group_by: str, top: int | None = None) -> UsageSeries:
    """Credits used per bucket and key, oldest bucket first, keys in a stable order.

    Buckets are whole UTC days, Monday-started weeks or calendar months; a day counts when it
    starts before `end` and ends after `start`. Only non-zero points are returned.
    With `top` (member and campaign splits), only the `top` keys with the most credits in
    the range keep their own points (ties by key); the rest are summed per bucket under
    OTHER_KEY, so a chart of a 10,000-member org gets a handful of series, not a million
    points.
    """
    rules.check_instant(start, "start")
    rules.check_instant(end, "end")
    if granularity not in GRANULARITIES:
        raise InvalidRequest(f"granularity must be one of {', '.join(GRANULARITIES)}, "
                             f"got {granularity!r}", field="granularity")
    if group_by not in GROUPS:
        raise InvalidRequest(f"group_by must be one of {', '.join(GROUPS)}, got {group_by!r}",
                             field="group_by")
    if top is not None and (not rules.is_int(top) or not 1 <= top <= MAX_TOP):
        raise InvalidRequest(f"top must be a whole number from 1 to {MAX_TOP}", field="top")
    if end <= start:
        raise InvalidRequest("end must be after start", field="end")
    first_day = to_micros(start) // DAY_US
    last_day = -(-to_micros(end) // DAY_US)         # exclusive
    if last_day - first_day > MAX_RANGE_DAYS:
        raise InvalidRequest(f"the range is too long (at most {MAX_RANGE_DAYS} days)",
                             field="end")
    names = engine.names.names
    buckets: dict[datetime, dict[str, int]] = {}
    days = account.days
    for day_index in range(first_day, last_day):
        day = days.get(day_index)
        if day is None:
            continue
        when = EPOCH + timedelta(days=day_index)
        bucket = rules.bucket_start(when, granularity)
        totals = buckets.get(bucket)
        if totals is None:
            totals = buckets[bucket] = {}
        if group_by == "source":
            for key, credits in (("base", day.base), ("rollover", day.rollover),
                                 ("purchased", day.purchased)):
                if credits:
                    totals[key] = totals.get(key, 0) + credits
        else:
            source = day.by_member if group_by == "member" else day.by_campaign
            for code, credits in source.items():
                key = names[code]
                totals[key] = totals.get(key, 0) + credits
    folded = 0
    if top is not None and group_by != "source":
        buckets, folded = _fold_to_top(buckets, top)
    order = SOURCES.index if group_by == "source" else _other_last
    points = []
    for bucket in sorted(buckets):
        totals = buckets[bucket]
        for key in sorted(totals, key=order):
            points.append(UsagePoint(start=bucket, key=key, credits=totals[key]))
    return UsageSeries(account_id=account.id, start=start, end=end, granularity=granularity,
                       group_by=group_by, points=points, folded=folded)


def _other_last(key: str) -> tuple[bool, str]:
    return key == OTHER_KEY, key


def _fold_to_top(buckets: dict[datetime, dict[str, int]],
                 top: int) -> tuple[dict[datetime, dict[str, int]], int]:
    totals: dict[str, int] = {}
    for keyed in buckets.values():
        for key, credits in keyed.items():
            totals[key] = totals.get(key, 0) + credits
    if len(totals) <= top:
        return buckets, 0
    kept = set(sorted(totals, key=lambda key: (-totals[key], key))[:top])
    folded_buckets = {}
    for bucket, keyed in buckets.items():
        out = {key: credits for key, credits in keyed.items() if key in kept}
        rest = sum(credits for key, credits in keyed.items() if key not in kept)
        if rest:
            out[OTHER_KEY] = rest
        folded_buckets[bucket] = out
    return folded_buckets, len(totals) - top
