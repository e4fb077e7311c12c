"""The stores a suite runs on: one fixture, `store_factory`, parametrized over their kinds.

A conftest that wants every store says `from tests.store.stores import store_factory`.
Add a kind by adding its name to STORE_KINDS and a branch to `_factory`.
"""

from __future__ import annotations

import itertools
import os

import pytest

# CREDITDESK_STORES=memory,sqlite,postgresql picks the kinds (PostgreSQL: the session's
# server from tests/support/postgres.py, one database per world).
STORE_KINDS = os.environ.get("CREDITDESK_STORES", "memory,sqlite").split(",")


def _factory(kind: str, tmp_path_factory, request):
    if kind == "memory":
        from creditdesk.store import MemoryStore
        return MemoryStore
    if kind == "sqlite":
        from creditdesk.store import SqlStore
        folder = tmp_path_factory.mktemp("books")
        numbers = itertools.count(1)
        opened = []

        def sqlite_store():
            store = SqlStore(f"sqlite:///{folder}/books-{next(numbers)}.db")
            store.migrate()
            opened.append(store)
            return store
        request.addfinalizer(lambda: [store.close() for store in opened])
        return sqlite_store
    if kind == "postgresql":
        from creditdesk.store import SqlStore
        from tests.support.postgres import shared_cluster
        cluster = shared_cluster()
        opened = []

        def postgres_store():
            name = cluster.create_database()
            store = SqlStore(cluster.url(name))
            store.migrate()
            opened.append((store, name))
            return store

        def close_all():
            for store, name in opened:
                store.close()
                cluster.drop_database(name)
        request.addfinalizer(close_all)
        return postgres_store
    raise ValueError(f"no store kind {kind!r}")


@pytest.fixture(params=STORE_KINDS)
def store_factory(request, tmp_path_factory):
    """Makes a fresh, migrated store of the kind under test for each world."""
    return _factory(request.param, tmp_path_factory, request)
