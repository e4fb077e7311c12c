"""The schema step that indexes finished webhook deliveries by their time (for pruning them,
server/webhook_store.py), on SQLite and PostgreSQL: a database one step behind gets it, and
the pruning's look-up reads it rather than every delivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from creditdesk.server.webhook_store import finished_before
from creditdesk.store import SqlStore
from creditdesk.store.schema import STEPS, _index_finished_deliveries

NAME, COLUMNS = "webhook_deliveries_finished", ["status", "created_us"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'books.db'}"
    return request.getfixturevalue("postgres_url")


def _indexes(store: SqlStore) -> dict[str, list[str]]:
    with store.engine.connect() as conn:
        return {i["name"]: i["column_names"]
                for i in sa.inspect(conn).get_indexes("webhook_deliveries")}


def _plan(store: SqlStore) -> str:
    """How the database finds the finished deliveries to prune."""
    select = finished_before(datetime.now(UTC)).limit(500)
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            explain, compiled = "EXPLAIN QUERY PLAN ", select.compile(
                conn, compile_kwargs={"literal_binds": True})
        else:
            # An empty table is cheapest to scan: ask whether the index can serve at all.
            conn.execute(sa.text("SET enable_seqscan = off"))
            explain, compiled = "EXPLAIN ", select.compile(
                conn, compile_kwargs={"literal_binds": True})
        return "\n".join(str(row) for row in conn.exec_driver_sql(explain + str(compiled)))


def test_a_database_one_step_behind_gets_the_index(url):
    store = SqlStore(url)
    version = STEPS.index(_index_finished_deliveries) + 1
    store.migrate()
    assert _indexes(store)[NAME] == COLUMNS
    assert NAME in _plan(store)
    # As a database of the release before this step: without it, at the version before.
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX {NAME}"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= :v"),
                     {"v": version})
    assert NAME not in _indexes(store) and NAME not in _plan(store)
    assert store.migrate() == len(STEPS)
    assert _indexes(store)[NAME] == COLUMNS
    assert NAME in _plan(store)
    store.close()
