"""store/bulk.py: books built in memory, loaded into SQL in short transactions, answer the same.

`--demo`, `POST /v1/admin/demo` (`creditdesk admin load-demo`) and the journal upgrade all
load through it, instead of one long transaction holding the database's write lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from creditdesk.demo import build_demo
from creditdesk.engine import BillingEngine, StoredPaymentGateway
from creditdesk.store import SqlStore
from creditdesk.store.bulk import NotEmpty, load_books


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    world = build_demo(datetime(2026, 5, 20, 12, tzinfo=UTC), seed=3, members=8, months=3)
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('bulk')}/books.db")
    store.migrate()
    commits = []
    sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
    counts = load_books(world.engine.store, store, batch_rows=300)
    engine = BillingEngine(clock=world.clock, payments=StoredPaymentGateway(store),
                           store=store)
    yield world, engine, counts, len(commits)
    store.close()


def views(engine, user: str, account_id: str, start, end) -> list:
    session = engine.session(user)
    return [session.balance(account_id), session.members(account_id),
            session.invoices(account_id), session.ledger(account_id, limit=1000),
            session.subscription(account_id), session.auto_recharge(account_id),
            session.alert_settings(account_id), session.alerts(account_id, limit=1000),
            session.usage_history(account_id, start=start, end=end, granularity="month",
                                  group_by="member"),
            session.usage_history(account_id, start=start, end=end, granularity="day",
                                  group_by="campaign")]


def test_every_account_answers_as_the_memory_books_do(loaded):
    world, engine, counts, _ = loaded
    end = world.clock()
    start = end - timedelta(days=120)
    assert counts.accounts == len(world.engine.account_ids()) > 8
    assert counts.ledger_entries > 100
    assert counts.alerts > 0       # the demo configures alerts and raises some
    assert views(engine, world.owner, world.org_id, start, end) == views(
        world.engine, world.owner, world.org_id, start, end)
    for user in world.engine.users():
        personal = user.personal_account_id
        assert views(engine, user.id, personal, start, end) == views(
            world.engine, user.id, personal, start, end)
        engine.verify(personal)
    engine.verify(world.org_id)


def test_the_load_is_many_short_transactions(loaded):
    _, _, counts, commits = loaded
    assert commits >= counts.ledger_entries // 300


def test_new_ids_continue_after_the_loaded_ones(loaded):
    world, engine, _, _ = loaded
    last_entry = max(e.id for a in engine.account_ids() for e in engine.ledger_entries(a))
    last_invoice = max(int(i.id.rsplit("_", 1)[1])
                       for a in engine.account_ids() for i in engine.session(
                           _owner_of(world, a)).invoices(a))
    session = engine.session(world.owner)
    receipt = session.record_usage(world.org_id, 1, campaign="after",
                                   idempotency_key="after-load")
    assert receipt.from_base + receipt.from_rollover + receipt.from_purchased == 1
    assert engine.ledger_entries(world.org_id)[-1].id == last_entry + 1
    invoice = session.purchase_credits(world.org_id, 1_000, idempotency_key="after-pack")
    assert int(invoice.id.rsplit("_", 1)[1]) == last_invoice + 1


def _owner_of(world, account_id: str) -> str:
    return world.owner if account_id == world.org_id else account_id.split(":", 1)[1]


def test_only_empty_books_take_a_load(loaded):
    world, engine, _, _ = loaded
    with pytest.raises(NotEmpty):
        load_books(world.engine.store, engine.store)
