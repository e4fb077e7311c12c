"""Purchases and auto-recharge: whole dollars only, paid/failed invoices, caps, no loops."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from creditdesk.errors import InsufficientCredits, InvalidRequest, PaymentDeclined
from creditdesk.models import MAX_CREDITS


def recharges(session, account="acme"):
    return [i for i in session.invoices(account) if i.kind == "recharge"]


@pytest.mark.parametrize("credits", [200, 400, 1_000, 12_400, 1_000_000, MAX_CREDITS])
def test_any_positive_multiple_of_200_may_be_bought(world, keys, credits):
    ann = world.session("ann")
    invoice = ann.purchase_credits("acme", credits, idempotency_key=keys())
    assert (invoice.kind, invoice.status, invoice.credits) == ("purchase", "paid", credits)
    assert invoice.amount_cents == credits // 2
    assert invoice.account_id == "acme"
    assert invoice.payment_method and invoice.number and invoice.description
    assert invoice.created_at == world.now()
    assert ann.balance("acme").purchased == credits
    assert ann.invoices("acme")[0] == invoice


@pytest.mark.parametrize("credits", [1, 100, 199, 201, 250, 1_001, MAX_CREDITS - 200 + 100])
def test_amounts_that_are_not_whole_dollars_are_refused(world, keys, credits):
    mutations = world.engine.mutations
    with pytest.raises(InvalidRequest) as refused:
        world.session("ann").purchase_credits("acme", credits, idempotency_key=keys())
    assert refused.value.field == "credits"
    assert world.engine.mutations == mutations
    assert world.session("ann").balance("acme").purchased == 0


def test_a_declined_purchase_adds_nothing_and_issues_a_failed_invoice(world, keys):
    ann = world.session("ann")
    world.payments.decline("acme", True)
    with pytest.raises(PaymentDeclined) as refused:
        ann.purchase_credits("acme", 1_000, idempotency_key=keys())
    assert refused.value.code == "payment_declined"
    assert "declined" in str(refused.value).lower()
    assert ann.balance("acme").purchased == 0
    failed = ann.invoices("acme")[0]
    assert (failed.kind, failed.status, failed.credits, failed.amount_cents) == (
        "purchase", "failed", 1_000, 500)
    assert not [e for e in world.engine.ledger_entries("acme") if e.kind == "purchase"]


def test_credit_packs_are_whole_dollar_suggestions(world):
    packs = world.session("cat").credit_packs()
    assert packs
    assert len({p.id for p in packs}) == len(packs)
    for pack in packs:
        assert pack.credits > 0 and pack.credits % 200 == 0
        assert pack.price_cents == pack.credits // 2


def test_a_pack_size_can_be_bought_at_its_price(world, keys):
    pack = world.session("ann").credit_packs()[0]
    invoice = world.session("ann").purchase_credits("acme", pack.credits,
                                                    idempotency_key=keys())
    assert invoice.amount_cents == pack.price_cents


# --- auto-recharge --------------------------------------------------------------------------

def test_recharge_buys_as_many_amounts_as_needed_in_one_invoice(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200)
    # 1,000 - 900 = 100, under 500: two amounts (400) bring it to 500 after the debit.
    receipt = world.session("cat").record_usage("acme", 900, campaign="c",
                                                idempotency_key=keys())
    assert receipt.recharged == 400
    assert receipt.from_base == 900
    balance = ann.balance("acme")
    assert (balance.base, balance.purchased, balance.total) == (100, 400, 500)
    bills = recharges(ann)
    assert len(bills) == 1
    assert (bills[0].credits, bills[0].amount_cents, bills[0].status) == (400, 200, "paid")
    assert ann.auto_recharge("acme").spent_this_period_cents == 200
    # The org's card pays for the org's recharge, never the member's personal one.
    assert world.payments.charges[-1][:2] == ("acme", 200)
    kinds = [e.kind for e in world.engine.ledger_entries("acme")][-2:]
    assert kinds == ["recharge", "usage"]       # bought first, then the debit


def test_no_recharge_while_the_balance_stays_at_the_threshold(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200)
    receipt = ann.record_usage("acme", 500, campaign="c", idempotency_key=keys())
    assert receipt.recharged == 0
    assert recharges(ann) == []


def test_recharge_covers_a_debit_bigger_than_the_balance(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=100, amount=1_000)
    receipt = ann.record_usage("acme", 2_500, campaign="c", idempotency_key=keys())
    # 1,000 - 2,500 = -1,500: two amounts give 500 after the debit (>= 100).
    assert receipt.recharged == 2_000
    assert (receipt.from_base, receipt.from_purchased) == (1_000, 1_500)
    assert ann.balance("acme").total == 500


def test_the_monthly_cap_limits_recharges_and_resets_at_each_close(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200,
                                monthly_cap_cents=250)
    cat = world.session("cat")
    # Needs 3 amounts ($3): only 2 fit in the $2.50 cap.
    first = cat.record_usage("acme", 1_000, campaign="c", idempotency_key=keys())
    assert first.recharged == 400
    assert ann.auto_recharge("acme").spent_this_period_cents == 200
    # 50 cents of room left: not one more amount; the debit still goes through.
    second = cat.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    assert second.recharged == 0
    assert len(recharges(ann)) == 1
    assert ann.balance("acme").total == 300
    world.clock.set(ann.balance("acme").period_end)
    assert ann.auto_recharge("acme").spent_this_period_cents == 0
    # 1,000 base + 300 left: a debit of 1,200 leaves 100, needs 2 amounts: the cap allows 2.
    third = cat.record_usage("acme", 1_200, campaign="c", idempotency_key=keys())
    assert third.recharged == 400


def test_credits_bought_stay_bought_when_the_debit_is_still_refused(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=0, amount=200,
                                monthly_cap_cents=100)
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 1_500, campaign="c", idempotency_key=keys())
    balance = ann.balance("acme")
    assert (balance.base, balance.purchased) == (1_000, 200)
    assert balance.autopilot == "paused"
    assert [(i.credits, i.status) for i in recharges(ann)] == [(200, "paid")]


def test_a_failed_recharge_switches_itself_off_and_the_debit_uses_the_old_balance(world,
                                                                                    keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200)
    world.payments.decline("acme", True)
    receipt = world.session("cat").record_usage("acme", 900, campaign="c",
                                                idempotency_key=keys())
    assert receipt.recharged == 0
    assert ann.balance("acme").total == 100
    bills = recharges(ann)
    assert [(i.status, i.credits) for i in bills] == [("failed", 400)]
    settings = ann.auto_recharge("acme")
    assert settings.enabled is False
    assert settings.last_failure
    assert world.session("bob").auto_recharge("acme").last_failure == settings.last_failure
    # Never retried in a loop: the next debit tries no payment at all.
    with pytest.raises(InsufficientCredits):
        world.session("cat").record_usage("acme", 200, campaign="c", idempotency_key=keys())
    assert len(recharges(ann)) == 1
    assert len([c for c in world.payments.charges if c[0] == "acme"]) == 2   # plan + recharge


def test_a_failed_recharge_refuses_a_debit_the_old_balance_cannot_cover(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=100, amount=200)
    world.payments.decline("acme", True)
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 1_100, campaign="c", idempotency_key=keys())
    balance = ann.balance("acme")
    assert (balance.total, balance.autopilot) == (1_000, "paused")
    assert len(recharges(ann)) == 1
    assert ann.auto_recharge("acme").enabled is False


def test_enabling_again_after_a_failure_recharges_again(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200)
    world.payments.decline("acme", True)
    ann.record_usage("acme", 900, campaign="c", idempotency_key=keys())
    world.payments.decline("acme", False)
    settings = ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200)
    assert settings.enabled is True
    receipt = ann.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    assert receipt.recharged == 600


def test_configuration_is_kept_and_shown(world):
    ann = world.session("ann")
    shown = ann.configure_auto_recharge("acme", enabled=True, threshold=2_000, amount=10_000,
                                        monthly_cap_cents=50_000)
    assert (shown.enabled, shown.threshold, shown.amount, shown.monthly_cap_cents) == (
        True, 2_000, 10_000, 50_000)
    assert world.session("bob").auto_recharge("acme") == shown
    off = ann.configure_auto_recharge("acme", enabled=False, threshold=2_000, amount=10_000)
    assert off.monthly_cap_cents is None and off.enabled is False


def test_concurrent_debits_never_buy_twice_for_the_same_need(world):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=1_000)
    threads = 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def spend(n: int) -> None:
        session = world.session("cat")
        barrier.wait()
        try:
            session.record_usage("acme", 100, campaign="c", idempotency_key=f"t{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=spend, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    # Only the second debit crosses the threshold; after one amount none of the rest do.
    assert len(recharges(ann)) == 1
    assert ann.balance("acme").total == 1_000 + 1_000 - 800


def test_recharge_in_a_personal_account(world, keys):
    dan = world.session("dan")
    account = world.personal["dan"]
    dan.configure_auto_recharge(account, enabled=True, threshold=50, amount=200)
    receipt = dan.record_usage(account, 300, campaign="mine", idempotency_key=keys())
    assert receipt.recharged == 200
    assert dan.balance(account).total == 200
    world.clock.advance(timedelta(minutes=1))
    assert recharges(dan, account)[0].status == "paid"
