"""Audit (session 6) of spec/billing-rules.md: rules that the other suites asserted only for
some of the ways they can happen. Each test quotes the rule it checks; each runs on the
memory store and on SQLite, as the engine suites do (the debit-key test also over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from creditdesk.errors import IdempotencyConflict, PaymentDeclined
from creditdesk.models import Plan
from tests.contract.conftest import backend_for, backend_kind  # noqa: F401 - fixtures
from tests.store.stores import store_factory  # noqa: F401 - every engine store

EMPTY = Plan(id="empty", name="Empty", base_credits_per_month=0, rollover_cap=0,
             billing_period="monthly", price_cents=0)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- "Credit periods are monthly, anchored at the moment its plan started (same day of month,
# same time of day, UTC), whatever the plan's billing period" ---------------------------------

def test_a_plan_started_at_another_offset_is_anchored_in_utc(make_world):
    """30 Jan 23:00 at UTC-5 is 31 Jan 04:00 UTC: the next period starts on 28 Feb at 04:00
    UTC (the 31st clamped), not on 28 Feb at 23:00 UTC-5 (which is 1 March in UTC)."""
    world = make_world(datetime(2026, 1, 30, 23, 0, tzinfo=timezone(timedelta(hours=-5))))
    ann = world.session("ann")
    first = ann.balance("acme")
    assert (first.period_start, first.period_end) == (at(2026, 1, 31, 4), at(2026, 2, 28, 4))
    world.clock.set(at(2026, 3, 31, 4))
    now = ann.balance("acme")
    assert (now.period_start, now.period_end) == (at(2026, 3, 31, 4), at(2026, 4, 30, 4))
    grants = [e.at for e in world.engine.ledger_entries("acme") if e.kind == "grant"]
    assert grants == [at(2026, 1, 31, 4), at(2026, 2, 28, 4), at(2026, 3, 31, 4)]


def test_an_annual_plan_anchored_on_the_31st_grants_on_each_months_last_day(make_world):
    world = make_world(at(2024, 1, 31, 12), org_plan="pro")
    ann = world.session("ann")
    world.clock.set(at(2024, 5, 1))
    grants = [e.at for e in world.engine.ledger_entries("acme") if e.kind == "grant"]
    assert grants == [at(2024, 1, 31, 12), at(2024, 2, 29, 12), at(2024, 3, 31, 12),
                      at(2024, 4, 30, 12)]
    assert ann.balance("acme").period_end == at(2024, 5, 31, 12)
    # Granted monthly, invoiced once for the year.
    assert [i.kind for i in ann.invoices("acme")] == ["subscription"]


# --- "If the account balance reaches 0, autopilot becomes `paused` as well" -- also when a
# period close is what empties it; `autopilot_paused` is always raised on running -> paused --

def test_a_close_that_leaves_nothing_pauses_autopilot(world):
    ann = world.session("ann")
    world.engine.add_plan(EMPTY)
    ann.change_plan("acme", "empty")         # at the close: no cap, no allowance
    close = ann.balance("acme").period_end
    world.advance(days=31)
    balance = ann.balance("acme")
    assert (balance.total, balance.autopilot) == (0, "paused")
    paused = [a for a in ann.alerts("acme") if a.kind == "autopilot_paused"]
    assert [(a.at, a.balance_after) for a in paused] == [(close, 0)]


# --- "Autopilot goes back to `running` as soon as credits are added (grant, purchase,
# recharge)": the purchase of a failed invoice the owner pays later adds them too ------------

def test_paying_a_failed_purchase_resumes_autopilot(world):
    ann = world.session("ann")
    world.session("cat").record_usage("acme", 1_000, campaign="c", idempotency_key="all")
    assert ann.balance("acme").autopilot == "paused"
    world.payments.decline("acme")
    with pytest.raises(PaymentDeclined):
        ann.purchase_credits("acme", 400, idempotency_key="buy")
    assert ann.balance("acme").autopilot == "paused"
    world.payments.decline("acme", False)
    [failed] = [i for i in ann.invoices("acme") if i.status == "failed"]
    ann.pay_invoice("acme", failed.id, idempotency_key="pay")
    balance = ann.balance("acme")
    assert (balance.purchased, balance.autopilot) == (400, "running")


# --- "The monthly cap counts what auto-recharge spent in the current credit period": a
# declined recharge spent nothing ------------------------------------------------------------

def test_a_declined_recharge_spends_nothing_of_the_cap(world):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=400,
                                monthly_cap_cents=400)
    world.payments.decline("acme")
    world.session("cat").record_usage("acme", 600, campaign="c", idempotency_key="k1")
    assert ann.auto_recharge("acme").spent_this_period_cents == 0
    # Switched back on, the whole cap ($4, two amounts) is still there: a debit of the whole
    # 400 left needs two amounts to stay at the threshold, and both are bought.
    world.payments.decline("acme", False)
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=400,
                                monthly_cap_cents=400)
    receipt = world.session("cat").record_usage("acme", 400, campaign="c", idempotency_key="k2")
    assert receipt.recharged == 800
    assert ann.auto_recharge("acme").spent_this_period_cents == 400


# --- Idempotency: "The operation and the acting user are parameters too: the same key with
# different parameters, from another user, or for another operation is refused as a
# conflict (so nobody reads another caller's answer through a key)" ---------------------------

async def test_a_key_is_the_callers_and_the_operations(world, backend_for):
    cat, bob, ann = backend_for("cat"), backend_for("bob"), backend_for("ann")
    first = await cat.record_usage("acme", 10, campaign="c", idempotency_key="shared")
    await ann.purchase_credits("acme", 200, idempotency_key="bought")
    entries = world.engine.ledger_entries("acme")
    attempts = (
        lambda: bob.record_usage("acme", 10, campaign="c", idempotency_key="shared"),
        lambda: ann.purchase_credits("acme", 200, idempotency_key="shared"),
        lambda: ann.record_usage("acme", 10, campaign="c", idempotency_key="bought"),
    )
    for attempt in attempts:
        with pytest.raises(IdempotencyConflict):
            await attempt()
    assert world.engine.ledger_entries("acme") == entries
    assert await cat.record_usage("acme", 10, campaign="c", idempotency_key="shared") == first
