"""`--db`: which database the server keeps its books in, and a clear sentence when it cannot.

Accepted forms (contract, `creditdesk serve`):
- a file path (`books.db`, `/var/lib/creditdesk/books.db`): SQLite;
- `sqlite:///relative/path` and `sqlite:////absolute/path`, read as SQLAlchemy reads them;
- `postgresql://…` or `postgresql+psycopg://…`: PostgreSQL through psycopg 3.

Anything else that looks like a URL (`mysql://`, `postgres:/x`) is refused: before this
module a PostgreSQL URL was taken for a file name and a folder `postgresql:` was made.
`check()` then opens the database once so that an unreachable server, a wrong password, a
folder, a corrupt or read-only file are each told in one sentence (the caller exits 2)
instead of surfacing later as a traceback. The password never appears in a message.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

# A scheme: letters, digits, + . - before "://" (a Windows "C:\" is no URL).
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?P<rest>.*)$", re.S)
_POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")
CONNECT_TIMEOUT_SECONDS = 5


class DatabaseError(Exception):
    """The database named by --db cannot be used; the message is one sentence for people."""


@dataclass(frozen=True)
class Database:
    """Where the books are: `url` for SQLAlchemy, `path` for SQLite, `shown` for messages."""

    kind: str            # "sqlite" or "postgresql"
    url: str
    path: Path | None = None
    shown: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"


def sqlite_database(path: str | Path) -> Database:
    path = Path(path).expanduser()
    return Database("sqlite", f"sqlite:///{path.absolute()}", path=path, shown=str(path))


def parse(text: str) -> Database:
    """Read a --db value; raises DatabaseError naming what is wrong with it."""
    if not text or not text.strip():
        raise DatabaseError("--db is empty: give a file path, sqlite:///PATH or "
                            "postgresql://…")
    match = _URL.match(text)
    if match is None or len(match["scheme"]) == 1:     # a plain path (or C:\ on Windows)
        return sqlite_database(text)
    scheme, rest = match["scheme"].lower(), match["rest"]
    if scheme == "sqlite":
        if not rest.startswith("///") or rest == "///":
            raise DatabaseError(f"--db {text!r}: a SQLite URL is sqlite:///relative/path "
                                f"or sqlite:////absolute/path")
        path = Path(rest[3:])
        return Database("sqlite", f"sqlite:///{path.absolute()}", path=path, shown=str(path))
    if scheme in _POSTGRES_SCHEMES:
        if not rest.startswith("//"):
            raise DatabaseError(f"--db {_hide(text)!r}: a PostgreSQL URL is "
                                f"postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
        url = "postgresql+psycopg:" + rest
        return Database("postgresql", url, shown=_hide(url))
    raise DatabaseError(f"--db {_hide(text)!r}: unknown kind of database {scheme!r} "
                        f"(use a file path, sqlite:///PATH or postgresql://…)")


def _hide(url: str) -> str:
    """The URL with its password replaced by ***."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


# --- opening it once, to say clearly what is wrong ----------------------------------------


def check(database: Database) -> None:
    """Raise DatabaseError with one sentence if the database cannot be used for writing."""
    if database.is_postgres:
        _check_postgres(database)
    else:
        _check_sqlite(database.path)


def _check_sqlite(path: Path) -> None:
    if path.is_dir():
        raise DatabaseError(f"the database {path} is a folder, not a file")
    parent = path.parent
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise DatabaseError(f"the database {path} is read-only (or unreadable) for "
                                f"this user")
        if not os.access(parent, os.W_OK | os.X_OK):
            # SQLite writes its -wal and -shm files beside the database.
            raise DatabaseError(f"the folder {parent} of the database is read-only, so "
                                f"SQLite cannot write its journal beside {path.name}")
        try:
            db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
            try:
                # The header and the schema's pages, not the whole file: start-up must cost
                # the same with one debit and with ten million (a quick_check reads every
                # page: 2.6 s at a million debits). A damaged page further in is a 503 on
                # the request that reads it, never a wrong answer.
                db.execute("PRAGMA schema_version").fetchone()
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError as error:
            raise DatabaseError(f"the database {path} is not a usable SQLite file "
                                f"({error})") from None
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseError(f"cannot create the folder {parent} for the database: "
                            f"{error.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DatabaseError(f"cannot create the database {path}: the folder {parent} is "
                            f"read-only")


def _check_postgres(database: Database) -> None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as error:
        raise DatabaseError(f"PostgreSQL needs the server extra ({error.name} is "
                            f"missing): pip install 'creditdesk[server]'") from None
    url = make_url(database.url)
    where = url.host or url.query.get("host") or "localhost"
    if url.port:
        where = f"{where}:{url.port}"
    target = f"PostgreSQL database {url.database!r} on {where}"
    try:
        parameters = url.translate_connect_args(username="user", database="dbname")
        parameters.update({key: value for key, value in url.query.items()
                           if isinstance(value, str)})
        parameters.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        with psycopg.connect(**parameters) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        raise DatabaseError(f"cannot use the {target}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    """psycopg's message cut to its meaning: its last informative line, no password."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[-1] if lines[0].startswith("connection failed") and len(lines) > 1 \
        else lines[0]
    for pattern, say in (("password authentication failed", "wrong user name or password"),
                         ("does not exist", None), ("Connection refused",
                                                    "nothing listens there (is it running?)"),
                         ("timeout expired", "no answer within "
                                             f"{CONNECT_TIMEOUT_SECONDS} s")):
        if pattern in str(error):
            return say or _strip_prefix(text)
    return _hide(_strip_prefix(text))


def _strip_prefix(text: str) -> str:
    return re.sub(r"^(FATAL|ERROR):\s*", "", re.sub(r"^connection to server .*?failed:\s*",
                                                    "", text))


# --- what every worker must agree on, kept in the database -------------------------------


def shared_test_clock(store, start):
    """The test clock of a server on a SqlStore: kept in the database, so PUT
    /v1/admin/clock on one worker moves every worker's clock. A ManualClock (the service
    and the engine take one), so it refuses a naive time or a step back the same way."""
    from ..engine import ManualClock

    class SharedTestClock(ManualClock):
        def __init__(self) -> None:
            # The server stored `start` once before its workers began (runner.migrate).
            super().__init__(store.stored_clock() or start)

        def __call__(self):
            return store.stored_clock()

        def set(self, now):
            self._now = store.stored_clock()
            now = super().set(now)
            store.save_clock(now)
            return now

    return SharedTestClock()
