"""Audit of spec/billing-rules.md against the engine: the rules (or the edges of rules) that no
other suite asserted. Each test names the rule it checks; the worlds run on the memory store
and on SQLite, as the engine suites do."""

from __future__ import annotations

import itertools

import pytest

from creditdesk import rules
from creditdesk.errors import InsufficientCredits, InvalidRequest
from creditdesk.models import MAX_CREDITS
from tests.store.stores import store_factory  # noqa: F401 - every engine store
from tests.support.alert_pages import raise_1005_alerts


@pytest.fixture
def keys():
    counter = itertools.count(1)
    return lambda: f"audit-{next(counter)}"


def books(world) -> dict:
    """Everything a refusal must leave as it was."""
    ann = world.session("ann")
    return {"entries": {a: world.engine.ledger_entries(a) for a in world.engine.account_ids()},
            "invoices": ann.invoices("acme"), "balance": ann.balance("acme")}


# --- Idempotency: "Debits, purchases and invoice payments carry an idempotency key" ----------
# A key travels as the HTTP header Idempotency-Key; one a header cannot carry as it is would
# crash the remote backend, or (spaces around it, stripped by HTTP parsers) meet another key.

@pytest.mark.parametrize(("key", "safe"), [
    ("k1", True), ("a b", True), ("order:42/retry#1", True), ("~" * 255, True),
    ("ключ", False), ("clé", False), (" k", False), ("k ", False), ("a\nb", False),
    ("tab\tkey", False), ("nul\x00", False), ("del\x7f", False),
])
def test_header_safe_keys(key, safe):
    assert rules.header_safe(key) is safe


@pytest.mark.parametrize("key", ["ключ", " k", "k ", "a\r\nX-Evil: 1", "\t"])
def test_a_key_no_header_carries_is_refused_everywhere_and_changes_nothing(world, key):
    before = books(world)
    world.payments.decline("acme")      # a key let through would leave a failed invoice
    calls = (
        lambda: world.session("cat").record_usage("acme", 5, campaign="c",
                                                  idempotency_key=key),
        lambda: world.session("ann").purchase_credits("acme", 200, idempotency_key=key),
        lambda: world.session("ann").pay_invoice("acme", before["invoices"][0].id,
                                                 idempotency_key=key),
    )
    for call in calls:
        with pytest.raises(InvalidRequest) as refused:
            call()
        assert refused.value.field == "idempotency_key"
        assert refused.value.message
    assert books(world) == before


def test_a_key_of_255_visible_characters_is_the_longest(world):
    cat = world.session("cat")
    assert cat.record_usage("acme", 1, campaign="c", idempotency_key="x" * 255).credits == 1
    with pytest.raises(InvalidRequest) as refused:
        cat.record_usage("acme", 1, campaign="c", idempotency_key="x" * 256)
    assert refused.value.field == "idempotency_key"


# --- Units: "absurdly large (over 10^12 credits)" is refused; 10^12 itself is not ----------

def test_a_purchase_of_exactly_ten_to_the_twelve_is_allowed(world, keys):
    ann = world.session("ann")
    assert MAX_CREDITS == 10**12
    invoice = ann.purchase_credits("acme", MAX_CREDITS, idempotency_key=keys())
    assert (invoice.credits, invoice.amount_cents) == (MAX_CREDITS, MAX_CREDITS // 2)
    before = books(world)
    with pytest.raises(InvalidRequest) as refused:
        ann.purchase_credits("acme", MAX_CREDITS + 200, idempotency_key=keys())
    assert refused.value.field == "credits"
    assert books(world) == before


# --- Auto-recharge: "counted before the monthly cap" and "stay bought" ----------------------

def recharge(world, **settings) -> None:
    world.session("ann").configure_auto_recharge("acme", enabled=True, **settings)


def test_the_ten_amount_bound_is_counted_before_the_cap(world, keys):
    """Eleven amounts needed, a cap that allows three: nothing is bought (not three)."""
    recharge(world, threshold=2_200, amount=200, monthly_cap_cents=300)
    ann = world.session("ann")
    receipt = world.session("cat").record_usage("acme", 1_000, campaign="c",
                                                idempotency_key=keys())
    assert receipt.recharged == 0 and receipt.from_base == 1_000
    assert ann.auto_recharge("acme").spent_this_period_cents == 0
    assert [i.kind for i in ann.invoices("acme")] == ["subscription"]


def test_under_the_bound_the_cap_cuts_the_purchase_to_whole_amounts(world, keys):
    """Five amounts needed, a cap of $3 (three amounts of $1): three are bought."""
    recharge(world, threshold=1_000, amount=200, monthly_cap_cents=300)
    ann = world.session("ann")
    receipt = world.session("cat").record_usage("acme", 1_000, campaign="c",
                                                idempotency_key=keys())
    assert receipt.recharged == 600
    assert ann.auto_recharge("acme").spent_this_period_cents == 300
    assert ann.balance("acme").total == 600


def test_credits_bought_stay_when_the_debit_is_still_refused(world):
    """A cap that allows one amount of two needed: it is bought, the debit refused, the key
    remembers nothing, and a retry under it buys nothing more (the cap is spent)."""
    recharge(world, threshold=0, amount=200, monthly_cap_cents=100)
    ann, cat = world.session("ann"), world.session("cat")
    for _ in range(2):
        with pytest.raises(InsufficientCredits):
            cat.record_usage("acme", 1_400, campaign="c", idempotency_key="same")
        balance = ann.balance("acme")
        assert (balance.base, balance.purchased, balance.autopilot) == (1_000, 200, "paused")
        assert [(i.kind, i.status) for i in ann.invoices("acme")] == [
            ("recharge", "paid"), ("subscription", "paid")]
    # Not remembered: the same key now succeeds once the balance covers it.
    ann.purchase_credits("acme", 200, idempotency_key="top-up")
    assert cat.record_usage("acme", 1_400, campaign="c",
                            idempotency_key="same").from_purchased == 400


# --- The alerts page: "a larger `limit` is cut to the cap (1,000), not refused (in the
# engine too)"; tests/engine only had five alerts to page ----------------------------------

def test_the_engines_alert_page_is_cut_to_1000(world):
    owner = world.session("ann")
    raise_1005_alerts(world)
    page = owner.alerts("acme", limit=5_000)
    assert len(page) == 1_000
    assert page == owner.alerts("acme", limit=1_000)
    assert [a.id for a in page] == sorted((a.id for a in page), reverse=True)
    rest = owner.alerts("acme", limit=5_000, before=page[-1].id)
    assert len(rest) == 5 and not {a.id for a in rest} & {a.id for a in page}
