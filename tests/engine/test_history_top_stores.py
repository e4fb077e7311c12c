"""usage_history gives the same answer on every store, with and without `top`.

The SQL store ranks the keys in the database (whole months from the month roll-ups, the
edges of the range from the day ones) and fetches only the kept keys' days; the memory
store folds its days. Ranges that start and end inside a month, on a month's first day,
and inside one month are all compared with the memory store's answer for the same books.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from creditdesk.engine import BillingEngine, ManualClock
from creditdesk.models import Plan
from creditdesk.store import MemoryStore

START = datetime(2026, 1, 20, 10, tzinfo=UTC)
USERS = [f"u{n}" for n in range(12)]
CAMPAIGNS = [f"c{n}" for n in range(6)]


def _books(store) -> BillingEngine:
    clock = ManualClock(START)
    engine = BillingEngine(clock=clock, store=store)
    engine.add_plan(Plan(id="p", name="P", base_credits_per_month=0, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    for user in USERS:
        engine.add_user(user, name=user, plan="p")
    engine.create_org("acme", name="Acme", owner=USERS[0], plan="p")
    for user in USERS[1:]:
        engine.add_member("acme", user)
    engine.session(USERS[0]).purchase_credits("acme", 1_000_000, idempotency_key="buy")
    rng = random.Random(5)
    for n in range(300):        # 300 debits over about 100 days: four calendar months
        clock.advance(timedelta(hours=8))
        user = USERS[min(int(rng.expovariate(0.4)), len(USERS) - 1)]
        engine.session(user).record_usage("acme", rng.randint(1, 90),
                                          campaign=rng.choice(CAMPAIGNS),
                                          idempotency_key=f"d{n}")
    return engine


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from creditdesk.store import SqlStore
    sql = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('top')}/books.db")
    sql.migrate()
    yield _books(MemoryStore()), _books(sql)
    sql.close()


RANGES = [
    (datetime(2026, 1, 20, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),     # to a 1st
    (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),      # whole months
    (datetime(2026, 1, 25, 13, tzinfo=UTC), datetime(2026, 4, 17, 5, tzinfo=UTC)),
    (datetime(2026, 2, 3, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC)),     # inside one
]


@pytest.mark.parametrize("start,end", RANGES)
@pytest.mark.parametrize("group_by", ["member", "campaign"])
@pytest.mark.parametrize("granularity", ["day", "month"])
@pytest.mark.parametrize("top", [1, 3, 50])
def test_top_is_the_same_on_both_stores(engines, start, end, group_by, granularity, top):
    memory, sql = (engine.session(USERS[0]).usage_history(
        "acme", start=start, end=end, granularity=granularity, group_by=group_by, top=top)
        for engine in engines)
    assert sql == memory
    assert memory.points        # the range holds usage


@pytest.mark.parametrize("start,end", RANGES)
@pytest.mark.parametrize("group_by", ["source", "member", "campaign"])
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_whole_answers_are_the_same_on_both_stores(engines, start, end, group_by,
                                                   granularity):
    # By source the SQL store fetches only the days' bucket rows.
    memory, sql = (engine.session(USERS[0]).usage_history(
        "acme", start=start, end=end, granularity=granularity, group_by=group_by)
        for engine in engines)
    assert sql == memory
    assert memory.points
