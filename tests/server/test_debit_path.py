"""What one debit over HTTP costs the SQL books: the statements it runs, and the caller's
session kept between requests (without letting an unknown user through)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import event

from creditdesk.engine import BillingEngine
from creditdesk.errors import NotFound
from creditdesk.server.database import sqlite_database
from creditdesk.server.runner import migrate, sql_app
from creditdesk.server.service import BillingService

from .conftest import OPERATOR
from .test_operator_api import set_up


async def test_a_debit_over_http_is_one_transaction_on_sql_books(tmp_path):
    database = sqlite_database(tmp_path / "books.sqlite3")
    # No test clock: reading the shared one is a statement of its own on every call.
    migrate(database, None, lambda line: None)
    app, store = sql_app(database, OPERATOR, None, {"rate": None})
    begun: list[str] = []

    def seen(statement: str) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)
    # Through SQLAlchemy or sent by the store to the driver itself (store/sql_driver.py).
    event.listen(store.engine, "before_cursor_execute", lambda conn, cursor, statement,
                 *_: seen(statement))
    store.driver.watch(lambda _connection, statement, *_: seen(statement))

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as client:
            auth = {"Authorization": f"Bearer {await set_up(client)}"}

            async def debit(key: str) -> None:
                answer = await client.post("/v1/accounts/acme/usage", json={
                    "credits": 1, "campaign": "c"}, headers={**auth, "Idempotency-Key": key})
                assert answer.status_code == 200, answer.text

            await debit("first")        # the token and the caller's session are known now
            begun.clear()
            await debit("second")
            # Only the debit's own locked transaction: the caller is not looked up again.
            assert begun == ["BEGIN IMMEDIATE"]
    finally:
        store.close()


def test_the_service_keeps_sessions_but_never_admits_an_unknown_user(world):
    service = BillingService(world.engine)
    first = service.session("ann")
    assert service.session("ann") is first and first.user_id == "ann"
    for _ in range(2):              # a refusal is not remembered as anything
        with pytest.raises(NotFound):
            service.session("zed")
    world.engine.add_user("zed", name="Zed", email="zed@example.com",
                          plan=world.engine.plan_list()[0].id)
    assert service.session("zed").user_id == "zed"


def test_sessions_follow_the_engine_the_service_serves(world):
    service = BillingService(world.engine)
    service.session("ann")
    replacement = BillingEngine(clock=world.engine.clock)
    service.operator.engine = replacement       # as loading the demo in memory does
    with pytest.raises(NotFound):
        service.session("ann")                  # not a user of the new engine


async def test_the_rate_limit_asks_a_thread_only_for_a_token_it_does_not_know(world,
                                                                             monkeypatch):
    """A known token is told apart on the event loop; the database lookup of one this
    process has not seen still goes to a thread (and a bad token is still a failed try)."""
    import anyio.to_thread

    from creditdesk.server.app import create_app
    from creditdesk.server.tokens import TokenStore, token_hash

    class SharedTokens:                 # what the SQL store answers, counted
        def __init__(self) -> None:
            self.saved: dict[str, str] = {}
            self.asked = 0

        def save_token(self, digest: str, user: str) -> None:
            self.saved[digest] = user

        def token_user(self, digest: str) -> str | None:
            self.asked += 1
            return self.saved.get(digest)

    shared = SharedTokens()
    app = create_app(world.engine, operator_token=OPERATOR, shared_tokens=shared, limits={})
    issued_elsewhere = "token-issued-by-another-worker-0123456789"
    shared.save_token(token_hash(issued_elsewhere), "ann")
    hopped: list[str] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counted(function, *args, **kwargs):
        hopped.append(getattr(function, "__name__", repr(function)))
        return await real_run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        async def me(token: str) -> int:
            hopped.clear()
            return (await client.get("/v1/me", headers={
                "Authorization": f"Bearer {token}"})).status_code

        assert await me(issued_elsewhere) == 200
        assert "bucket_of" in hopped and shared.asked == 1    # looked up, off the loop
        assert await me(issued_elsewhere) == 200
        assert "bucket_of" not in hopped and shared.asked == 1  # known now: no hop
        assert await me("no-such-token") == 401
        assert "bucket_of" in hopped                          # unknown: asked again
    assert TokenStore(None).cached("anything") == (True, None)


def test_engine_calls_at_once_leave_every_call_a_second_connection(tmp_path):
    """On PostgreSQL a call may need a second pooled connection inside its transaction
    (the shared test clock): more calls at once than that allows deadlocked the pool under
    16 concurrent debits (tests/reliability/test_http_concurrency.py on PostgreSQL)."""
    from creditdesk.server.service import DEFAULT_CALLS_AT_ONCE, calls_at_once
    from creditdesk.store import MemoryStore, SqlStore

    postgres = SqlStore("postgresql+psycopg://nobody@/nothing?host=/nonexistent")
    sqlite = SqlStore(f"sqlite:///{tmp_path / 'books.sqlite3'}")
    try:
        pool = postgres.engine.pool
        assert 1 <= 2 * calls_at_once(postgres) <= pool.size() + pool._max_overflow
        # No bound on SQLite's pool: as many as the engine's threads.
        assert calls_at_once(sqlite) == DEFAULT_CALLS_AT_ONCE
        assert calls_at_once(MemoryStore()) == DEFAULT_CALLS_AT_ONCE
    finally:
        postgres.close()
        sqlite.close()


async def test_the_gate_looks_a_token_up_off_the_event_loop(world):
    """With the rate limit off nothing else has looked the token up: the gate itself must
    ask the database in a thread (an unreachable database would otherwise hang the loop
    for its connect timeout), for a token issued by another worker and for a made-up one."""
    import asyncio

    from creditdesk.server.app import create_app
    from creditdesk.server.tokens import token_hash

    class SharedTokens:
        def __init__(self) -> None:
            self.saved: dict[str, str] = {}
            self.on_loop: list[str] = []

        def save_token(self, digest: str, user: str) -> None:
            self.saved[digest] = user

        def token_user(self, digest: str) -> str | None:
            try:
                asyncio.get_running_loop()
                self.on_loop.append(digest)
            except RuntimeError:
                pass                                # a worker thread: as it should be
            return self.saved.get(digest)

    shared = SharedTokens()
    app = create_app(world.engine, operator_token=OPERATOR, shared_tokens=shared,
                     limits={"rate": None})
    elsewhere = "token-issued-by-another-worker-0123456789"
    shared.save_token(token_hash(elsewhere), "ann")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        async def me(token: str) -> int:
            return (await client.get("/v1/me", headers={
                "Authorization": f"Bearer {token}"})).status_code

        assert await me(elsewhere) == 200
        assert await me("made-up-token-0123456789abcdef") == 401
    assert shared.on_loop == []


def test_the_test_clock_is_read_on_the_open_transaction(tmp_path):
    """Inside a write the engine asks the shared test clock; reading it on a second pooled
    connection is what let 16 concurrent debits use up a PostgreSQL pool."""
    from datetime import UTC, datetime

    from creditdesk.store import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path / 'books.sqlite3'}")
    try:
        store.migrate()
        store.save_clock(datetime(2026, 3, 1, tzinfo=UTC))
        checkouts: list[object] = []
        event.listen(store.engine.pool, "checkout", lambda *args: checkouts.append(args))
        with store.write("nobody"):
            assert store.stored_clock() == datetime(2026, 3, 1, tzinfo=UTC)
        assert len(checkouts) == 1                  # the write's own connection only
    finally:
        store.close()
