"""A usage debit burns once, base -> rollover -> purchased, and every figure agrees on it:
the receipt, the balance, the ledger, the usage chart's points, the invoices and the
forecast the dashboard draws from the balance."""

from __future__ import annotations

from datetime import timedelta

from creditdesk.tui.forecast import forecast_period


def stocked(world):
    """acme at the start of its 2nd period: base 1,000, rollover 500, purchased 400."""
    ann = world.session("ann")
    ann.record_usage("acme", 200, campaign="setup", idempotency_key="setup")
    world.clock.advance(timedelta(days=31))
    ann.purchase_credits("acme", 400, idempotency_key="pack")
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover, balance.purchased) == (1_000, 500, 400)
    return ann


def test_one_debit_burns_base_then_rollover_then_purchased_once(world):
    """Lago #2542 (usage charged against the wrong wallet bucket, and twice when it
    spanned two), #5825 (granted credits consumed after purchased ones)."""
    ann = stocked(world)
    world.clock.advance(timedelta(hours=2))
    receipt = world.session("bob").record_usage("acme", 1_700, campaign="big",
                                                idempotency_key="big")
    assert (receipt.from_base, receipt.from_rollover, receipt.from_purchased) == \
        (1_000, 500, 200)
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover, balance.purchased, balance.total) == \
        (0, 0, 200, 200)
    entry = next(e for e in world.engine.ledger_entries("acme") if e.idempotency_key == "big")
    assert (entry.base, entry.rollover, entry.purchased) == (-1_000, -500, -200)
    assert entry.balance_after == balance.total

    series = ann.usage_history("acme", start=balance.period_start,
                               end=balance.period_end, granularity="month")
    by_source = {p.key: p.credits for p in series.points}
    assert by_source == {"base": 1_000, "rollover": 500, "purchased": 200}
    by_member = ann.usage_history("acme", start=balance.period_start,
                                  end=balance.period_end, granularity="month",
                                  group_by="member")
    assert {p.key: p.credits for p in by_member.points} == {"bob": 1_700}
    assert balance.used_this_period == 1_700
    # The debit bought nothing: the invoices are the plan's and the pack's, nothing else.
    assert sorted(i.kind for i in ann.invoices("acme")).count("recharge") == 0
    forecast = forecast_period(balance, ann.subscription("acme"), world.clock())
    assert forecast is not None and forecast.use_until_close <= balance.total == 200
