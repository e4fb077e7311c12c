"""Usage debits: deduction order, all-or-nothing, autopilot, and context isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditdesk.errors import InsufficientCredits
from creditdesk.models import MAX_CREDITS


def buckets(balance) -> tuple[int, int, int]:
    return balance.base, balance.rollover, balance.purchased


# stocked: base 1,000, rollover 500, purchased 400.
@pytest.mark.parametrize(("credits", "split"), [
    (1, (1, 0, 0)),
    (300, (300, 0, 0)),
    (1_000, (1_000, 0, 0)),
    (1_001, (1_000, 1, 0)),
    (1_500, (1_000, 500, 0)),
    (1_501, (1_000, 500, 1)),
    (1_900, (1_000, 500, 400)),
])
@pytest.mark.parametrize("user", ["ann", "bob", "cat"])
def test_debit_takes_base_then_rollover_then_purchased(stocked, keys, user, credits, split):
    receipt = stocked.session(user).record_usage("acme", credits, campaign="crawl",
                                                 idempotency_key=keys())
    assert (receipt.from_base, receipt.from_rollover, receipt.from_purchased) == split
    assert receipt.credits == credits and receipt.campaign == "crawl"
    assert receipt.recharged == 0
    assert receipt.member_used_this_period == credits
    after = stocked.session("ann").balance("acme")
    assert buckets(after) == (1_000 - split[0], 500 - split[1], 400 - split[2])
    assert after.total == 1_900 - credits
    assert after.used_this_period == credits


def test_receipt_shows_the_balance_only_to_those_who_may_view_it(stocked, keys):
    admin = stocked.session("bob").record_usage("acme", 10, campaign="c",
                                                idempotency_key=keys())
    assert admin.balance == stocked.session("ann").balance("acme")
    member = stocked.session("cat").record_usage("acme", 10, campaign="c",
                                                 idempotency_key=keys())
    assert member.balance is None


@pytest.mark.parametrize("credits", [1_901, 2_000, 10**9, MAX_CREDITS])
def test_a_debit_the_balance_cannot_cover_changes_no_bucket(stocked, keys, credits):
    engine = stocked.engine
    before = stocked.session("ann").balance("acme")
    entries = len(engine.ledger_entries("acme"))
    with pytest.raises(InsufficientCredits) as refused:
        stocked.session("cat").record_usage("acme", credits, campaign="big",
                                            idempotency_key=keys())
    assert refused.value.code == "insufficient_credits"
    assert "insufficient credits" in str(refused.value).lower()
    after = stocked.session("ann").balance("acme")
    assert buckets(after) == buckets(before)
    assert after.used_this_period == before.used_this_period
    assert len(engine.ledger_entries("acme")) == entries
    assert stocked.session("cat").my_usage("acme").used_this_period == 0


def test_a_refused_debit_pauses_autopilot_and_a_purchase_resumes_it(stocked, keys):
    ann = stocked.session("ann")
    assert ann.balance("acme").autopilot == "running"
    assert ann.balance("acme").autopilot_reason is None
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 5_000, campaign="big", idempotency_key=keys())
    paused = ann.balance("acme")
    assert paused.autopilot == "paused"
    assert paused.autopilot_reason
    ann.purchase_credits("acme", 200, idempotency_key=keys())
    resumed = ann.balance("acme")
    assert resumed.autopilot == "running"
    assert resumed.autopilot_reason is None


def test_reaching_zero_pauses_autopilot(stocked, keys):
    ann = stocked.session("ann")
    ann.record_usage("acme", 1_899, campaign="c", idempotency_key=keys())
    assert ann.balance("acme").autopilot == "running"
    ann.record_usage("acme", 1, campaign="c", idempotency_key=keys())
    zero = ann.balance("acme")
    assert zero.total == 0
    assert zero.autopilot == "paused"
    assert zero.autopilot_reason


def test_a_period_grant_resumes_autopilot(stocked, keys):
    ann = stocked.session("ann")
    ann.record_usage("acme", 1_900, campaign="c", idempotency_key=keys())
    assert ann.balance("acme").autopilot == "paused"
    stocked.clock.set(ann.balance("acme").period_end)
    granted = ann.balance("acme")
    assert granted.base == 1_000
    assert granted.autopilot == "running"


def test_an_auto_recharge_resumes_autopilot(stocked, keys):
    ann = stocked.session("ann")
    ann.record_usage("acme", 1_900, campaign="c", idempotency_key=keys())
    assert ann.balance("acme").autopilot == "paused"
    ann.configure_auto_recharge("acme", enabled=True, threshold=200, amount=400)
    receipt = ann.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    assert receipt.recharged == 400
    after = ann.balance("acme")
    assert after.purchased == 300
    assert after.autopilot == "running"


def test_a_purchase_while_refused_debit_stays_refused_does_not_loop(stocked, keys):
    # Credits added but still short: autopilot runs again only while the balance is above 0.
    ann = stocked.session("ann")
    ann.record_usage("acme", 1_900, campaign="c", idempotency_key=keys())
    ann.purchase_credits("acme", 200, idempotency_key=keys())
    assert ann.balance("acme").autopilot == "running"
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 201, campaign="c", idempotency_key=keys())
    assert ann.balance("acme").autopilot == "paused"
    assert ann.balance("acme").total == 200


def test_org_work_never_charges_the_personal_account(world, keys):
    ann = world.session("ann")
    personal = world.personal["ann"]
    before = ann.balance(personal)
    ann.record_usage("acme", 700, campaign="org-work", idempotency_key=keys())
    assert ann.balance(personal) == before
    assert ann.balance("acme").total == 300
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 301, campaign="org-work", idempotency_key=keys())
    # The org ran short: the personal account is not touched and keeps running.
    assert ann.balance(personal) == before


def test_personal_work_never_charges_the_org(world, keys):
    ann = world.session("ann")
    org_before = ann.balance("acme")
    ann.record_usage(world.personal["ann"], 250, campaign="mine", idempotency_key=keys())
    assert ann.balance(world.personal["ann"]).total == 50
    assert ann.balance("acme") == org_before


def test_purchased_credits_are_available_to_every_member_at_once(world, keys):
    world.session("cat").record_usage("acme", 1_000, campaign="c", idempotency_key=keys())
    world.session("ann").purchase_credits("acme", 600, idempotency_key=keys())
    receipt = world.session("cat").record_usage("acme", 600, campaign="c",
                                                idempotency_key=keys())
    assert receipt.from_purchased == 600


def test_debits_are_remembered_in_member_and_account_usage(world, keys):
    world.session("cat").record_usage("acme", 120, campaign="c", idempotency_key=keys())
    world.session("bob").record_usage("acme", 30, campaign="c", idempotency_key=keys())
    world.clock.advance(timedelta(hours=1))
    assert world.session("cat").my_usage("acme").used_this_period == 120
    assert world.session("bob").my_usage("acme").used_this_period == 30
    assert world.session("ann").balance("acme").used_this_period == 150
