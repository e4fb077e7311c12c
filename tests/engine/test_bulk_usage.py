"""Debits in bulk (engine/bulk_usage.py, what the demo builds its history with) leave the
same books as the same debits through `record_usage` one by one: the rules are the same
code (BillingSession.debit_under_lock), only the receipts are not built."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditdesk.engine.bulk_usage import record_usage_in_bulk
from creditdesk.errors import IdempotencyConflict, InsufficientCredits, MemberLimitReached
from tests.support.demo_reference import books

# (hours after the start, who, credits, campaign, key): limits, a recharge and its cap,
# refusals for credits and for a limit, a replay, and two period closes on the way.
DEBITS = [
    (0, "cat", 150, "alpha", "k1"),
    (1, "bob", 600, "beta", "k2"),
    (2, "cat", 100, "alpha", "k3"),         # over cat's limit of 200: refused
    (3, "ann", 300, "alpha", "k4"),         # past the threshold: a recharge
    (4, "bob", 150, "beta", "k2b"),
    (5, "cat", 150, "alpha", "k1"),         # a replay of k1: nothing changes
    (24 * 31, "bob", 900, "gamma", "k5"),   # after the close
    (24 * 32, "ann", 2_500, "gamma", "k6"), # more than there is, the cap spent: refused
    (24 * 62, "cat", 180, "alpha", "k7"),   # a new period: cat's limit is free again
]


@pytest.fixture
def store_factory():
    from creditdesk.store import MemoryStore
    return MemoryStore


def set_up(world) -> None:
    owner = world.session("ann")
    owner.set_member_limit(world.org, "cat", 200)
    owner.configure_auto_recharge(world.org, enabled=True, threshold=400, amount=600,
                                  monthly_cap_cents=300)


def one_by_one(world) -> list[str]:
    start, outcomes = world.now(), []
    for hours, who, credits, campaign, key in DEBITS:
        world.clock.set(start + timedelta(hours=hours))
        try:
            world.session(who).record_usage(world.org, credits, campaign=campaign,
                                            idempotency_key=key)
            outcomes.append("ok")
        except (InsufficientCredits, MemberLimitReached) as refusal:
            outcomes.append(type(refusal).__name__)
    return outcomes


def test_bulk_debits_leave_the_books_that_record_usage_leaves(make_world):
    single, bulk = make_world(), make_world()
    set_up(single)
    set_up(bulk)
    outcomes = one_by_one(single)
    assert outcomes.count("ok") == 7 and "MemberLimitReached" in outcomes
    assert "InsufficientCredits" in outcomes

    start = bulk.now()

    def debits():
        for hours, who, credits, campaign, key in DEBITS:
            bulk.clock.set(start + timedelta(hours=hours))
            yield bulk.session(who), credits, campaign, key

    assert record_usage_in_bulk(bulk.engine, bulk.org, debits()) == 2
    assert books(bulk.engine.store) == books(single.engine.store)
    assert books(bulk.payments) == books(single.payments)


def test_a_key_reused_for_other_credits_is_a_conflict_in_bulk_too(make_world):
    world = make_world()
    session = world.session("bob")
    with pytest.raises(IdempotencyConflict):
        record_usage_in_bulk(world.engine, world.org, [
            (session, 10, "alpha", "same"), (session, 20, "alpha", "same")])


def test_a_store_that_keeps_first_answers_is_told_to_use_record_usage(make_world, tmp_path):
    from creditdesk.engine import BillingEngine, ManualClock
    from creditdesk.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'books.sqlite3'}")
    try:
        store.migrate()
        engine = BillingEngine(clock=ManualClock(make_world().now()), store=store)
        with pytest.raises(ValueError, match="use record_usage"):
            record_usage_in_bulk(engine, "acme", [])
    finally:
        store.close()
