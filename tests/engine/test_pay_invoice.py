"""Paying a failed invoice, and past due (billing-rules.md), on every store.

acme is on the team plan ($49/month, 1,000 base a month); ann owns it, bob is an admin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditdesk.errors import (
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
)
from creditdesk.models import Plan


def failed_purchase(world, credits=1_000, key="buy-1"):
    """A purchase declined at the card: its failed invoice (the card then works again)."""
    ann = world.session("ann")
    world.payments.decline("acme")
    with pytest.raises(PaymentDeclined):
        ann.purchase_credits("acme", credits, idempotency_key=key)
    world.payments.decline("acme", False)
    return ann.invoices("acme")[0]


def failed_close(world):
    """Advance to the next close with the card declining: its failed subscription invoice."""
    world.payments.decline("acme")
    end = world.session("ann").balance("acme").period_end
    world.clock.advance(end - world.now())
    world.session("ann").balance("acme")      # periods close when next touched
    world.payments.decline("acme", False)
    return world.session("ann").invoices("acme")[0]


def status(world):
    return world.session("ann").subscription("acme").status


# --- each kind of invoice -----------------------------------------------------------------

def test_paying_a_failed_purchase_adds_its_credits_then(world):
    ann = world.session("ann")
    invoice = failed_purchase(world)
    assert invoice.status == "failed" and invoice.paid_at is None
    world.advance(hours=2)
    before = ann.balance("acme")
    paid = ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    assert (paid.id, paid.number, paid.status) == (invoice.id, invoice.number, "paid")
    assert paid.paid_at == world.now() and paid.created_at == invoice.created_at
    after = ann.balance("acme")
    assert after.purchased == before.purchased + 1_000
    entry = ann.ledger("acme", limit=1)[0]
    assert (entry.kind, entry.ref, entry.purchased, entry.actor) == (
        "purchase", invoice.id, 1_000, "ann")
    assert ann.ledger("acme", invoice_id=invoice.id) == [entry]
    assert ann.invoices("acme")[0] == paid
    world.engine.verify("acme")


def test_paying_a_failed_recharge_does_not_count_toward_the_cap(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=400,
                                monthly_cap_cents=1_000)
    world.payments.decline("acme")
    ann.record_usage("acme", 300, campaign="c", idempotency_key=keys())
    world.payments.decline("acme", False)
    invoice = ann.invoices("acme")[0]
    assert (invoice.kind, invoice.status) == ("recharge", "failed")
    before = ann.balance("acme")
    ann.pay_invoice("acme", invoice.id, idempotency_key="pay-r")
    assert ann.balance("acme").purchased == before.purchased + invoice.credits
    assert ann.auto_recharge("acme").spent_this_period_cents == 0
    assert ann.ledger("acme", limit=1)[0].kind == "recharge"


def test_paying_the_failed_subscription_clears_past_due_and_adds_nothing(world):
    ann = world.session("ann")
    invoice = failed_close(world)
    assert (invoice.kind, status(world)) == ("subscription", "past_due")
    before = ann.balance("acme")
    entries = len(world.engine.ledger_entries("acme"))
    paid = ann.pay_invoice("acme", invoice.id, idempotency_key="pay-s")
    assert paid.status == "paid" and status(world) == "active"
    assert ann.balance("acme") == before
    assert len(world.engine.ledger_entries("acme")) == entries


@pytest.mark.parametrize("fail", [failed_purchase, failed_close])
def test_a_paid_invoice_no_longer_says_declined(world, fail):
    """It keeps its number, and its text reads as paid: a decline note on a paid invoice
    would tell the owner it is still owed. A replay answers the first answer."""
    ann = world.session("ann")
    invoice = fail(world)
    assert "(declined: " in invoice.description
    paid = ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    base = invoice.description.rpartition(" (declined: ")[0]
    assert paid.description == f"{base} (paid on retry)"
    assert next(i for i in ann.invoices("acme") if i.id == invoice.id) == paid
    assert ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1") == paid


def test_an_invoice_paid_when_issued_was_paid_at_its_creation(world, keys):
    ann = world.session("ann")
    invoice = ann.purchase_credits("acme", 200, idempotency_key=keys())
    assert invoice.paid_at == invoice.created_at
    assert all(i.paid_at == i.created_at for i in ann.invoices("acme"))


# --- past due -----------------------------------------------------------------------------

def test_past_due_with_two_failed_invoices_only_the_latest_clears_it(world):
    ann = world.session("ann")
    older = failed_close(world)
    latest = failed_close(world)
    assert status(world) == "past_due"
    ann.pay_invoice("acme", older.id, idempotency_key="pay-old")
    assert status(world) == "past_due"
    ann.pay_invoice("acme", latest.id, idempotency_key="pay-new")
    assert status(world) == "active"


def test_paying_the_latest_first_clears_and_the_older_keeps_it_clear(world):
    ann = world.session("ann")
    older = failed_close(world)
    latest = failed_close(world)
    ann.pay_invoice("acme", latest.id, idempotency_key="pay-new")
    assert status(world) == "active"
    ann.pay_invoice("acme", older.id, idempotency_key="pay-old")
    assert status(world) == "active"


def test_a_purchase_does_not_clear_past_due_the_next_paid_subscription_does(world, keys):
    ann = world.session("ann")
    failed_close(world)
    ann.purchase_credits("acme", 1_000, idempotency_key=keys())
    assert status(world) == "past_due"
    world.advance(days=31)                        # the next subscription is paid
    assert status(world) == "active"


def test_a_period_on_a_free_plan_counts_as_paid(world):
    ann = world.session("ann")
    world.engine.add_plan(Plan(id="free", name="Free", base_credits_per_month=100,
                               rollover_cap=0, billing_period="monthly", price_cents=0))
    failed_close(world)
    ann.change_plan("acme", "free")
    world.advance(days=31)
    assert status(world) == "active"


# --- once, idempotently -------------------------------------------------------------------

def test_a_replay_returns_the_first_answer_and_changes_nothing(world):
    ann = world.session("ann")
    invoice = failed_purchase(world)
    first = ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    balance = ann.balance("acme")
    world.advance(hours=1)
    assert ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1") == first
    assert ann.balance("acme") == balance


def test_paying_a_paid_invoice_again_is_refused(world):
    ann = world.session("ann")
    invoice = failed_purchase(world)
    ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    with pytest.raises(InvalidRequest) as refused:
        ann.pay_invoice("acme", invoice.id, idempotency_key="pay-2")
    assert refused.value.field == "invoice_id"


@pytest.mark.parametrize("reuse", ["other invoice", "debit", "purchase", "other user"])
def test_a_key_reused_for_anything_else_is_a_conflict(world, keys, reuse):
    ann = world.session("ann")
    world.engine.add_member("acme", "bob", role="owner")
    first = failed_purchase(world, key="buy-1")
    second = failed_purchase(world, key="buy-2")
    ann.pay_invoice("acme", first.id, idempotency_key="pay-1")
    with pytest.raises(IdempotencyConflict):
        if reuse == "other invoice":
            ann.pay_invoice("acme", second.id, idempotency_key="pay-1")
        elif reuse == "debit":
            ann.record_usage("acme", 1_000, campaign="c", idempotency_key="pay-1")
        elif reuse == "purchase":
            ann.purchase_credits("acme", 1_000, idempotency_key="pay-1")
        else:
            world.session("bob").pay_invoice("acme", first.id, idempotency_key="pay-1")


def test_a_subscription_payment_key_is_taken_too(world):
    ann = world.session("ann")
    invoice = failed_close(world)
    ann.pay_invoice("acme", invoice.id, idempotency_key="pay-s")
    for call in (lambda: ann.record_usage("acme", 5, campaign="c", idempotency_key="pay-s"),
                 lambda: ann.purchase_credits("acme", 200, idempotency_key="pay-s")):
        with pytest.raises(IdempotencyConflict):
            call()


def test_a_debit_key_cannot_pay_an_invoice(world, keys):
    ann = world.session("ann")
    invoice = failed_purchase(world)
    ann.record_usage("acme", 5, campaign="c", idempotency_key="used")
    with pytest.raises(IdempotencyConflict):
        ann.pay_invoice("acme", invoice.id, idempotency_key="used")


def test_a_superseded_failed_purchase_cannot_be_paid(world):
    ann = world.session("ann")
    invoice = failed_purchase(world, key="buy-1")
    ann.purchase_credits("acme", 1_000, idempotency_key="buy-1")     # the same, succeeded
    purchased = ann.balance("acme").purchased
    with pytest.raises(InvalidRequest) as refused:
        ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    assert refused.value.field == "invoice_id" and "superseded" in refused.value.message
    assert ann.balance("acme").purchased == purchased


def test_a_declined_retry_changes_nothing_and_the_same_key_tries_again(world):
    ann = world.session("ann")
    invoice = failed_purchase(world)
    world.payments.decline("acme")
    balance, invoices = ann.balance("acme"), ann.invoices("acme")
    entries, alerts = world.engine.ledger_entries("acme"), ann.alerts("acme")
    mutations = world.engine.mutations
    with pytest.raises(PaymentDeclined) as refused:
        ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    assert invoice.number in refused.value.message
    assert (ann.balance("acme"), ann.invoices("acme")) == (balance, invoices)
    assert (world.engine.ledger_entries("acme"), ann.alerts("acme")) == (entries, alerts)
    assert world.engine.mutations == mutations
    world.payments.decline("acme", False)
    # Same key, same instant: a refusal stored nothing, so this is a new attempt.
    assert ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1").status == "paid"


# --- order of checks ----------------------------------------------------------------------

def test_checks_run_not_found_then_permission_then_input(world):
    invoice = failed_purchase(world)
    for user, invoice_id, key, error in [
        ("dan", invoice.id, "k", NotFound),           # not a member: acme does not exist
        ("dan", 5, None, NotFound),
        ("bob", "in_nope", "k", PermissionDenied),    # admin: owner only, whatever the input
        ("bob", 5, None, PermissionDenied),
        ("ann", 5, "k", InvalidRequest),
        ("ann", invoice.id, "   ", InvalidRequest),
        ("ann", "in_nope", "k", NotFound),            # an unknown invoice
    ]:
        with pytest.raises(error) as refused:
            world.session(user).pay_invoice("acme", invoice_id, idempotency_key=key)
        if error is PermissionDenied:
            assert refused.value.required_role == "owner"
    with pytest.raises(InvalidRequest) as refused:
        world.session("ann").pay_invoice("acme", invoice.id, idempotency_key=None)
    assert refused.value.field == "idempotency_key"


def test_an_invoice_of_another_account_is_not_found(world):
    invoice = failed_purchase(world)
    personal = world.personal["ann"]
    with pytest.raises(NotFound):
        world.session("ann").pay_invoice(personal, invoice.id, idempotency_key="k")


def test_paying_later_uses_the_time_of_payment(world):
    ann = world.session("ann")
    invoice = failed_purchase(world)
    world.advance(days=3)
    paid = ann.pay_invoice("acme", invoice.id, idempotency_key="pay-1")
    assert paid.paid_at - paid.created_at == timedelta(days=3)
