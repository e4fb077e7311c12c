"""The debit path's statements sent to the driver by the store itself (store/sql_driver.py):
inside the SQLAlchemy transaction, their failures seen as SQLAlchemy's, so a locked
database is retried and a dead connection leaves the pool, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from creditdesk.store.schema import accounts
from tests.store.test_sql_store import _org_on
from tests.support.postgres import postgres_cluster, postgres_url  # noqa: F401


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/books.db"
    return request.getfixturevalue("postgres_url")


def _sent(store, session, key: str) -> tuple[list[str], list[str]]:
    """(what SQLAlchemy executed, what the store sent to the driver) during one debit."""
    through_sqlalchemy: list[str] = []
    to_driver: list[str] = []

    def executed(conn, cursor, statement, *_args) -> None:
        through_sqlalchemy.append(statement.split()[0])
    event.listen(store.engine, "before_cursor_execute", executed)
    stop = store.driver.watch(lambda _db, statement, *_: to_driver.append(statement))
    try:
        session.record_usage("acme", 5, campaign="c", idempotency_key=key)
    finally:
        event.remove(store.engine, "before_cursor_execute", executed)
        stop()
    return through_sqlalchemy, to_driver


def test_a_debit_sends_its_statements_to_the_driver_in_its_transaction(url):
    store, engine, _clock = _org_on(url)
    session = engine.session("u1")
    session.record_usage("acme", 5, campaign="c", idempotency_key="warm")
    through_sqlalchemy, to_driver = _sent(store, session, "counted")
    assert through_sqlalchemy == []
    firsts = [statement.split()[0] for statement in to_driver]
    # The account, the member, the key; on PostgreSQL also the entry id (nextval).
    assert firsts.count("SELECT") == 3 + (store.dialect == "postgresql")
    assert any(statement.startswith("INSERT INTO ledger") for statement in to_driver)
    if store.dialect == "sqlite":
        # BEGIN IMMEDIATE (psycopg begins by itself), the counter, the two roll-ups.
        assert firsts[0] == "BEGIN" and len(to_driver) == 11
    else:
        # Both roll-ups in one statement (the day rows' upsert in a CTE).
        assert firsts[-1] == "WITH" and len(to_driver) == 9
    engine.verify("acme")
    # One transaction: a failed last statement takes the ledger row back with it.
    stop = store.driver.watch(_fail_on(to_driver[-1][:20], RuntimeError("lost")))
    with pytest.raises(RuntimeError):
        session.record_usage("acme", 5, campaign="c", idempotency_key="lost")
    stop()
    assert [e.idempotency_key for e in engine.ledger_entries("acme")][-1] == "counted"
    engine.verify("acme")
    store.close()


def _fail_on(prefix: str, error: Exception):
    """A watcher raising `error` at the first statement starting with `prefix`."""
    armed = [True]

    def watcher(_connection, statement: str, *_args) -> None:
        if armed[0] and statement.startswith(prefix):
            armed[0] = False
            raise error
    return watcher


def test_a_locked_database_met_by_the_driver_is_retried_on_fresh_state(tmp_path):
    store, engine, _clock = _org_on(f"sqlite:///{tmp_path}/books.db")
    session = engine.session("u0")
    before = session.balance("acme").total
    locked = sqlite3.OperationalError("database is locked")
    stop = store.driver.watch(_fail_on("INSERT INTO ledger", locked))
    try:
        receipt = session.record_usage("acme", 7, campaign="c", idempotency_key="once")
    finally:
        stop()
    assert receipt.balance.total == before - 7
    assert [e.idempotency_key for e in engine.ledger_entries("acme")].count("once") == 1
    engine.verify("acme")
    store.close()


def test_a_driver_failure_is_sqlalchemys_and_a_dead_connection_is_invalidated(url):
    store, _engine, _clock = _org_on(url)
    driver = store.driver
    select = driver.compiled(sa.select(accounts.c.id, accounts.c.paused)
                             .where(accounts.c.id == sa.bindparam("w_id")))
    with store.engine.connect() as conn:
        row = driver.first(conn, select, {"w_id": "acme"})
        assert row.id == "acme" and row.paused is False     # SQLite's 0 read as a boolean
        conn.rollback()
        # The connection goes away under the transaction (a server restart, a crash).
        stop = driver.watch(lambda connection, *_: connection.close())
        with pytest.raises(sa.exc.DBAPIError) as failure:
            driver.first(conn, select, {"w_id": "acme"})
        stop()
        assert failure.value.connection_invalidated and conn.invalidated
    with store.engine.connect() as conn:        # the pool gives a working one
        assert driver.first(conn, select, {"w_id": "acme"}).id == "acme"
    store.close()


def test_pooled_connections_the_server_ended_are_replaced_before_use(postgres_url):
    """Why PostgreSQL keeps pool_pre_ping: a disconnect is not retried (only what the
    database gave up is: sql_transactions.RETRY_STATES), so without the ping the first
    debit after a server restart would meet the dead pooled connection and fail."""
    store, engine, _clock = _org_on(postgres_url)
    session = engine.session("u0")
    session.record_usage("acme", 5, campaign="c", idempotency_key="before")
    with store.engine.connect() as conn:    # the server ends every other backend of ours
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                             "datname = current_database() AND pid <> pg_backend_pid()"))
    receipt = session.record_usage("acme", 5, campaign="c", idempotency_key="after")
    assert [e.idempotency_key for e in engine.ledger_entries("acme")][-1] == "after"
    assert receipt.balance.total == 1_000 - 10
    store.close()

