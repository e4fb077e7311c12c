"""The ledger: append-only entries whose changes sum to every bucket; newest-first paging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditdesk.errors import InsufficientCredits


def busy(world, keys):
    """A few weeks of everything that moves credits, across two closes."""
    ann, cat = world.session("ann"), world.session("cat")
    ann.configure_auto_recharge("acme", enabled=True, threshold=300, amount=400,
                                monthly_cap_cents=1_000)
    cat.record_usage("acme", 600, campaign="a", idempotency_key=keys())
    ann.purchase_credits("acme", 1_000, idempotency_key=keys())
    world.clock.advance(timedelta(days=20))
    cat.record_usage("acme", 1_500, campaign="b", idempotency_key=keys())   # recharges
    world.clock.advance(timedelta(days=20))
    world.session("bob").record_usage("acme", 1_200, campaign="a", idempotency_key=keys())
    with pytest.raises(InsufficientCredits):
        ann.record_usage("acme", 10**6, campaign="huge", idempotency_key=keys())
    world.clock.advance(timedelta(days=40))
    ann.record_usage(world.personal["ann"], 120, campaign="mine", idempotency_key=keys())


def sums(entries) -> tuple[int, int, int]:
    return (sum(e.base for e in entries), sum(e.rollover for e in entries),
            sum(e.purchased for e in entries))


@pytest.mark.parametrize("account", ["acme", "personal:ann", "personal:dan"])
def test_every_bucket_is_the_sum_of_its_ledger_changes(world, keys, account):
    busy(world, keys)
    owner = "dan" if account == "personal:dan" else "ann"
    balance = world.session(owner).balance(account)
    entries = world.engine.ledger_entries(account)
    assert sums(entries) == (balance.base, balance.rollover, balance.purchased)
    running = 0
    for entry in entries:
        running += entry.base + entry.rollover + entry.purchased
        assert entry.balance_after == running
        assert entry.account_id == account
    page = world.session(owner).ledger(account, limit=1_000)
    assert page == list(reversed(entries))


def test_entries_are_newest_first_and_page_with_before(world, keys):
    busy(world, keys)
    ann = world.session("ann")
    everything = list(reversed(world.engine.ledger_entries("acme")))
    assert len(everything) > 7
    pages, before = [], None
    while True:
        page = ann.ledger("acme", limit=3, before=before)
        if not page:
            break
        assert len(page) <= 3
        pages.extend(page)
        before = page[-1].id
    assert pages == everything
    assert [e.id for e in pages] == sorted((e.id for e in pages), reverse=True)


def test_the_default_page_is_100_entries(world, keys):
    cat = world.session("cat")
    for _ in range(110):
        cat.record_usage("acme", 1, campaign="tiny", idempotency_key=keys())
    page = world.session("bob").ledger("acme")
    assert len(page) == 100
    assert page[0].kind == "usage" and page[0].balance_after == 890


def test_nothing_edits_or_deletes_an_entry(world, keys):
    busy(world, keys)
    before = world.engine.ledger_entries("acme")
    world.session("cat").record_usage("acme", 5, campaign="c", idempotency_key=keys())
    world.clock.advance(timedelta(days=70))
    after = world.engine.ledger_entries("acme")
    assert after[:len(before)] == before
    assert len(after) > len(before)


def test_entries_say_who_did_what_and_why(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=500, amount=200)
    invoice = ann.purchase_credits("acme", 200, idempotency_key="buy-1")
    world.session("cat").record_usage("acme", 900, campaign="crawl", idempotency_key="job-1")
    entries = world.engine.ledger_entries("acme")
    purchase = next(e for e in entries if e.kind == "purchase")
    assert (purchase.actor, purchase.purchased, purchase.idempotency_key) == ("ann", 200,
                                                                              "buy-1")
    assert purchase.ref in (invoice.id, invoice.number)
    usage = next(e for e in entries if e.kind == "usage")
    assert (usage.actor, usage.ref, usage.idempotency_key) == ("cat", "crawl", "job-1")
    assert (usage.base, usage.rollover, usage.purchased) == (-900, 0, 0)
    recharge = next(e for e in entries if e.kind == "recharge")
    bill = next(i for i in ann.invoices("acme") if i.kind == "recharge")
    assert recharge.ref in (bill.id, bill.number)
    assert recharge.purchased == bill.credits == 200
    assert all(e.at == world.now() for e in (purchase, usage, recharge))


def test_every_dated_thing_follows_the_clock(world, keys):
    world.clock.advance(timedelta(hours=5, minutes=7))
    now = world.now()
    world.session("cat").record_usage("acme", 5, campaign="c", idempotency_key=keys())
    invoice = world.session("ann").purchase_credits("acme", 200, idempotency_key=keys())
    assert invoice.created_at == now
    assert world.engine.ledger_entries("acme")[-1].at == now
