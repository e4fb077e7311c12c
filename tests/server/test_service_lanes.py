"""On SQLite a worker's writing engine calls take turns on one thread (the file admits one
writer at a time), except a debit, which runs on the event loop when the write lock is free
and never waits there for it; reads stay on the pool, beside them. Other stores keep one
pool."""

from __future__ import annotations

import asyncio
import threading

from creditdesk.engine import BillingSession as S
from creditdesk.server.database import sqlite_database
from creditdesk.server.runner import migrate, sql_app
from creditdesk.server.service import READ_COMMANDS, BillingService, Operator
from creditdesk.server.tokens import OPERATOR as OPERATOR_ACTOR

OPERATOR = "operator-token-for-tests-0123456789"


def threads_used(service, calls, actor: str = "ann") -> dict[str, set[str]]:
    """Run `calls` ((command, kwargs) pairs) at once as `actor`; the threads each command
    ran on."""
    seen: dict[str, set[str]] = {}
    lock = threading.Lock()

    def execute(actor, command, kwargs):
        with lock:
            seen.setdefault(command.__name__, set()).add(threading.current_thread().name)

    service.execute = execute

    async def all_at_once():
        await asyncio.gather(*(service.run(actor, command, **kwargs)
                               for command, kwargs in calls))
    asyncio.run(all_at_once())
    return seen


def test_sqlite_writes_share_one_thread_and_reads_use_the_pool(tmp_path):
    database = sqlite_database(tmp_path / "books.sqlite3")
    migrate(database, None, lambda line: None)
    app, store = sql_app(database, OPERATOR, None, {})
    try:
        calls = [(S.record_usage, {"account_id": "acme", "credits": 1, "campaign": "c"})] * 20
        calls += [(S.purchase_credits, {"account_id": "acme", "credits": 1000})] * 5
        calls += [(S.balance, {"account_id": "acme"})] * 20
        seen = threads_used(app.state.service, calls)
    finally:
        store.close()
    # Nothing held the write lock: each debit ran on the loop, at once.
    assert seen["record_usage"] == {threading.main_thread().name}
    writers = seen["purchase_credits"]
    assert len(writers) == 1 and next(iter(writers)).startswith("creditdesk-writer")
    assert all(name.startswith("creditdesk-engine") for name in seen["balance"])


def test_sqlite_operator_commands_keep_the_pool(tmp_path):
    """Loading the demo writes in batches: on the writer's thread it would hold the
    worker's debits for the whole load."""
    database = sqlite_database(tmp_path / "books.sqlite3")
    migrate(database, None, lambda line: None)
    app, store = sql_app(database, OPERATOR, None, {})
    try:
        seen = threads_used(app.state.service, [(Operator.load_demo, {})] * 3,
                            actor=OPERATOR_ACTOR)
    finally:
        store.close()
    assert all(name.startswith("creditdesk-engine") for name in seen["load_demo"])


def test_the_memory_store_keeps_one_pool_for_everything(world):
    service = BillingService(world.engine)
    seen = threads_used(service, [(S.record_usage, {})] * 10 + [(S.balance, {})] * 10)
    assert all(name.startswith("creditdesk-engine") for names in seen.values()
               for name in names)


def test_every_read_command_is_a_session_method():
    assert all(callable(getattr(S, name, None)) for name in READ_COMMANDS)
