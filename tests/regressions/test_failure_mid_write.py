"""A failure injected in the middle of a write leaves nothing half-written, and the retry
is computed again on fresh state (not from what the failed attempt had computed)."""

from __future__ import annotations

import pytest
from sqlalchemy import event


class Injected(Exception):
    """The database 'failing' half-way through a transaction."""


def fail_once_on(store, table: str):
    """Make the next statement that writes `table` raise, inside the open transaction,
    whichever way it is sent: through SQLAlchemy, or to the driver by the store itself
    (the debit path's statements, store/sql_driver.py)."""
    state = {"armed": True}

    def check(statement: str) -> None:
        words = statement.lstrip().upper()
        if state["armed"] and words.startswith(("INSERT", "UPDATE")) and \
                f" {table.upper()}" in words:
            state["armed"] = False
            raise Injected(f"injected while writing {table}")

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        check(statement)
    event.listen(store.engine, "before_cursor_execute", before)
    stop_watching = store.driver.watch(lambda _db, statement, *_: check(statement))

    def stop() -> None:
        event.remove(store.engine, "before_cursor_execute", before)
        stop_watching()
    return stop


def books(world) -> tuple:
    ann = world.session("ann")
    balance = ann.balance("acme")
    members = {m.user_id: m.used_this_period for m in ann.members("acme")}
    return (balance.base, balance.rollover, balance.purchased, members,
            len(world.engine.ledger_entries("acme")), len(ann.invoices("acme")))


@pytest.mark.parametrize("table", ["ledger", "accounts", "memberships"])
def test_a_debit_failing_half_way_writes_nothing_and_its_retry_is_fresh(world, table):
    """Lago #3895 (a failed job left a half-applied wallet transaction), #4987 (balance
    updated but the transaction row missing), #5070 (a retry reused the stale balance it
    had computed before the failure)."""
    before = books(world)
    stop = fail_once_on(world.engine.store, table)
    try:
        with pytest.raises(Injected):
            world.session("bob").record_usage("acme", 120, campaign="c",
                                              idempotency_key="half")
    finally:
        stop()
    assert books(world) == before                   # not a row, not a counter moved
    # Someone else spends meanwhile: the retry must see that balance, not the old one.
    world.session("cat").record_usage("acme", 50, campaign="c", idempotency_key="other")
    retry = world.session("bob").record_usage("acme", 120, campaign="c",
                                              idempotency_key="half")
    assert retry.balance.total == before[0] + before[1] + before[2] - 170
    assert [e.idempotency_key for e in world.engine.ledger_entries("acme")
            if e.kind == "usage"].count("half") == 1


def test_a_top_up_failing_half_way_leaves_no_invoice_and_no_credit(world):
    """Lago #4987 for a purchase: the invoice row is written, then the transaction fails:
    no invoice, no credit, and the retry buys exactly once."""
    before = books(world)
    stop = fail_once_on(world.engine.store, "ledger")
    try:
        with pytest.raises(Injected):
            world.session("ann").purchase_credits("acme", 600, idempotency_key="top")
    finally:
        stop()
    assert books(world) == before
    world.session("ann").purchase_credits("acme", 600, idempotency_key="top")
    after = books(world)
    assert after[2] == before[2] + 600 and after[5] == before[5] + 1


@pytest.mark.stores("postgresql")
def test_a_connection_killed_mid_transaction_writes_nothing(world):
    """Lago #3895 with a real failure on PostgreSQL: the server ends the backend (as a
    failover or an operator would) while the debit's transaction is open."""
    store = world.engine.store
    assert store.dialect == "postgresql"      # pg_terminate_backend is PostgreSQL's
    import sqlalchemy as sa
    before = books(world)
    state = {"armed": True}

    def kill_own_backend(connection, statement, parameters, executemany):
        # The ledger insert goes to the driver itself (store/sql_driver.py).
        if state["armed"] and statement.lstrip().upper().startswith("INSERT INTO LEDGER"):
            state["armed"] = False
            pid = connection.info.backend_pid
            with sa.create_engine(store.url, poolclass=sa.pool.NullPool).connect() as other:
                other.execute(sa.text(f"SELECT pg_terminate_backend({pid})"))
    stop = store.driver.watch(kill_own_backend)
    dropped: list[object] = []

    def invalidated(dbapi_connection, record, exception) -> None:
        dropped.append(dbapi_connection)
    event.listen(store.engine, "invalidate", invalidated)
    try:
        with pytest.raises(sa.exc.DBAPIError) as failure:
            world.session("bob").record_usage("acme", 80, campaign="c",
                                              idempotency_key="killed")
    finally:
        stop()
        event.remove(store.engine, "invalidate", invalidated)
    assert not state["armed"]                       # the backend was ended mid-transaction
    # Taken for a disconnect, and the dead connection left the pool.
    assert failure.value.connection_invalidated and dropped
    assert books(world) == before
    receipt = world.session("bob").record_usage("acme", 80, campaign="c",
                                                idempotency_key="killed")
    assert receipt.balance.total == sum(before[:3]) - 80
