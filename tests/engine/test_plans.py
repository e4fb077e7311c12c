"""Subscriptions: past due on a declined payment, and plan changes pending until a close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditdesk.errors import InvalidRequest, PermissionDenied


def at(y: int, m: int, d: int, hh: int = 0) -> datetime:
    return datetime(y, m, d, hh, tzinfo=UTC)


def subscription_bills(session, account="acme"):
    return [i for i in session.invoices(account) if i.kind == "subscription"]


def test_a_declined_subscription_payment_makes_the_account_past_due(world):
    ann = world.session("ann")
    assert ann.subscription("acme").status == "active"
    world.payments.decline("acme", True)
    boundary = ann.balance("acme").period_end
    world.clock.set(boundary)
    subscription = ann.subscription("acme")
    assert subscription.status == "past_due"
    failed = subscription_bills(ann)[0]
    assert (failed.status, failed.created_at, failed.amount_cents) == ("failed", boundary,
                                                                       4_900)
    # No work stops over a card problem: the period's base credits are granted anyway.
    balance = ann.balance("acme")
    assert balance.base == 1_000
    assert balance.autopilot == "running"
    # Admins see the status too (they may view the plan).
    assert world.session("bob").subscription("acme").status == "past_due"


def test_the_next_successful_payment_clears_past_due(world):
    ann = world.session("ann")
    world.payments.decline("acme", True)
    world.clock.set(ann.balance("acme").period_end)
    assert ann.subscription("acme").status == "past_due"
    world.payments.decline("acme", False)
    boundary = ann.balance("acme").period_end
    world.clock.set(boundary)
    assert ann.subscription("acme").status == "active"
    assert subscription_bills(ann)[0].status == "paid"
    assert subscription_bills(ann)[0].created_at == boundary


def test_a_payment_declined_at_plan_start_still_grants(make_world):
    world = make_world()
    world.payments.decline("beta", True)
    world.engine.create_org("beta", name="Beta", owner="dan", plan="team")
    dan = world.session("dan")
    assert dan.subscription("beta").status == "past_due"
    assert dan.balance("beta").base == 1_000
    assert [i.status for i in subscription_bills(dan, "beta")] == ["failed"]


def test_a_plan_change_is_pending_until_the_next_close(world, keys):
    ann = world.session("ann")
    world.session("cat").record_usage("acme", 600, campaign="c", idempotency_key=keys())
    boundary = ann.balance("acme").period_end
    changed = ann.change_plan("acme", "starter")
    assert changed.plan.id == "team"
    assert changed.pending_plan is not None and changed.pending_plan.id == "starter"
    assert changed.pending_from == boundary
    assert ann.subscription("acme") == changed
    world.clock.set(boundary - timedelta(seconds=1))
    assert ann.subscription("acme").plan.id == "team"
    assert ann.balance("acme").base == 400
    world.clock.set(boundary)
    after = ann.subscription("acme")
    assert after.plan.id == "starter"
    assert after.pending_plan is None and after.pending_from is None
    # At that close the new plan's cap (0) and allowance (300) apply.
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover) == (300, 0)
    bill = subscription_bills(ann)[0]
    assert (bill.created_at, bill.amount_cents) == (boundary, 900)


def test_the_new_cap_applies_at_the_close_of_the_change(world, keys):
    ann = world.session("ann")
    world.clock.set(ann.balance("acme").period_end)          # rollover 500 (team cap)
    ann.change_plan("acme", "pro")
    boundary = ann.balance("acme").period_end
    world.clock.set(boundary)
    balance = ann.balance("acme")
    # carry 1,500 under the pro cap of 2,000: nothing forfeited, 5,000 granted.
    assert (balance.base, balance.rollover) == (5_000, 1_500)
    assert not [e for e in world.engine.ledger_entries("acme")
                if e.kind == "forfeit" and e.at == boundary]


def test_a_new_annual_plan_starts_its_paid_year_at_that_close(make_world):
    world = make_world(at(2026, 1, 10, 8))
    ann = world.session("ann")
    world.clock.set(at(2026, 3, 1))
    ann.change_plan("acme", "pro")
    assert ann.subscription("acme").pending_from == at(2026, 3, 10, 8)
    world.clock.set(at(2027, 3, 20))
    bills = subscription_bills(ann)
    pro = [i.created_at for i in bills if i.amount_cents == 99_000]
    team = [i.created_at for i in bills if i.amount_cents == 4_900]
    assert pro == [at(2027, 3, 10, 8), at(2026, 3, 10, 8)]
    assert team == [at(2026, 2, 10, 8), at(2026, 1, 10, 8)]
    assert ann.subscription("acme").renews_at == at(2028, 3, 10, 8)


def test_an_annual_plan_changes_at_the_end_of_the_paid_year(make_world):
    start = at(2026, 1, 31, 12)
    world = make_world(start, org_plan="pro")
    ann = world.session("ann")
    world.clock.set(at(2026, 4, 15))
    changed = ann.change_plan("acme", "team")
    assert changed.pending_plan.id == "team"
    assert changed.pending_from == at(2027, 1, 31, 12)
    world.clock.set(at(2027, 1, 31, 11))
    assert ann.subscription("acme").plan.id == "pro"
    assert ann.balance("acme").base == 5_000
    world.clock.set(at(2027, 1, 31, 12))
    assert ann.subscription("acme").plan.id == "team"
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover) == (1_000, 500)
    assert subscription_bills(ann)[0].amount_cents == 4_900
    world.clock.set(at(2027, 2, 28, 12))
    assert subscription_bills(ann)[0].created_at == at(2027, 2, 28, 12)


def test_a_pending_change_can_be_cancelled(world):
    ann = world.session("ann")
    ann.change_plan("acme", "starter")
    cancelled = ann.cancel_plan_change("acme")
    assert cancelled.pending_plan is None and cancelled.pending_from is None
    world.clock.set(cancelled.period_end)
    assert ann.subscription("acme").plan.id == "team"
    assert ann.balance("acme").base == 1_000


@pytest.mark.parametrize("user", ["bob", "cat"])
def test_only_owners_change_plans(world, user):
    session = world.session(user)
    mutations = world.engine.mutations
    with pytest.raises(PermissionDenied) as refused:
        session.change_plan("acme", "starter")
    assert refused.value.required_role == "owner"
    with pytest.raises(PermissionDenied):
        session.cancel_plan_change("acme")
    assert world.engine.mutations == mutations
    assert world.session("ann").subscription("acme").pending_plan is None


@pytest.mark.parametrize("plan_id", ["nope", "", "TEAM"])
def test_changing_to_an_unknown_plan_is_refused(world, plan_id):
    mutations = world.engine.mutations
    with pytest.raises(InvalidRequest) as refused:
        world.session("ann").change_plan("acme", plan_id)
    assert refused.value.field == "plan_id"
    assert world.engine.mutations == mutations


def test_plans_lists_every_plan(world):
    assert {p.id for p in world.session("dan").plans()} == {"team", "starter", "pro"}
    assert all(p in world.plans.values() for p in world.session("cat").plans())
