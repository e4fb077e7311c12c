"""Auto-recharge: one purchase per debit that crosses the threshold, however far below it
lands; none while another is in flight; the monthly cap holds under concurrency; a declined
payment is shown to owners and not retried in a loop."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from creditdesk.errors import BillingError


def recharges(world) -> tuple[list, list]:
    entries = [e for e in world.engine.ledger_entries("acme") if e.kind == "recharge"]
    invoices = [i for i in world.session("ann").invoices("acme") if i.kind == "recharge"]
    return entries, invoices


def test_a_debit_far_below_the_threshold_makes_one_purchase(world):
    """Lago #1962 (a wallet far below its threshold topped up once per missing step, many
    invoices for one event): one invoice of all the amounts needed, one ledger entry."""
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=800, amount=200,
                                monthly_cap_cents=None)
    total = ann.balance("acme").total                         # 1,000
    receipt = world.session("bob").record_usage("acme", 950, campaign="c",
                                                idempotency_key="deep")
    entries, invoices = recharges(world)
    assert len(entries) == len(invoices) == 1
    assert receipt.recharged == entries[0].purchased == invoices[0].credits == 800
    assert ann.balance("acme").total == total - 950 + 800 >= 800    # back over it


def test_concurrent_debits_buy_one_at_a_time_and_keep_the_cap(world):
    """Lago #6177 (two top-ups while one was in flight), #6103 (the monthly limit
    overshot by concurrent top-ups): 16 threads debit at once; every purchase saw the one
    before it (each brought the balance back over the threshold) and the cap holds."""
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=200,
                                monthly_cap_cents=700)        # room for 7 amounts
    barrier = threading.Barrier(16)

    def spend(n: int) -> int:
        session = world.session(("ann", "bob", "cat")[n % 3])
        barrier.wait()
        got = 0
        for i in range(6):
            try:
                got += session.record_usage("acme", 60, campaign="c",
                                            idempotency_key=f"c{n}-{i}").recharged
            except BillingError:
                pass
        return got

    with ThreadPoolExecutor(16) as pool:
        bought = sum(pool.map(spend, range(16)))
    entries, invoices = recharges(world)
    settings = ann.auto_recharge("acme")
    assert settings.spent_this_period_cents <= 700
    assert sum(i.amount_cents for i in invoices) == settings.spent_this_period_cents
    assert bought == sum(e.purchased for e in entries) == sum(i.credits for i in invoices)
    assert len(entries) == len(invoices) == 7                 # the cap, exactly reached


def test_a_declined_recharge_is_shown_to_owners_and_not_retried_in_a_loop(world):
    """Lago #5992 (a failing top-up retried on every event, flooding the card with
    attempts): the first decline switches auto-recharge off and says why to owners."""
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=200,
                                monthly_cap_cents=None)
    world.payments.decline("acme", True)
    attempts = len(world.payments.charges)
    bob = world.session("bob")
    for i in range(5):
        bob.record_usage("acme", 40, campaign="c", idempotency_key=f"d{i}")
    assert len(world.payments.charges) == attempts + 1        # one attempt, not five
    settings = ann.auto_recharge("acme")
    assert settings.enabled is False
    assert "declined" in settings.last_failure
    assert recharges(world)[0] == []
