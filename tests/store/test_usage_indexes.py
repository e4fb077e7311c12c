"""The schema step that indexes the usage roll-ups by split and key (for top-N history)."""

from __future__ import annotations

import sqlalchemy as sa

from creditdesk.store import SqlStore
from creditdesk.store.schema import STEPS, _index_usage_by_key

INDEXES = {"usage_day": ("usage_day_by_key", ["account_id", "dim", "key", "day"]),
           "usage_month": ("usage_month_by_dim", ["account_id", "dim", "month"])}


def _indexes(store: SqlStore) -> dict[str, dict[str, list[str]]]:
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        return {table: {i["name"]: i["column_names"] for i in inspector.get_indexes(table)}
                for table in INDEXES}


def test_a_database_one_step_behind_gets_the_indexes(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'books.db'}")
    version = STEPS.index(_index_usage_by_key) + 1
    store.migrate()
    for table, (name, columns) in INDEXES.items():
        assert _indexes(store)[table][name] == columns
    # As a database of the release before this step: without them, at the version before.
    with store.engine.begin() as conn:
        for name, _ in INDEXES.values():
            conn.execute(sa.text(f"DROP INDEX {name}"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= :v"),
                     {"v": version})
    assert all(name not in _indexes(store)[table] for table, (name, _) in INDEXES.items())
    assert store.migrate() == len(STEPS)
    for table, (name, columns) in INDEXES.items():
        assert _indexes(store)[table][name] == columns
    store.close()
