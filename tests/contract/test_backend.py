"""Every BillingBackend method, written once and run against each kind of backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from creditdesk.backends import BACKEND_METHODS, BillingBackend
from creditdesk.errors import InvalidRequest
from creditdesk.models import (
    OTHER_KEY,
    AutoRecharge,
    Balance,
    CreditPack,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Plan,
    Subscription,
    UsageReceipt,
    UsageSeries,
)


async def test_the_backend_has_every_protocol_method(backend_for):
    backend = backend_for("ann")
    assert isinstance(backend, BillingBackend)
    for name in BACKEND_METHODS:
        assert callable(getattr(backend, name)), name


async def test_whoami(backend_for):
    me = await backend_for("bob").whoami()
    assert isinstance(me, Identity)
    assert (me.user_id, me.name, me.email) == ("bob", "Bob Ray", "bob@example.com")
    assert [(c.account_id, c.kind, c.role) for c in me.contexts] == [
        ("personal:bob", "personal", "owner"), ("acme", "org", "admin")]
    assert me.contexts[1].name == "Acme Robotics"
    outsider = await backend_for("dan").whoami()
    assert [c.account_id for c in outsider.contexts] == ["personal:dan"]


async def test_balance_matches_the_engine(world, backend_for):
    balance = await backend_for("bob").balance("acme")
    assert isinstance(balance, Balance)
    assert balance == world.session("ann").balance("acme")
    assert (balance.base, balance.rollover, balance.purchased, balance.total) == (
        1_000, 0, 0, 1_000)
    assert balance.period_start == world.now()
    assert balance.period_end == datetime(2026, 2, 15, 9, tzinfo=UTC)
    assert balance.autopilot == "running"


async def test_record_usage_and_replay(world, backend_for):
    cat = backend_for("cat")
    receipt = await cat.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    assert isinstance(receipt, UsageReceipt)
    assert (receipt.account_id, receipt.credits, receipt.campaign) == ("acme", 300, "crawl")
    assert (receipt.from_base, receipt.from_rollover, receipt.from_purchased) == (300, 0, 0)
    assert (receipt.recharged, receipt.member_used_this_period) == (0, 300)
    assert receipt.balance is None                    # a member may not view balances
    again = await cat.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    assert again == receipt
    assert world.session("ann").balance("acme").total == 700
    owner = await backend_for("ann").record_usage("acme", 50, campaign="x",
                                                  idempotency_key="job-2")
    assert owner.balance == world.session("ann").balance("acme")


async def test_my_usage(backend_for):
    cat = backend_for("cat")
    await cat.record_usage("acme", 42, campaign="c", idempotency_key="k")
    mine = await cat.my_usage("acme")
    assert isinstance(mine, MemberUsage)
    assert (mine.user_id, mine.name, mine.role, mine.used_this_period, mine.limit) == (
        "cat", "Cat Diaz", "member", 42, None)


async def test_members_and_limits(world, backend_for):
    ann = backend_for("ann")
    limited = await ann.set_member_limit("acme", "cat", 500)
    assert isinstance(limited, MemberUsage)
    assert (limited.user_id, limited.limit) == ("cat", 500)
    rows = {m.user_id: m for m in await backend_for("bob").members("acme")}
    assert {u: (m.role, m.limit) for u, m in rows.items()} == {
        "ann": ("owner", None), "bob": ("admin", None), "cat": ("member", 500)}
    cleared = await ann.set_member_limit("acme", "cat", None)
    assert cleared.limit is None
    assert world.session("cat").my_usage("acme").limit is None


async def test_usage_history(world, backend_for):
    cat, bob = backend_for("cat"), backend_for("bob")
    await cat.record_usage("acme", 100, campaign="alpha", idempotency_key="a")
    world.clock.advance(timedelta(days=1))
    await bob.record_usage("acme", 40, campaign="beta", idempotency_key="b")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 2, 1, tzinfo=UTC)
    series = await bob.usage_history("acme", start=start, end=end, granularity="day",
                                     group_by="member")
    assert isinstance(series, UsageSeries)
    assert (series.start, series.end, series.granularity, series.group_by) == (
        start, end, "day", "member")
    assert [(p.start, p.key, p.credits) for p in series.points if p.credits] == [
        (datetime(2026, 1, 15, tzinfo=UTC), "cat", 100),
        (datetime(2026, 1, 16, tzinfo=UTC), "bob", 40)]
    weekly = await bob.usage_history("acme", start=start, end=end, granularity="week")
    assert weekly.group_by == "source"
    assert [(p.start, p.key, p.credits) for p in weekly.points if p.credits] == [
        (datetime(2026, 1, 12, tzinfo=UTC), "base", 140)]


async def test_subscription_plans_and_changes(world, backend_for):
    ann = backend_for("ann")
    plans = await backend_for("dan").plans()
    assert all(isinstance(p, Plan) for p in plans)
    assert {p.id for p in plans} == {"team", "starter", "pro"}
    subscription = await backend_for("bob").subscription("acme")
    assert isinstance(subscription, Subscription)
    assert subscription == world.session("ann").subscription("acme")
    assert (subscription.plan.id, subscription.status, subscription.pending_plan) == (
        "team", "active", None)
    changed = await ann.change_plan("acme", "starter")
    assert changed.pending_plan.id == "starter"
    assert changed.pending_from == subscription.period_end
    cancelled = await ann.cancel_plan_change("acme")
    assert (cancelled.pending_plan, cancelled.pending_from) == (None, None)
    await ann.change_plan("acme", "starter")
    world.clock.set(subscription.period_end)
    after = await ann.subscription("acme")
    assert (after.plan.id, after.period_start) == ("starter", subscription.period_end)


async def test_past_due_is_visible(world, backend_for):
    world.payments.decline("acme", True)
    world.clock.advance(timedelta(days=31))
    subscription = await backend_for("bob").subscription("acme")
    assert subscription.status == "past_due"
    assert (await backend_for("bob").balance("acme")).base == 1_000


async def test_purchases_and_invoices(world, backend_for):
    ann = backend_for("ann")
    packs = await backend_for("cat").credit_packs()
    assert packs and all(isinstance(p, CreditPack) for p in packs)
    assert all(p.credits % 200 == 0 and p.price_cents == p.credits // 2 for p in packs)
    invoice = await ann.purchase_credits("acme", 1_000, idempotency_key="buy-1")
    assert isinstance(invoice, Invoice)
    assert (invoice.kind, invoice.status, invoice.credits, invoice.amount_cents) == (
        "purchase", "paid", 1_000, 500)
    assert invoice.created_at == world.now()
    assert await ann.purchase_credits("acme", 1_000, idempotency_key="buy-1") == invoice
    assert world.session("ann").balance("acme").purchased == 1_000
    invoices = await ann.invoices("acme")
    assert invoices[0] == invoice
    assert [i.kind for i in invoices] == ["purchase", "subscription"]
    assert invoices == world.session("ann").invoices("acme")


async def test_auto_recharge_settings_and_effect(world, backend_for):
    ann = backend_for("ann")
    settings = await ann.configure_auto_recharge("acme", enabled=True, threshold=500,
                                                 amount=200, monthly_cap_cents=1_000)
    assert isinstance(settings, AutoRecharge)
    assert (settings.enabled, settings.threshold, settings.amount,
            settings.monthly_cap_cents, settings.spent_this_period_cents,
            settings.last_failure) == (True, 500, 200, 1_000, 0, None)
    receipt = await backend_for("cat").record_usage("acme", 900, campaign="c",
                                                    idempotency_key="k")
    assert receipt.recharged == 400
    viewed = await backend_for("bob").auto_recharge("acme")
    assert viewed.spent_this_period_cents == 200
    assert viewed == world.session("ann").auto_recharge("acme")
    no_cap = await ann.configure_auto_recharge("acme", enabled=False, threshold=0,
                                               amount=200)
    assert no_cap.monthly_cap_cents is None


async def test_ledger_pages(world, backend_for):
    cat = backend_for("cat")
    for n in range(5):
        await cat.record_usage("acme", 10 + n, campaign="c", idempotency_key=f"k{n}")
    bob = backend_for("bob")
    everything = await bob.ledger("acme")
    assert all(isinstance(e, LedgerEntry) for e in everything)
    assert everything == list(reversed(world.engine.ledger_entries("acme")))
    first = await bob.ledger("acme", limit=2)
    second = await bob.ledger("acme", limit=2, before=first[-1].id)
    assert first + second == everything[:4]
    assert (first[0].kind, first[0].base, first[0].idempotency_key) == ("usage", -14, "k4")


async def test_ledger_filters_keep_only_what_was_asked(world, backend_for):
    cat = backend_for("cat")
    for n in range(4):
        await cat.record_usage("acme", 10 + n, campaign="red" if n % 2 else "blue",
                               idempotency_key=f"f{n}")
    bought = await backend_for("ann").purchase_credits("acme", 400, idempotency_key="f-buy")
    bob = backend_for("bob")
    everything = await bob.ledger("acme")
    by_hand = {
        "kind": [e for e in everything if e.kind == "usage"],
        "user_id": [e for e in everything if e.actor == "cat"],
        "campaign": [e for e in everything if e.kind == "usage" and e.ref == "red"],
        "invoice_id": [e for e in everything if e.ref == bought.id],
    }
    asked = {"kind": "usage", "user_id": "cat", "campaign": "red", "invoice_id": bought.id}
    for name, value in asked.items():
        assert await bob.ledger("acme", **{name: value}) == by_hand[name], name
        assert by_hand[name], name
    assert [e.ref for e in by_hand["campaign"]] == ["red", "red"]
    # Filters combine, page with `before`, and an unknown name matches nothing.
    first = await bob.ledger("acme", kind="usage", user_id="cat", limit=1)
    rest = await bob.ledger("acme", kind="usage", user_id="cat", before=first[0].id)
    assert first + rest == [e for e in by_hand["kind"] if e.actor == "cat"]
    assert await bob.ledger("acme", campaign="never-used") == []
    with pytest.raises(InvalidRequest) as refused:
        await bob.ledger("acme", kind="refund")
    assert refused.value.field == "kind"


async def test_portal_url(world, backend_for):
    url = await backend_for("ann").portal_url("acme")
    assert url == world.session("ann").portal_url("acme")


async def test_the_clock_closes_periods_behind_every_backend(world, backend_for):
    cat = backend_for("cat")
    await cat.record_usage("acme", 200, campaign="c", idempotency_key="k")
    world.clock.set(datetime(2026, 3, 20, tzinfo=UTC))
    balance = await backend_for("ann").balance("acme")
    assert (balance.base, balance.rollover) == (1_000, 500)
    assert balance.period_start == datetime(2026, 3, 15, 9, tzinfo=UTC)
    grants = [e for e in await backend_for("ann").ledger("acme") if e.kind == "grant"]
    assert [g.at for g in grants] == [datetime(2026, m, 15, 9, tzinfo=UTC) for m in (3, 2, 1)]
    assert (await cat.my_usage("acme")).used_this_period == 0


async def test_the_personal_account_is_the_users_own(world, backend_for):
    dan = backend_for("dan")
    account = world.personal["dan"]
    receipt = await dan.record_usage(account, 250, campaign="mine", idempotency_key="k")
    assert receipt.balance is not None and receipt.balance.total == 50
    invoice = await dan.purchase_credits(account, 200, idempotency_key="buy")
    assert invoice.account_id == account
    assert (await dan.balance(account)).total == 250
    assert [m.user_id for m in await dan.members(account)] == ["dan"]
    assert world.session("ann").balance("acme").total == 1_000     # the org is untouched


async def test_instants_with_any_offset_mean_the_same_moment(world, backend_for):
    bob = backend_for("bob")
    await bob.record_usage("acme", 70, campaign="c", idempotency_key="k")
    india = timezone(timedelta(hours=5, minutes=30))
    start = datetime(2026, 1, 15, 5, 30, tzinfo=india)        # 00:00 UTC
    end = datetime(2026, 1, 15, 19, 0, tzinfo=timezone(timedelta(hours=-5)))  # 16 Jan 00:00
    series = await bob.usage_history("acme", start=start, end=end)
    assert series.start == start and series.end == end
    assert [(p.start, p.key, p.credits) for p in series.points if p.credits] == [
        (datetime(2026, 1, 15, tzinfo=UTC), "base", 70)]


def test_every_protocol_method_is_exercised_here():
    # A method added to the protocol must get its contract test in this folder too.
    folder = Path(__file__).parent
    source = "".join(p.read_text() for p in folder.glob("test_*.py"))
    missing = [name for name in BACKEND_METHODS
               if f".{name}(" not in source and f'"{name}"' not in source]
    assert missing == []


async def test_usage_history_top_keeps_the_biggest_keys_and_sums_the_rest(world, backend_for):
    # What a chart of a big org asks for: a few series, not a point per member per day.
    cat, bob, ann = backend_for("cat"), backend_for("bob"), backend_for("ann")
    await cat.record_usage("acme", 300, campaign="alpha", idempotency_key="t1")
    await bob.record_usage("acme", 200, campaign="beta", idempotency_key="t2")
    await ann.record_usage("acme", 50, campaign="gamma", idempotency_key="t3")
    world.clock.advance(timedelta(days=1))
    await ann.record_usage("acme", 60, campaign="gamma", idempotency_key="t4")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 2, 1, tzinfo=UTC)
    series = await bob.usage_history("acme", start=start, end=end, granularity="day",
                                     group_by="member", top=2)
    assert series.folded == 1
    assert [(p.start, p.key, p.credits) for p in series.points] == [
        (datetime(2026, 1, 15, tzinfo=UTC), "bob", 200),
        (datetime(2026, 1, 15, tzinfo=UTC), "cat", 300),
        (datetime(2026, 1, 15, tzinfo=UTC), OTHER_KEY, 50),
        (datetime(2026, 1, 16, tzinfo=UTC), OTHER_KEY, 60)]
    # Enough room for every key: nothing is folded, the answer is the plain one.
    whole = await bob.usage_history("acme", start=start, end=end, group_by="campaign", top=3)
    plain = await bob.usage_history("acme", start=start, end=end, group_by="campaign")
    assert whole.folded == 0 and whole.points == plain.points
    # Sources are never folded: there are only three.
    sources = await bob.usage_history("acme", start=start, end=end, top=1)
    assert sources.folded == 0 and {p.key for p in sources.points} == {"base"}
    with pytest.raises(InvalidRequest) as refused:
        await bob.usage_history("acme", start=start, end=end, group_by="member", top=0)
    assert refused.value.field == "top"
