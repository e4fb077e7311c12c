"""The SQL store on SQLite: its schema steps, its file, its locks, and books that outlive
the process (a second engine on the same file sees the first one's writes)."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from creditdesk.engine import BillingEngine, ManualClock, StoredPaymentGateway
from creditdesk.errors import InsufficientCredits
from creditdesk.models import Plan
from creditdesk.store import SqlStore
from creditdesk.store.schema import STEPS
from creditdesk.store.sql import engine_url

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
TEAM = Plan(id="team", name="Team", base_credits_per_month=1_000, rollover_cap=500,
            billing_period="monthly", price_cents=4_900)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "books.db"


def _engine(store: SqlStore, clock: ManualClock) -> BillingEngine:
    return BillingEngine(clock=clock, payments=StoredPaymentGateway(store), store=store)


def _org(path, members: int = 3) -> tuple[SqlStore, BillingEngine, ManualClock]:
    return _org_on(f"sqlite:///{path}", members)


def _org_on(url: str, members: int = 3) -> tuple[SqlStore, BillingEngine, ManualClock]:
    """acme (owner u0, members u1..) on a fresh store at `url`."""
    store = SqlStore(url)
    store.migrate()
    clock = ManualClock(START)
    engine = _engine(store, clock)
    engine.add_plan(TEAM)
    for n in range(members):
        engine.add_user(f"u{n}", name=f"User {n}", plan="team")
    engine.create_org("acme", name="Acme", owner="u0", plan="team")
    for n in range(1, members):
        engine.add_member("acme", f"u{n}")
    return store, engine, clock


def test_each_schema_step_runs_once_and_migrate_is_idempotent(path):
    store = SqlStore(f"sqlite:///{path}")
    assert store.schema_version() == 0
    assert store.migrate() == len(STEPS)
    assert store.schema_version() == len(STEPS)
    assert store.migrate() == len(STEPS)          # nothing left to do, nothing repeated
    with store.engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version FROM schema_version")).scalars()
        assert sorted(versions) == list(range(1, len(STEPS) + 1))
        tables = set(sa.inspect(conn).get_table_names())
    assert {"accounts", "memberships", "ledger", "invoices", "idempotency", "usage_day",
            "usage_month", "users", "plans", "tokens", "test_clock", "gateway_declines",
            "gateway_charges"} <= tables
    store.close()


def test_the_database_file_is_private_and_in_wal_mode(path):
    store, _, _ = _org(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_a_postgresql_url_means_psycopg():
    assert engine_url("postgresql://u:p@127.0.0.1/db").drivername == "postgresql+psycopg"
    assert engine_url("postgresql+psycopg://u@127.0.0.1/db").drivername == \
        "postgresql+psycopg"
    assert engine_url("sqlite:///x.db").drivername == "sqlite"


def test_the_books_outlive_the_engine(path):
    store, engine, clock = _org(path)
    owner = engine.session("u0")
    first = owner.record_usage("acme", 300, campaign="c", idempotency_key="k")
    store.close()
    again = SqlStore(f"sqlite:///{path}")
    again.migrate()
    later = _engine(again, clock)
    assert later.session("u0").balance("acme").total == 700
    # A replay after the restart answers exactly what the first call did.
    assert later.session("u0").record_usage("acme", 300, campaign="c",
                                            idempotency_key="k") == first
    later.verify("acme")
    again.close()


def test_a_refusal_that_changes_nothing_writes_nothing(path):
    store, engine, _ = _org(path)
    member = engine.session("u1")
    with pytest.raises(InsufficientCredits):
        member.record_usage("acme", 5_000, campaign="c", idempotency_key="big")

    def counts():
        with store.engine.connect() as conn:
            return [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                    for t in ("ledger", "idempotency", "invoices", "usage_day")]
    before = counts()
    for _ in range(20):
        with pytest.raises(InsufficientCredits):
            member.record_usage("acme", 5_000, campaign="c", idempotency_key="big")
    assert counts() == before
    store.close()


def test_concurrent_debits_on_two_engines_never_overdraw(path):
    """Two engines (two workers) on one file, eight threads: BEGIN IMMEDIATE serializes
    each balance check with its debit, so exactly the covered debits go through."""
    store, engine, clock = _org(path, members=4)
    second_store = SqlStore(f"sqlite:///{path}")
    engines = [engine, _engine(second_store, clock)]
    done, refused = [], []

    def spend(worker: int) -> None:
        session = engines[worker % 2].session(f"u{worker % 4}")
        for n in range(15):
            try:
                session.record_usage("acme", 10, campaign="c",
                                     idempotency_key=f"w{worker}-{n}")
                done.append(1)
            except InsufficientCredits:
                refused.append(1)
    threads = [threading.Thread(target=spend, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 100 and len(refused) == 20       # 1,000 credits, 120 x 10 asked
    balance = engine.session("u0").balance("acme")
    assert balance.total == 0
    engine.verify("acme")
    store.close()
    second_store.close()


def test_one_key_sent_from_many_threads_is_applied_once(path):
    store, engine, _ = _org(path)
    answers = []

    def send() -> None:
        answers.append(engine.session("u0").record_usage("acme", 50, campaign="c",
                                                         idempotency_key="same"))
    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({answer.model_dump_json() for answer in answers}) == 1
    assert engine.session("u0").balance("acme").total == 950
    store.close()


def test_the_gateway_keeps_declines_and_charges_by_key_for_every_worker(path):
    store, engine, clock = _org(path)
    other = _engine(SqlStore(f"sqlite:///{path}"), clock)
    other.payments.decline("acme")
    assert engine.payments.is_declining("acme")
    charged = len(engine.payments.charges)
    result = engine.payments.charge("acme", 500, "once", "acme/purchase/k/1")
    assert not result.ok
    other.payments.decline("acme", False)
    # The same key is the same charge: a retried transaction is never charged twice.
    assert other.payments.charge("acme", 500, "once", "acme/purchase/k/1") == result
    assert len(engine.payments.charges) == charged + 1
    store.close()
    other.store.close()
