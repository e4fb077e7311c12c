"""A debit on SQLite runs on the event loop only while the file's write lock is free: when
another connection (another worker, a load, a sqlite3 shell) holds it, the loop does not
wait; the debit waits on the writer's thread and is applied once, after the lock is let go."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading

import httpx

from creditdesk.server.database import sqlite_database
from creditdesk.server.runner import migrate, sql_app
from creditdesk.server.service import BillingService
from creditdesk.store.retry import RetryTransaction

from .conftest import OPERATOR
from .test_operator_api import set_up


def ran_on(service: BillingService) -> list[str]:
    """The threads `service`'s calls run on, from now on (each call still runs)."""
    threads: list[str] = []
    execute = service.execute

    def recorded(actor, command, kwargs):
        threads.append(threading.current_thread().name)
        return execute(actor, command, kwargs)
    service.execute = recorded
    return threads


async def test_a_debit_never_waits_on_the_loop_for_a_held_write_lock(tmp_path):
    path = tmp_path / "books.sqlite3"
    database = sqlite_database(path)
    migrate(database, None, lambda line: None)
    app, store = sql_app(database, OPERATOR, None, {"rate": None})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as client:
            auth = {"Authorization": f"Bearer {await set_up(client)}"}

            async def debit(key: str) -> httpx.Response:
                return await client.post("/v1/accounts/acme/usage", json={
                    "credits": 7, "campaign": "c"}, headers={**auth, "Idempotency-Key": key})

            threads = ran_on(app.state.service)
            assert (await debit("free")).status_code == 200
            assert threads == [threading.main_thread().name]     # the lock was free

            before = (await client.get("/v1/accounts/acme/balance", headers=auth)).json()
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")                      # another writer holds it
            threads.clear()
            held = asyncio.create_task(debit("held"))
            ticks = 0
            for _ in range(20):                                   # the loop goes on
                await asyncio.sleep(0.01)
                ticks += 1
            assert not held.done() and ticks == 20
            other.execute("ROLLBACK")
            answer = await asyncio.wait_for(held, 30)
            other.close()
            assert answer.status_code == 200, answer.text
            # The loop found the lock held at its BEGIN and ran nothing: the debit was
            # applied on the writer's thread, once.
            assert len(threads) == 1 and threads[0].startswith("creditdesk-writer")
            replay = await debit("held")
            assert replay.content == answer.content
            after = (await client.get("/v1/accounts/acme/balance", headers=auth)).json()
            assert before["total"] - after["total"] == 7        # applied once
            spent = [e for e in (await client.get("/v1/accounts/acme/ledger",
                                                  headers=auth)).json()
                     if e.get("kind") == "usage"]
            assert len(spent) == 2
    finally:
        store.close()


def test_a_thread_that_may_wait_still_waits_after_one_that_may_not(tmp_path):
    """The lock wait stays with the pooled connection: the loop's 'no wait' must not leak
    into the writer's thread, which must wait (SQLite's busy timeout back to 30 s)."""
    database = sqlite_database(tmp_path / "books.sqlite3")
    migrate(database, None, lambda line: None)
    _app, store = sql_app(database, OPERATOR, None, {"rate": None})
    try:
        with store.without_waiting(), store.write("nobody"):
            pass
        other = sqlite3.connect(tmp_path / "books.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")        # and a failed no-wait begin, too
        with (store.without_waiting(), contextlib.suppress(RetryTransaction),
              store.write("nobody")):
            pass
        other.execute("ROLLBACK")
        other.close()
        with store.engine.connect() as conn:
            wait = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert wait == 30_000
    finally:
        store.close()
