"""The server's durable store: a SQLite command journal, written by group commit, replayed on start.

Why a journal and not tables of balances: the engine is in-memory and deterministic given
its clock and its payment gateway, so the exact list of state-changing calls, each with the
instant it ran at, *is* the state. On start the journal is replayed into a fresh engine with
its clock pinned to each recorded instant, which rebuilds every balance, ledger entry,
invoice and idempotency record exactly (an idempotent replay after a restart still returns
the first answer). Besides the journal, each commit also writes the new ledger entries and
the first answer to each idempotency key into their own tables; nothing reads them back on
start, they are there so that people (auditors, support) can query the books with `sqlite3`
without running the engine. Replay costs about 30 µs per journaled call (a million debits:
half a minute at start-up); a periodic snapshot of the engine would bound that, and is the
next step if journals grow that long. The journal replays through the engine's current
rules, so a release that changes how billing computes must snapshot (or migrate) first.

Durability: WAL, `synchronous=FULL`, every batch in `BEGIN IMMEDIATE`. A single writer
thread commits the rows of all requests that arrived while the previous commit was
fsyncing (group commit); each request answers only once its batch is on disk. If a commit
fails the store is marked broken and the server refuses every later request (503): the
engine is then ahead of the disk, and answering from it would promise what may be lost.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SCHEMA_VERSION = 1

# One entry per version: the statements that bring the previous version up to it.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE journal (
               seq INTEGER PRIMARY KEY,
               at TEXT NOT NULL,
               actor TEXT NOT NULL,
               method TEXT NOT NULL,
               args TEXT NOT NULL)""",
        """CREATE TABLE ledger (
               account_id TEXT NOT NULL,
               id INTEGER NOT NULL,
               at TEXT NOT NULL,
               kind TEXT NOT NULL,
               actor TEXT NOT NULL,
               base INTEGER NOT NULL,
               rollover INTEGER NOT NULL,
               purchased INTEGER NOT NULL,
               balance_after INTEGER NOT NULL,
               ref TEXT,
               idempotency_key TEXT,
               journal_seq INTEGER NOT NULL,
               PRIMARY KEY (account_id, id))""",
        """CREATE TABLE idempotency (
               account_id TEXT NOT NULL,
               method TEXT NOT NULL,
               key TEXT NOT NULL,
               response TEXT NOT NULL,
               journal_seq INTEGER NOT NULL,
               PRIMARY KEY (account_id, method, key))""",
        """CREATE TABLE tokens (
               hash TEXT PRIMARY KEY,
               user_id TEXT NOT NULL,
               created_at TEXT NOT NULL)""",
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (0)",
    ),
}


class StorageFailure(Exception):
    """The disk refused a commit; the server must stop answering from memory."""


@dataclass(frozen=True)
class JournalRecord:
    seq: int
    at: datetime
    actor: str
    method: str
    args: dict


@dataclass
class Batch:
    """Rows committed together; requests wait on it before they answer."""

    journal: list[tuple] = field(default_factory=list)
    ledger: list[tuple] = field(default_factory=list)
    idempotency: list[tuple] = field(default_factory=list)
    tokens: list[tuple] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    _waiters: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def empty(self) -> bool:
        return not (self.journal or self.ledger or self.idempotency or self.tokens)

    async def wait(self) -> None:
        """Return once the batch is on disk; raise StorageFailure if it never will be."""
        with self._lock:
            if not self.done.is_set():
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                self._waiters.append((loop, future))
            else:
                future = None
        if future is not None:
            await future
        if self.error is not None:
            raise StorageFailure(str(self.error)) from self.error

    def wait_sync(self) -> None:
        self.done.wait()
        if self.error is not None:
            raise StorageFailure(str(self.error)) from self.error

    def finish(self, error: BaseException | None) -> None:
        with self._lock:
            self.error = error
            self.done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:
                pass    # that loop has closed (its server stopped); nobody waits any more


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class Store:
    """One SQLite file: schema migration on open, replay source, group-commit writer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate()
        self.next_seq = 1 + (self._db.execute("SELECT MAX(seq) FROM journal").fetchone()[0] or 0)
        self.failure: BaseException | None = None
        self._cond = threading.Condition()
        self._open = Batch()
        self._last_submitted: Batch | None = None
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name="creditdesk-store-writer",
                                        daemon=True)
        self._writer.start()

    # --- schema -------------------------------------------------------------------------

    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StorageFailure(f"{self.path} was written by a newer creditdesk (schema "
                                 f"{version}, this one knows {SCHEMA_VERSION}); upgrade it")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target]:
                    self._db.execute(statement)
                self._db.execute("UPDATE schema_version SET version = ?", (target,))
                self._db.execute(f"PRAGMA user_version = {target}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- reading back ---------------------------------------------------------------------

    def journal(self) -> Iterator[JournalRecord]:
        rows = self._db.execute("SELECT seq, at, actor, method, args FROM journal ORDER BY seq")
        for seq, at, actor, method, args in rows:
            yield JournalRecord(seq, datetime.fromisoformat(at), actor, method, json.loads(args))

    def tokens(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT hash, user_id FROM tokens"))

    def count(self, table: str) -> int:
        assert table in ("journal", "ledger", "idempotency", "tokens")
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # --- writing --------------------------------------------------------------------------

    def submit(self, *, journal: tuple | None = None, ledger: list[tuple] = (),
               idempotency: list[tuple] = (), tokens: list[tuple] = ()) -> Batch:
        """Queue rows for the next commit; returns the batch to wait on.

        Called with the engine lock held, so the journal order is the order of application.
        """
        if self.failure is not None:
            raise StorageFailure(f"the store failed earlier: {self.failure}")
        with self._cond:
            batch = self._open
            if journal is not None:
                batch.journal.append(journal)
            batch.ledger.extend(ledger)
            batch.idempotency.extend(idempotency)
            batch.tokens.extend(tokens)
            self._last_submitted = batch
            self._cond.notify()
        return batch

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def pending(self) -> Batch | None:
        """The newest batch not yet on disk, if any: reads wait for it so they never show
        state that a crash could still take back."""
        batch = self._last_submitted
        return None if batch is None or batch.done.is_set() else batch

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while self._open.empty() and not self._closing:
                    self._cond.wait()
                if self._open.empty() and self._closing:
                    return
                batch, self._open = self._open, Batch()
            batch.finish(self._commit(batch))

    def _commit(self, batch: Batch) -> BaseException | None:
        if self.failure is not None:
            return self.failure
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO journal (seq, at, actor, method, args) "
                               "VALUES (?, ?, ?, ?, ?)", batch.journal)
                db.executemany("INSERT OR IGNORE INTO ledger VALUES "
                               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch.ledger)
                db.executemany("INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                               batch.idempotency)
                db.executemany("INSERT INTO tokens (hash, user_id, created_at) "
                               "VALUES (?, ?, ?)", batch.tokens)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except Exception as error:  # noqa: BLE001 - any disk error makes the store unusable
            self.failure = error
            return error
        return None

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the file."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._writer.join()
        self._db.close()
