"""The rules issue 9 hardened: what a refusal may say, the recharge bound, replays that repeat
the first answer, pages cut to the cap, and what clears past due."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditdesk.errors import InsufficientCredits, InvalidRequest


def _drain(world, keys, leave: int) -> None:
    """Spend acme's balance down to `leave` credits."""
    ann = world.session("ann")
    total = ann.balance("acme").total
    ann.record_usage("acme", total - leave, campaign="drain", idempotency_key=keys())


def test_a_member_is_not_told_the_balance(world, keys):
    """Issue 9 item 4: balances are for admins and owners, also inside a refusal."""
    _drain(world, keys, leave=128)
    with pytest.raises(InsufficientCredits) as member_refusal:
        world.session("cat").record_usage("acme", 500, campaign="c", idempotency_key=keys())
    assert "128" not in member_refusal.value.message
    assert "balance" not in member_refusal.value.message
    with pytest.raises(InsufficientCredits) as owner_refusal:
        world.session("ann").record_usage("acme", 500, campaign="c", idempotency_key=keys())
    assert "128" in owner_refusal.value.message      # the owner may view it


def _recharge_on(world, threshold=0, amount=200, cap=None):
    world.session("ann").configure_auto_recharge("acme", enabled=True, threshold=threshold,
                                                 amount=amount, monthly_cap_cents=cap)


def test_one_recharge_buys_at_most_ten_amounts(world, keys):
    """Issue 9 item 5: exactly ten amounts are bought, eleven buy nothing at all."""
    _recharge_on(world)
    ann = world.session("ann")
    total = ann.balance("acme").total
    receipt = ann.record_usage("acme", total + 2_000, campaign="c", idempotency_key=keys())
    assert receipt.recharged == 2_000
    invoices = len(ann.invoices("acme"))
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 2_001, campaign="c", idempotency_key=keys())
    assert len(ann.invoices("acme")) == invoices      # nothing bought, nothing charged
    assert ann.balance("acme").purchased == 0


def test_a_need_beyond_the_bound_still_debits_what_the_balance_covers(world, keys):
    _recharge_on(world, threshold=5_000)
    ann = world.session("ann")
    receipt = ann.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    assert receipt.recharged == 0                     # 5,000 - 900 needs 21 amounts
    assert ann.balance("acme").total == 900


def test_a_replay_repeats_the_first_answer_not_the_rows_around_it(world, keys):
    """Issue 9 item 8: K refused (a recharge happened on the way), K succeeds with nothing
    recharged, and K again must answer recharged 0 as the first success did."""
    ann = world.session("ann")
    ann.purchase_credits("acme", 100_000 - ann.balance("acme").total + 1_000,
                         idempotency_key=keys())
    _drain(world, keys, leave=100_000)
    _recharge_on(world, threshold=0, amount=200, cap=100)
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 100_500, campaign="c", idempotency_key="K")
    assert ann.balance("acme").total == 100_200       # the recharge stays bought
    first = ann.record_usage("acme", 100, campaign="c", idempotency_key="K")
    assert first.recharged == 0
    again = ann.record_usage("acme", 100, campaign="c", idempotency_key="K")
    assert again == first
    assert again.model_dump_json() == first.model_dump_json()


def test_a_ledger_page_above_the_cap_is_cut_to_it(world, keys):
    """Issue 9 item 12: a larger limit is cut to 1,000 entries, not refused."""
    ann = world.session("ann")
    ann.purchase_credits("acme", 2_000, idempotency_key=keys())
    for _ in range(1_001):
        ann.record_usage("acme", 1, campaign="c", idempotency_key=keys())
    page = ann.ledger("acme", limit=100_000)
    assert len(page) == 1_000
    assert page == ann.ledger("acme", limit=1_000)
    with pytest.raises(InvalidRequest) as refused:
        ann.ledger("acme", limit=0)
    assert refused.value.field == "limit"


def test_past_due_is_cleared_by_a_paid_subscription_not_by_a_purchase(world, keys):
    """billing-rules.md: the account is past due while its latest subscription invoice is
    failed; a purchase or a recharge that succeeds leaves the subscription unpaid."""
    ann = world.session("ann")
    world.payments.decline("acme")
    world.advance(days=31)
    assert ann.subscription("acme").status == "past_due"
    world.payments.decline("acme", False)
    ann.purchase_credits("acme", 1_000, idempotency_key=keys())
    assert ann.subscription("acme").status == "past_due"
    _recharge_on(world, threshold=ann.balance("acme").total + 200)
    receipt = ann.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    assert receipt.recharged > 0
    assert ann.subscription("acme").status == "past_due"
    world.clock.advance(timedelta(days=31))
    assert ann.subscription("acme").status == "active"
