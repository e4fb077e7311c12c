"""The SQL store's transactions: one open per thread, which nested scopes join and the
outermost commits or rolls back; which database failures a retry may win; and how SQLite
connections start their transactions."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from ..errors import BillingError
from .retry import RetryTransaction
from .sql_driver import driver_for
from .sql_rows import account_values, load_account, save_account
from .state import Account

if TYPE_CHECKING:
    from .sql import SqlStore

# SQLSTATEs after which PostgreSQL has rolled the transaction back and a retry may win.
RETRY_STATES = {"40001", "40P01", "55P03"}


def translate(error: DBAPIError) -> Exception:
    """RetryTransaction for a failure a retry on fresh state may win, else the error."""
    state = getattr(error.orig, "sqlstate", None)
    if state in RETRY_STATES or "database is locked" in str(error.orig):
        return RetryTransaction(str(error.orig))
    return error


class Transaction:
    """The one open transaction of this thread, and the accounts it has loaded."""

    __slots__ = ("accounts", "conn", "loaded")

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.accounts: dict[str, Account] = {}
        # Each account row as loaded: a commit rewrites only rows that differ, so a
        # refusal that changed nothing writes nothing (issue 9 item 3).
        self.loaded: dict[str, dict] = {}


class ThreadState(threading.local):
    tx: Transaction | None = None      # every thread starts with none open
    # On SQLite: give up at once (RetryTransaction) when another connection holds the
    # file's write lock, instead of waiting for it (the server's event loop, see
    # server/service.py, tries a debit this way and leaves it to its writer thread if the
    # lock is taken).
    no_wait: bool = False


# SQLite's wait for another connection's write lock, in ms (the sqlite3 `timeout` the
# store connects with), and none at all for a thread that set `no_wait`.
SQLITE_LOCK_WAIT_MS = 30_000


def sqlite_lock_wait(conn: sa.Connection, no_wait: bool) -> None:
    """Set the connection's wait for the write lock: none for a thread that asked for no
    wait, else the usual one. A pooled connection is always given back with the usual
    wait (Scope's exit), as every other user of the pool (tokens, the outbox) expects."""
    wanted = 0 if no_wait else SQLITE_LOCK_WAIT_MS
    conn.connection.dbapi_connection.execute(f"PRAGMA busy_timeout = {wanted}")


def give_back_lock_wait(store: SqlStore, conn: sa.Connection) -> None:
    """Before `conn` returns to the pool: the usual lock wait again, if this thread's
    `no_wait` had taken it away (a connection that cannot even take a PRAGMA is being
    dropped anyway)."""
    if store.local.no_wait and store.dialect == "sqlite":
        with contextlib.suppress(sqlite3.Error):
            sqlite_lock_wait(conn, False)


class Scope:
    """`with store.write(id) / read(id) / catalogue()`: joins this thread's open transaction
    or opens one; the outermost scope commits (normal end or a BillingError) or rolls back."""

    __slots__ = ("account_id", "lock", "outer", "store", "write")

    def __init__(self, store: SqlStore, account_id: str | None, *, lock: bool,
                 write: bool) -> None:
        self.store = store
        self.account_id = account_id
        self.lock = lock
        self.write = write
        self.outer = False

    def __enter__(self) -> Account | None:
        store = self.store
        tx = store.local.tx
        if tx is None:
            conn = store.engine.connect()
            if not self.write:
                conn = conn.execution_options(creditdesk_read=True)
            try:
                if store.local.no_wait and store.dialect == "sqlite":
                    sqlite_lock_wait(conn, True)
                conn.begin()
            except DBAPIError as error:
                give_back_lock_wait(store, conn)
                conn.close()
                raise translate(error) from error
            tx = store.local.tx = Transaction(conn)
            self.outer = True
        if self.account_id is None:
            return None
        account = tx.accounts.get(self.account_id)
        if account is None:
            try:
                account = load_account(store, tx.conn, self.account_id, lock=self.lock)
            except BaseException as error:
                self.__exit__(type(error), error, None)
                raise
            if account is not None:
                tx.accounts[self.account_id] = account
                tx.loaded[self.account_id] = account_values(account)
        return account

    def __exit__(self, kind, error, traceback) -> None:
        if not self.outer:
            return
        store = self.store
        tx = store.local.tx
        conn = tx.conn
        try:
            if kind is None or issubclass(kind, BillingError):
                if self.write:
                    for account in tx.accounts.values():
                        save_account(store, conn, account, tx.loaded.get(account.id))
                conn.commit()
            else:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.rollback()     # may be dropped already: `error` is what to tell
        except DBAPIError as failure:
            # A connection the database dropped (a restart, pg_terminate_backend) cannot
            # even roll back; the failure to tell is the first one, and nothing of the
            # transaction was committed either way.
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.rollback()
            raise translate(failure) from failure
        finally:
            store.local.tx = None
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                give_back_lock_wait(store, conn)
                conn.close()
        if isinstance(error, DBAPIError):
            raise translate(error) from error
        return


# One write of a group (`SqlStore.grouped`): SQLite's savepoints nest by name, and a
# group holds at most one open at a time.
_SAVEPOINT = sa.text("SAVEPOINT one_write")
_RELEASE = sa.text("RELEASE SAVEPOINT one_write")
_ROLLBACK_TO = sa.text("ROLLBACK TO SAVEPOINT one_write")


class Savepoint:
    """`with store.savepoint():` one write inside `store.grouped()`, as if in a transaction
    of its own: on a normal end or a BillingError what it changed is written and kept
    (released into the group's transaction, which commits them all at once), on any other
    exception it is undone (rolled back to the savepoint).

    A kept write leaves its accounts loaded, now equal to their rows (each collection
    empties what it wrote; the row's values are noted again), so the next write on the
    same account (every debit of a busy org) does not read it again: nobody else can write
    while the group holds SQLite's write lock. An undone one drops every account the group
    had loaded, and the next write reads them afresh from the rolled-back database."""

    __slots__ = ("store", "tx")

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.tx: Transaction | None = None

    def __enter__(self) -> None:
        store = self.store
        tx = self.tx = store.local.tx
        if tx is None:
            raise RuntimeError("a savepoint is a part of store.grouped(): none is open")
        store.driver.execute(tx.conn, store.driver.compiled(_SAVEPOINT), {})

    def __exit__(self, kind, error, traceback) -> None:
        store, tx = self.store, self.tx
        driver, conn = store.driver, tx.conn
        if kind is None or issubclass(kind, BillingError):
            try:
                for account in tx.accounts.values():
                    save_account(store, conn, account, tx.loaded.get(account.id))
                    tx.loaded[account.id] = account_values(account)
                driver.execute(conn, driver.compiled(_RELEASE), {})
            except BaseException:
                forget_accounts(tx)     # the group fails with it (its caller's rule)
                raise
            return
        forget_accounts(tx)
        # The error is what to tell; a connection that cannot even roll back fails
        # the whole group, which is then rolled back with it.
        with contextlib.suppress(DBAPIError):
            driver.execute(conn, driver.compiled(_ROLLBACK_TO), {})
            driver.execute(conn, driver.compiled(_RELEASE), {})


def forget_accounts(tx: Transaction) -> None:
    """Drop what `tx` has loaded: the next scope reads each account from the database."""
    tx.accounts.clear()
    tx.loaded.clear()


def sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event say how each transaction starts (pysqlite would
    # otherwise open them itself, deferred, and upgrade locks half-way).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_BEGIN = {False: sa.text("BEGIN IMMEDIATE"), True: sa.text("BEGIN")}


def sqlite_begin(conn) -> None:
    # A write takes the database's write lock at once: two writers never both read a
    # balance and then race to upgrade their locks (which SQLite would fail, not queue).
    # Sent by the store's driver (sql_driver.py): every transaction starts here.
    read = conn.get_execution_options().get("creditdesk_read", False)
    driver = driver_for(conn.engine)
    driver.execute(conn, driver.compiled(_BEGIN[read]), {})
