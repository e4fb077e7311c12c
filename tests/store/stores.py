"""The stores a suite runs on: one fixture, `store_factory`, parametrized over their kinds.

A conftest (or test module) that wants the engine suites' stores says
`from tests.store.stores import store_factory`; one that must also run on PostgreSQL (the
backend contract and the HTTP tests, issue 8 part 5) says
`from tests.store.stores import store_factory_on_every_store`: that fixture is also named
`store_factory`, so the worlds of tests/conftest.py pick it up unchanged. A module where only
some tests touch the store imports `store_factory_memory_unless_asked` and marks those tests
`@on_every_store`; the rest (checks the HTTP layer makes before any store is read) run once,
on memory.
Add a kind by adding its name to the kinds below and a branch to `_factory`.

A world's books start empty and migrated. Building that from nothing costs ~50 ms on SQLite
and ~0.3 s on PostgreSQL, paid by thousands of worlds, so each process migrates once: SQLite
worlds get a copy of a migrated file, PostgreSQL worlds reuse an emptied database
(tests/support/postgres.py). Each world still has books of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil

import pytest


def _kinds(default: str) -> list[str]:
    # CREDITDESK_STORES=memory,sqlite,postgresql picks the kinds of every suite by hand.
    return os.environ.get("CREDITDESK_STORES", default).split(",")


# The engine's rules are the same code over every store; its suites run on memory and
# SQLite (the SQL store's PostgreSQL side is covered by tests/store, tests/regressions and
# the suites below). The contract and HTTP tests run on all three.
STORE_KINDS = _kinds("memory,sqlite")
EVERY_STORE = _kinds("memory,sqlite,postgresql")

_sqlite_templates: dict[str, str] = {}       # the session's temp folder -> its template


def _sqlite_template(tmp_path_factory) -> str:
    """A migrated, empty SQLite file, made once per test session and process."""
    session = str(tmp_path_factory.getbasetemp())
    if session not in _sqlite_templates:
        from creditdesk.store import SqlStore
        path = tmp_path_factory.mktemp("template") / "books.db"
        store = SqlStore(f"sqlite:///{path}")
        try:
            store.migrate()
        finally:
            store.close()       # the last connection folds the WAL back into the file
        _sqlite_templates[session] = str(path)
    return _sqlite_templates[session]


def _sqlite(tmp_path_factory, request):
    from creditdesk.store import SqlStore
    template = _sqlite_template(tmp_path_factory)
    folder = tmp_path_factory.mktemp("books")
    numbers = itertools.count(1)
    opened = []

    def sqlite_store():
        path = f"{folder}/books-{next(numbers)}.db"
        shutil.copy2(template, path)        # copy2 keeps the file private (0600)
        store = SqlStore(f"sqlite:///{path}")
        store.migrate()                     # at the schema already: checks, changes nothing
        opened.append(store)
        return store
    request.addfinalizer(lambda: [store.close() for store in opened])
    return sqlite_store


def _postgresql(request):
    from creditdesk.store import SqlStore
    from tests.support.postgres import shared_cluster
    cluster = shared_cluster()
    opened = []

    def postgres_store():
        name = cluster.migrated_database()
        store = SqlStore(cluster.url(name))
        opened.append((store, name))
        store.migrate()
        return store

    def close_all():
        for store, name in opened:
            store.close()
            cluster.give_back(name)
    request.addfinalizer(close_all)
    return postgres_store


def _factory(kind: str, tmp_path_factory, request):
    if kind == "memory":
        from creditdesk.store import MemoryStore
        return MemoryStore
    if kind == "sqlite":
        return _sqlite(tmp_path_factory, request)
    if kind == "postgresql":
        return _postgresql(request)
    raise ValueError(f"no store kind {kind!r}")


@pytest.fixture(params=STORE_KINDS)
def store_factory(request, tmp_path_factory):
    """Makes a fresh, migrated store of the kind under test for each world."""
    return _factory(request.param, tmp_path_factory, request)


@pytest.fixture(name="store_factory", params=EVERY_STORE)
def store_factory_on_every_store(request, tmp_path_factory):
    """`store_factory` over memory, SQLite and PostgreSQL."""
    return _factory(request.param, tmp_path_factory, request)


@pytest.fixture(name="store_factory")
def store_factory_memory_unless_asked(request, tmp_path_factory):
    """`store_factory` on memory, or on each of EVERY_STORE for a test marked on_every_store."""
    return _factory(getattr(request, "param", "memory"), tmp_path_factory, request)


on_every_store = pytest.mark.parametrize("store_factory", EVERY_STORE, indirect=True)
