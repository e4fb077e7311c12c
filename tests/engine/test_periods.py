"""Credit periods: anchoring, month-end clamping, closes by the clock, rollover, forfeits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(("anchor", "starts"), [
    (at(2027, 1, 31, 10, 30), [at(2027, 1, 31, 10, 30), at(2027, 2, 28, 10, 30),
                               at(2027, 3, 31, 10, 30), at(2027, 4, 30, 10, 30),
                               at(2027, 5, 31, 10, 30)]),
    (at(2028, 1, 31, 10, 30), [at(2028, 1, 31, 10, 30), at(2028, 2, 29, 10, 30),
                               at(2028, 3, 31, 10, 30), at(2028, 4, 30, 10, 30),
                               at(2028, 5, 31, 10, 30)]),
    (at(2026, 3, 30, 23, 59, 59), [at(2026, 3, 30, 23, 59, 59), at(2026, 4, 30, 23, 59, 59),
                                   at(2026, 5, 30, 23, 59, 59), at(2026, 6, 30, 23, 59, 59),
                                   at(2026, 7, 30, 23, 59, 59)]),
    (at(2026, 12, 31), [at(2026, 12, 31), at(2027, 1, 31), at(2027, 2, 28), at(2027, 3, 31),
                        at(2027, 4, 30)]),
])
def test_periods_are_anchored_at_plan_start_and_clamped(make_world, anchor, starts):
    world = make_world(anchor)
    ann = world.session("ann")
    for start, end in zip(starts, starts[1:]):
        if start > world.now():
            world.clock.set(start - SECOND)
            assert ann.balance("acme").period_end == start     # not yet: end is exclusive
            world.clock.set(start)
        balance = ann.balance("acme")
        assert (balance.period_start, balance.period_end) == (start, end)
        subscription = ann.subscription("acme")
        assert (subscription.period_start, subscription.period_end) == (start, end)
        # Personal accounts started at the same instant follow the same calendar.
        personal = world.session("dan").balance(world.personal["dan"])
        assert (personal.period_start, personal.period_end) == (start, end)


def test_each_account_is_anchored_at_its_own_plan_start(make_world):
    world = make_world(at(2026, 1, 15, 9))
    world.clock.set(at(2026, 1, 20, 17, 45))
    world.engine.create_org("beta", name="Beta", owner="dan", plan="team")
    world.clock.set(at(2026, 2, 16))
    dan = world.session("dan")
    assert dan.balance("beta").period_start == at(2026, 1, 20, 17, 45)
    assert dan.balance("beta").period_end == at(2026, 2, 20, 17, 45)
    assert world.session("ann").balance("acme").period_start == at(2026, 2, 15, 9)


def test_the_first_grant_is_a_grant_entry(world):
    entries = world.engine.ledger_entries("acme")
    first = entries[0]
    assert first.kind == "grant"
    assert (first.base, first.rollover, first.purchased) == (1_000, 0, 0)
    assert first.at == world.now()
    assert first.balance_after == 1_000
    personal = world.engine.ledger_entries(world.personal["dan"])[0]
    assert (personal.kind, personal.base) == ("grant", 300)


def test_periods_close_by_the_clock_alone_each_at_its_boundary(world, keys):
    start = world.now()
    world.session("cat").record_usage("acme", 100, campaign="c", idempotency_key=keys())
    engine = world.engine
    mutations = engine.mutations
    read_at = start + timedelta(days=95)        # three boundaries passed, nobody called
    world.clock.set(read_at)
    assert engine.mutations == mutations
    balance = world.session("ann").balance("acme")
    assert engine.mutations > mutations          # the read closed the periods
    boundaries = [at(2026, 2, 15, 9), at(2026, 3, 15, 9), at(2026, 4, 15, 9)]
    assert (balance.base, balance.rollover, balance.purchased) == (1_000, 500, 0)
    assert balance.period_start == boundaries[-1]
    assert balance.used_this_period == 0

    entries = engine.ledger_entries("acme")
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert all(e.at != read_at for e in entries)
    grants = [e for e in entries if e.kind == "grant"]
    assert [g.at for g in grants] == [start, *boundaries]
    assert all((g.base, g.rollover, g.purchased) == (1_000, 0, 0) for g in grants)
    forfeited = {b: -sum(e.base + e.rollover + e.purchased for e in entries
                         if e.kind == "forfeit" and e.at == b) for b in boundaries}
    # 900 unused -> 500 kept, 400 lost; then 1,500 unused -> 500 kept, 1,000 lost each time.
    assert forfeited == {boundaries[0]: 400, boundaries[1]: 1_000, boundaries[2]: 1_000}
    for boundary in boundaries:
        at_close = [e for e in entries if e.at == boundary]
        assert at_close and at_close[-1].kind == "grant"   # the new period's grant ends it
        assert at_close[-1].balance_after == 1_500

    invoices = world.session("ann").invoices("acme")
    subscription = [i for i in invoices if i.kind == "subscription"]
    assert [i.created_at for i in subscription] == [*reversed(boundaries), start]
    assert all(i.amount_cents == 4_900 and i.status == "paid" for i in subscription)


@pytest.mark.parametrize(("used", "rollover", "forfeited"), [
    (0, 500, 500),
    (200, 500, 300),
    (500, 500, 0),
    (700, 300, 0),        # the cap partly used
    (999, 1, 0),
    (1_000, 0, 0),
])
def test_rollover_is_capped_and_the_rest_forfeited(world, keys, used, rollover, forfeited):
    if used:
        world.session("cat").record_usage("acme", used, campaign="c", idempotency_key=keys())
    boundary = world.session("ann").balance("acme").period_end
    world.clock.set(boundary)
    balance = world.session("ann").balance("acme")
    assert (balance.base, balance.rollover) == (1_000, rollover)
    entries = world.engine.ledger_entries("acme")
    lost = -sum(e.base + e.rollover + e.purchased for e in entries
                if e.kind == "forfeit" and e.at == boundary)
    assert lost == forfeited
    assert all(e.base + e.rollover + e.purchased < 0 for e in entries if e.kind == "forfeit")


def test_rollover_is_capped_again_at_every_close(world, keys):
    ann = world.session("ann")
    for month in range(1, 5):
        world.clock.set(ann.balance("acme").period_end)
        balance = ann.balance("acme")
        assert (balance.base, balance.rollover) == (1_000, 500), month


def test_purchased_credits_never_expire(world, keys):
    ann = world.session("ann")
    ann.purchase_credits("acme", 2_000, idempotency_key=keys())
    world.clock.advance(timedelta(days=400))
    assert ann.balance("acme").purchased == 2_000


def test_rollover_is_spent_before_purchased_and_never_expires(world, keys):
    ann = world.session("ann")
    world.clock.set(ann.balance("acme").period_end)          # rollover 500
    ann.purchase_credits("acme", 400, idempotency_key=keys())
    ann.record_usage("acme", 1_300, campaign="c", idempotency_key=keys())
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover, balance.purchased) == (0, 200, 400)
    world.clock.set(balance.period_end)
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover, balance.purchased) == (1_000, 200, 400)


def test_a_plan_without_rollover_forfeits_everything(world, keys):
    dan = world.session("dan")
    account = world.personal["dan"]
    dan.record_usage(account, 100, campaign="c", idempotency_key=keys())
    world.clock.set(dan.balance(account).period_end)
    balance = dan.balance(account)
    assert (balance.base, balance.rollover) == (300, 0)


def test_member_usage_starts_again_at_each_close(world, keys):
    world.session("cat").record_usage("acme", 400, campaign="c", idempotency_key=keys())
    world.session("bob").record_usage("acme", 50, campaign="c", idempotency_key=keys())
    world.clock.set(world.session("ann").balance("acme").period_end)
    assert world.session("cat").my_usage("acme").used_this_period == 0
    assert all(m.used_this_period == 0 for m in world.session("ann").members("acme"))
    assert world.session("ann").balance("acme").used_this_period == 0


def test_annual_plans_grant_monthly_and_invoice_yearly(make_world):
    start = at(2026, 1, 31, 12)
    world = make_world(start, org_plan="pro")
    ann = world.session("ann")
    subscription = ann.subscription("acme")
    assert subscription.plan.id == "pro"
    assert subscription.renews_at == at(2027, 1, 31, 12)
    assert subscription.period_end == at(2026, 2, 28, 12)       # credit periods are monthly
    world.clock.set(at(2027, 2, 28, 12, 0, 1))                  # 13 closes later
    entries = world.engine.ledger_entries("acme")
    grants = [e for e in entries if e.kind == "grant"]
    assert len(grants) == 14
    assert all(g.base == 5_000 for g in grants)
    bills = [i for i in ann.invoices("acme") if i.kind == "subscription"]
    assert [i.created_at for i in bills] == [at(2027, 1, 31, 12), start]
    assert all(i.amount_cents == 99_000 for i in bills)
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover) == (5_000, 2_000)    # monthly cap of 2,000
    assert ann.subscription("acme").renews_at == at(2028, 1, 31, 12)
