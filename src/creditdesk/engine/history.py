"""Usage history from the per-day roll-ups: cost depends on the range, never on history size."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import rules
from ..errors import InvalidRequest
from ..models import MAX_TOP, OTHER_KEY, UsagePoint, UsageSeries
from ..store.ledger import DAY_US, EPOCH, Names, to_micros

if TYPE_CHECKING:
    from ..store.state import Account

GRANULARITIES = ("day", "week", "month")
GROUPS = ("source", "member", "campaign")
SOURCES = ("base", "rollover", "purchased")
MAX_RANGE_DAYS = 3_700   # ten years of days: more is a mistake, and would be slow


def usage_series(names: Names, account: Account, start: datetime, end: datetime,
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
    names = names.names
    if top is not None and group_by != "source":
        return _top_series(account, start, end, granularity, group_by, top, first_day,
                           last_day, names)
    buckets: dict[datetime, dict[str, int]] = {}
    # By source only the days' buckets are needed: a database then leaves the member and
    # campaign rows (all but a few of a day's rows) where they are.
    only = ("by_member", []) if group_by == "source" else None
    for day_index, day in account.days.between(first_day, last_day, only=only):
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
    order = SOURCES.index if group_by == "source" else None
    points = []
    for bucket in sorted(buckets):
        totals = buckets[bucket]
        for key in sorted(totals, key=order):
            points.append(UsagePoint(start=bucket, key=key, credits=totals[key]))
    return UsageSeries(account_id=account.id, start=start, end=end, granularity=granularity,
                       group_by=group_by, points=points)


def _top_series(account: Account, start: datetime, end: datetime, granularity: str,
                group_by: str, top: int, first_day: int, last_day: int,
                names: list[str]) -> UsageSeries:
    """The `top` keys with the most credits in the range, the rest summed as OTHER_KEY.

    One pass ranks keys by their integer codes; then each day needs only `top` look-ups,
    because a day's keys add up to its total (every debit is counted in both), so "other"
    is the day's total less the named keys. A 10,000-member year never becomes strings.
    """
    attribute = "by_member" if group_by == "member" else "by_campaign"
    # Ranked by the store (a database sums it where the rows are), then only the kept
    # keys' days are fetched.
    totals = account.days.key_totals(first_day, last_day, attribute)
    kept = sorted(totals, key=lambda code: (-totals[code], names[code]))[:top]
    kept_names = sorted((names[code], code) for code in kept)
    days = account.days.between(first_day, last_day, only=(attribute, kept))
    buckets: dict[datetime, dict[str, int]] = {}
    for index, day in days:
        bucket = rules.bucket_start(EPOCH + timedelta(days=index), granularity)
        keyed = buckets.setdefault(bucket, {})
        by_key = getattr(day, attribute)
        named = 0
        for name, code in kept_names:
            credits = by_key.get(code)
            if credits:
                keyed[name] = keyed.get(name, 0) + credits
                named += credits
        other = day.base + day.rollover + day.purchased - named
        if other:
            keyed[OTHER_KEY] = keyed.get(OTHER_KEY, 0) + other
    points = []
    for bucket in sorted(buckets):
        keyed = buckets[bucket]
        for name, _ in kept_names:
            if name in keyed:
                points.append(UsagePoint(start=bucket, key=name, credits=keyed[name]))
        if OTHER_KEY in keyed:
            points.append(UsagePoint(start=bucket, key=OTHER_KEY, credits=keyed[OTHER_KEY]))
    return UsageSeries(account_id=account.id, start=start, end=end, granularity=granularity,
                       group_by=group_by, points=points, folded=max(0, len(totals) - top))
