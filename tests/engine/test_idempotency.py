"""Idempotency keys: a replay returns the first result; refusals are not remembered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditdesk.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    MemberLimitReached,
    PaymentDeclined,
)


def test_a_repeated_debit_returns_the_first_receipt_and_changes_nothing(world):
    cat = world.session("cat")
    first = cat.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    engine = world.engine
    mutations = engine.mutations
    entries = engine.ledger_entries("acme")
    again = cat.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    assert again == first
    assert engine.mutations == mutations
    assert engine.ledger_entries("acme") == entries
    assert world.session("ann").balance("acme").total == 700


def test_a_replay_later_still_returns_the_first_result(world):
    bob = world.session("bob")
    first = bob.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    bob.record_usage("acme", 200, campaign="crawl", idempotency_key="job-2")
    world.clock.advance(timedelta(days=40))        # a period close in between
    world.session("ann").set_member_limit("acme", "bob", 0)
    balance = world.session("ann").balance("acme")
    again = bob.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    assert again == first
    assert world.session("ann").balance("acme") == balance


def test_a_repeated_purchase_returns_the_first_invoice(world):
    ann = world.session("ann")
    first = ann.purchase_credits("acme", 1_000, idempotency_key="buy-1")
    mutations = world.engine.mutations
    again = ann.purchase_credits("acme", 1_000, idempotency_key="buy-1")
    assert again == first
    assert world.engine.mutations == mutations
    assert ann.balance("acme").purchased == 1_000
    assert len([i for i in ann.invoices("acme") if i.kind == "purchase"]) == 1
    assert len([c for c in world.payments.charges if c[0] == "acme"]) == 2   # plan + buy


@pytest.mark.parametrize(("credits", "campaign"), [(301, "crawl"), (300, "other")])
def test_the_same_key_with_other_debit_parameters_is_a_conflict(world, credits, campaign):
    cat = world.session("cat")
    cat.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    mutations = world.engine.mutations
    with pytest.raises(IdempotencyConflict) as refused:
        cat.record_usage("acme", credits, campaign=campaign, idempotency_key="job-1")
    assert refused.value.code == "idempotency_conflict"
    assert world.engine.mutations == mutations
    assert world.session("ann").balance("acme").total == 700


def test_the_same_key_with_another_purchase_amount_is_a_conflict(world):
    ann = world.session("ann")
    ann.purchase_credits("acme", 1_000, idempotency_key="buy-1")
    mutations = world.engine.mutations
    with pytest.raises(IdempotencyConflict):
        ann.purchase_credits("acme", 1_200, idempotency_key="buy-1")
    assert world.engine.mutations == mutations
    assert ann.balance("acme").purchased == 1_000


def test_a_debit_refused_for_credits_is_not_remembered(world):
    ann = world.session("ann")
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 1_500, campaign="big", idempotency_key="job-1")
    ann.purchase_credits("acme", 600, idempotency_key="buy-1")
    receipt = ann.record_usage("acme", 1_500, campaign="big", idempotency_key="job-1")
    assert (receipt.from_base, receipt.from_purchased) == (1_000, 500)


def test_a_refused_key_may_be_reused_with_other_parameters(world):
    ann = world.session("ann")
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 1_500, campaign="big", idempotency_key="job-1")
    receipt = ann.record_usage("acme", 10, campaign="small", idempotency_key="job-1")
    assert receipt.credits == 10


def test_a_debit_refused_by_a_limit_is_not_remembered(world):
    ann = world.session("ann")
    ann.set_member_limit("acme", "cat", 50)
    with pytest.raises(MemberLimitReached):
        world.session("cat").record_usage("acme", 80, campaign="c", idempotency_key="job-1")
    ann.set_member_limit("acme", "cat", 100)
    receipt = world.session("cat").record_usage("acme", 80, campaign="c",
                                                idempotency_key="job-1")
    assert receipt.member_used_this_period == 80


def test_a_declined_purchase_is_not_remembered(world):
    ann = world.session("ann")
    world.payments.decline("acme", True)
    with pytest.raises(PaymentDeclined):
        ann.purchase_credits("acme", 400, idempotency_key="buy-1")
    world.payments.decline("acme", False)
    invoice = ann.purchase_credits("acme", 400, idempotency_key="buy-1")
    assert invoice.status == "paid"
    assert ann.balance("acme").purchased == 400


def test_keys_are_scoped_to_the_account(world):
    ann = world.session("ann")
    ann.record_usage("acme", 100, campaign="c", idempotency_key="same")
    ann.record_usage(world.personal["ann"], 100, campaign="c", idempotency_key="same")
    assert ann.balance("acme").total == 900
    assert ann.balance(world.personal["ann"]).total == 200
    ann.purchase_credits("acme", 200, idempotency_key="buy")
    ann.purchase_credits(world.personal["ann"], 400, idempotency_key="buy")
    assert ann.balance("acme").purchased == 200
    assert ann.balance(world.personal["ann"]).purchased == 400


def test_a_key_is_applied_at_most_once_in_the_ledger(world):
    cat = world.session("cat")
    for _ in range(3):
        cat.record_usage("acme", 10, campaign="c", idempotency_key="job-1")
    usage = [e for e in world.engine.ledger_entries("acme") if e.kind == "usage"]
    assert [e.idempotency_key for e in usage] == ["job-1"]


def test_a_replay_returns_the_first_receipt_while_autopilot_is_paused(world):
    # Autopilot paused by a refused debit, then a debit that goes through: its replay must
    # answer with that very receipt, pause reason included.
    ann = world.session("ann")
    ann.record_usage("acme", 1, campaign="c", idempotency_key="job-1")
    with pytest.raises(InsufficientCredits):
        world.session("bob").record_usage("acme", 1_000, campaign="c", idempotency_key="big")
    first = ann.record_usage("acme", 1, campaign="c", idempotency_key="job-2")
    assert first.balance.autopilot == "paused"
    again = ann.record_usage("acme", 1, campaign="c", idempotency_key="job-2")
    assert again == first
