"""Usage tracking: history per UTC day / Monday week / month, by source, member or campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def at(m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(2026, m, d, hh, mm, tzinfo=UTC)


# (when, user, credits, campaign). The org starts Monday 2 March 08:00 with 1,000 base, and ann
# buys 1,000 at once; the period closes on 2 April 08:00 (nothing left to roll over).
DEBITS = [
    (at(3, 2, 10), "cat", 100, "alpha"),
    (at(3, 8, 23, 59), "bob", 50, "beta"),       # Sunday: still the week of 2 March
    (at(3, 9, 0, 0), "cat", 30, "alpha"),        # Monday 00:00: a new week
    (at(3, 10, 12), "cat", 900, "alpha"),        # 820 base + 80 purchased
    (at(3, 31, 23, 59), "ann", 20, "beta"),
    (at(4, 1, 0, 30), "cat", 5, "gamma"),        # Wednesday: the week of 30 March
    (at(4, 6, 9), "bob", 10, "beta"),            # new period: base again
]

EXPECTED = {
    ("day", "source"): {
        (at(3, 2), "base"): 100, (at(3, 8), "base"): 50, (at(3, 9), "base"): 30,
        (at(3, 10), "base"): 820, (at(3, 10), "purchased"): 80,
        (at(3, 31), "purchased"): 20, (at(4, 1), "purchased"): 5, (at(4, 6), "base"): 10,
    },
    ("week", "source"): {
        (at(3, 2), "base"): 150, (at(3, 9), "base"): 850, (at(3, 9), "purchased"): 80,
        (at(3, 30), "purchased"): 25, (at(4, 6), "base"): 10,
    },
    ("month", "source"): {
        (at(3, 1), "base"): 1_000, (at(3, 1), "purchased"): 100,
        (at(4, 1), "base"): 10, (at(4, 1), "purchased"): 5,
    },
    ("week", "member"): {
        (at(3, 2), "cat"): 100, (at(3, 2), "bob"): 50, (at(3, 9), "cat"): 930,
        (at(3, 30), "ann"): 20, (at(3, 30), "cat"): 5, (at(4, 6), "bob"): 10,
    },
    ("month", "campaign"): {
        (at(3, 1), "alpha"): 1_030, (at(3, 1), "beta"): 70,
        (at(4, 1), "gamma"): 5, (at(4, 1), "beta"): 10,
    },
    ("day", "member"): {
        (at(3, 2), "cat"): 100, (at(3, 8), "bob"): 50, (at(3, 9), "cat"): 30,
        (at(3, 10), "cat"): 900, (at(3, 31), "ann"): 20, (at(4, 1), "cat"): 5,
        (at(4, 6), "bob"): 10,
    },
}


@pytest.fixture
def history_world(make_world):
    world = make_world(at(3, 2, 8))
    world.session("ann").purchase_credits("acme", 1_000, idempotency_key="buy")
    for n, (when, user, credits, campaign) in enumerate(DEBITS):
        world.clock.set(when)
        world.session(user).record_usage("acme", credits, campaign=campaign,
                                         idempotency_key=f"d{n}")
    return world


@pytest.mark.parametrize(("granularity", "group_by"), sorted(EXPECTED))
def test_usage_history_buckets(history_world, granularity, group_by):
    series = history_world.session("bob").usage_history(
        "acme", start=at(3, 1), end=at(5, 1), granularity=granularity, group_by=group_by)
    assert (series.account_id, series.granularity, series.group_by) == ("acme", granularity,
                                                                        group_by)
    points = {(p.start, p.key): p.credits for p in series.points if p.credits}
    assert points == EXPECTED[(granularity, group_by)]
    starts = [p.start for p in series.points]
    assert starts == sorted(starts)                  # oldest first
    assert all(p.start.utcoffset().total_seconds() == 0 for p in series.points)


def test_usage_history_covers_only_the_range(history_world):
    series = history_world.session("ann").usage_history(
        "acme", start=at(3, 9), end=at(3, 10), granularity="day", group_by="source")
    assert {(p.start, p.key): p.credits for p in series.points if p.credits} == {
        (at(3, 9), "base"): 30}


def test_rollover_shows_as_its_own_source(world):
    ann = world.session("ann")
    world.clock.set(ann.balance("acme").period_end)           # rollover 500
    day = world.now()
    world.session("cat").record_usage("acme", 1_200, campaign="c", idempotency_key="k")
    series = ann.usage_history("acme", start=day, end=day + timedelta(days=1),
                               granularity="day", group_by="source")
    assert {p.key: p.credits for p in series.points if p.credits} == {
        "base": 1_000, "rollover": 200}


def test_history_totals_match_the_ledger(history_world):
    series = history_world.session("ann").usage_history(
        "acme", start=at(1, 1), end=at(6, 1), granularity="month", group_by="campaign")
    used = -sum(e.base + e.rollover + e.purchased
                for e in history_world.engine.ledger_entries("acme") if e.kind == "usage")
    assert sum(p.credits for p in series.points) == used == sum(d[2] for d in DEBITS)


def test_per_member_usage_and_share_of_the_period(history_world):
    ann = history_world.session("ann")
    history_world.clock.set(at(4, 10))
    history_world.session("cat").record_usage("acme", 30, campaign="x", idempotency_key="x")
    members = {m.user_id: m for m in ann.members("acme")}
    period_used = ann.balance("acme").used_this_period
    assert period_used == 40                  # 2 April close: bob's 10, then cat's 30
    assert {u: m.used_this_period for u, m in members.items()} == {"ann": 0, "bob": 10,
                                                                   "cat": 30}
    assert sum(m.used_this_period for m in members.values()) == period_used
    shares = {u: m.used_this_period / period_used for u, m in members.items()}
    assert shares == {"ann": 0.0, "bob": 0.25, "cat": 0.75}
    assert history_world.session("cat").my_usage("acme").used_this_period == 30


@pytest.fixture(scope="module")
def demo_world():
    from creditdesk.demo import build_demo

    return build_demo(now=datetime(2026, 11, 15, tzinfo=UTC), seed=11, members=30, months=4)


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
@pytest.mark.parametrize("group_by", ["member", "campaign"])
@pytest.mark.parametrize("top", [1, 3, 7, 1000])
def test_top_equals_folding_the_whole_answer(demo_world, granularity, group_by, top):
    # `top` takes a short cut (a day's keys add up to its total); it must give exactly
    # what folding the full answer by hand gives: the biggest keys in the range (ties by
    # key), every other key summed per bucket under OTHER_KEY, and how many were folded.
    from creditdesk.models import OTHER_KEY

    session = demo_world.engine.session(demo_world.owner)
    start = datetime(2026, 8, 20, 13, tzinfo=UTC)
    end = datetime(2026, 11, 15, tzinfo=UTC)
    whole = session.usage_history(demo_world.org_id, start=start, end=end,
                                  granularity=granularity, group_by=group_by)
    totals: dict[str, int] = {}
    for point in whole.points:
        totals[point.key] = totals.get(point.key, 0) + point.credits
    kept = set(sorted(totals, key=lambda key: (-totals[key], key))[:top])
    expected: dict[tuple[datetime, str], int] = {}
    for point in whole.points:
        key = point.key if point.key in kept else OTHER_KEY
        expected[point.start, key] = expected.get((point.start, key), 0) + point.credits
    folded = session.usage_history(demo_world.org_id, start=start, end=end,
                                   granularity=granularity, group_by=group_by, top=top)
    assert {(p.start, p.key): p.credits for p in folded.points} == expected
    assert folded.folded == max(0, len(totals) - top)
    assert [p.start for p in folded.points] == sorted(p.start for p in folded.points)
    assert len(totals) > 7      # the world has enough keys for the small tops to fold
