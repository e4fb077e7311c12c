"""Table tests for paying a failed invoice and for past due (billing-rules.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditdesk.errors import InvalidRequest
from creditdesk.invoice_rules import (
    InvoiceFacts,
    PaymentEffects,
    is_past_due,
    paid_at,
    payment_effects,
    payment_refusal,
    superseded,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def inv(id_, kind="purchase", status="failed", credits=2_000, minutes=0, key=None):
    return InvoiceFacts(id=id_, kind=kind, status=status, credits=credits,
                        created_at=T0 + timedelta(minutes=minutes), idempotency_key=key)


FAILED_BUY = inv("i1", key="k1")


@pytest.mark.parametrize("others, is_superseded", [
    ([], False),
    ([inv("i2", status="paid", minutes=5, key="k1")], True),     # same key succeeded later
    ([inv("i2", status="failed", minutes=5, key="k1")], False),  # declined again: payable
    ([inv("i2", status="paid", minutes=5, key="k2")], False),    # another key
    ([inv("i2", status="paid", minutes=-5, key="k1")], False),   # earlier, not later
    ([inv("i2", kind="recharge", status="paid", minutes=5, key="k1")], False),
    ([FAILED_BUY], False),                                       # itself
])
def test_superseded(others, is_superseded):
    assert superseded(FAILED_BUY, others) is is_superseded


def test_only_purchases_are_superseded():
    sub = inv("s1", kind="subscription", key=None)
    assert not superseded(sub, [inv("s2", kind="subscription", status="paid", minutes=9)])


@pytest.mark.parametrize("invoice, others, words", [
    (inv("i1", status="paid"), [], "already paid"),
    (FAILED_BUY, [inv("i2", status="paid", minutes=1, key="k1")], "superseded"),
    (inv("i1", status="void"), [], "cannot be paid"),
])
def test_refusals_name_invoice_id(invoice, others, words):
    refusal = payment_refusal(invoice, others)
    assert isinstance(refusal, InvalidRequest)
    assert refusal.field == "invoice_id" and words in refusal.message


@pytest.mark.parametrize("invoice", [
    FAILED_BUY, inv("r1", kind="recharge"), inv("s1", kind="subscription", credits=0),
])
def test_failed_invoices_may_be_paid(invoice):
    assert payment_refusal(invoice, [inv("x", status="paid", minutes=3, key="other")]) is None


@pytest.mark.parametrize("invoice, latest, effects", [
    (FAILED_BUY, "s9", PaymentEffects(2_000, "purchase", False)),
    (inv("r1", kind="recharge", credits=4_000), "s9", PaymentEffects(4_000, "recharge", False)),
    (inv("s9", kind="subscription", credits=0), "s9", PaymentEffects(0, None, True)),
    (inv("s1", kind="subscription", credits=0), "s9", PaymentEffects(0, None, False)),
    (inv("s1", kind="subscription", credits=0), None, PaymentEffects(0, None, False)),
])
def test_payment_effects(invoice, latest, effects):
    assert payment_effects(invoice, latest) == effects


def test_a_paid_recharge_never_counts_toward_the_monthly_cap():
    assert payment_effects(inv("r1", kind="recharge"), None).recharge_cap_cents == 0


def test_unknown_kind_is_a_bug_not_a_guess():
    with pytest.raises(ValueError):
        payment_effects(inv("z", kind="refund"), None)


@pytest.mark.parametrize("outcomes, past_due", [
    ([], False),
    (["paid"], False),
    (["failed"], True),
    (["failed", "paid"], False),          # the next paid subscription clears it
    (["paid", "failed"], True),
    (["failed", "free"], False),          # a period on a free plan counts as paid
    (["failed", "failed"], True),
])
def test_past_due_follows_the_latest_subscription(outcomes, past_due):
    assert is_past_due(outcomes) is past_due


def test_past_due_with_two_failed_invoices():
    # Two failed subscription invoices: paying the older leaves past due, the latest clears.
    older, latest = inv("s1", kind="subscription"), inv("s2", kind="subscription", minutes=9)
    outcomes = {"s1": "failed", "s2": "failed"}
    assert not payment_effects(older, latest.id).clears_past_due
    outcomes["s1"] = "paid"
    assert is_past_due([outcomes["s1"], outcomes["s2"]])
    assert payment_effects(latest, latest.id).clears_past_due
    outcomes["s2"] = "paid"
    assert not is_past_due([outcomes["s1"], outcomes["s2"]])


def test_a_purchase_is_no_subscription_outcome():
    with pytest.raises(ValueError):
        is_past_due(["failed", "purchase"])


@pytest.mark.parametrize("status, now, want", [
    ("paid", None, T0), ("failed", T0 + timedelta(days=2), T0 + timedelta(days=2)),
    ("failed", None, None),
])
def test_paid_at(status, now, want):
    assert paid_at(T0, status, now) == want
