"""SqlStore: the books in tables (SQLAlchemy 2 Core), one schema for SQLite and PostgreSQL.

A write transaction locks its account first (BEGIN IMMEDIATE on SQLite, SELECT ... FOR
UPDATE on PostgreSQL), loads only the account row, and reaches the rest (members, ledger
rows, invoices, keys; roll-ups in `sql_usage.py`) through the small collections of
`sql_rows.py`, which read what the engine asks for and write what it appends; the account
row and changed members are written once, at commit. Nothing is replayed at start and
nothing grows in memory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from ..errors import BillingError
from ..models import Plan
from .ledger import Names, from_micros, to_micros
from .retry import RetryTransaction
from .schema import (
    STEPS,
    accounts,
    counters,
    gateway_charges,
    gateway_declines,
    memberships,
    plans,
    schema_version,
    test_clock,
    tokens,
    users,
)
from .sql_rows import account_values, load_account, save_account, save_new_account
from .state import Account, User

# PostgreSQL: how long to wait for a new connection, and for a free one from the pool.
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10

# SQLSTATEs after which PostgreSQL has rolled the transaction back and a retry may win.
_RETRY_STATES = {"40001", "40P01", "55P03"}


def engine_url(url: str) -> sa.URL:
    """The SQLAlchemy URL, with plain `postgresql://` taken to mean psycopg 3."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class NewerSchema(Exception):
    """The database's schema is of a later release than this code."""


class _Transaction:
    """The one open transaction of this thread, and the accounts it has loaded."""

    __slots__ = ("accounts", "conn", "loaded")

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.accounts: dict[str, Account] = {}
        # Each account row as loaded: a commit rewrites only rows that differ, so a
        # refusal that changed nothing writes nothing (issue 9 item 3).
        self.loaded: dict[str, dict] = {}


class _ThreadState(threading.local):
    tx: _Transaction | None = None      # every thread starts with none open


class _Scope:
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
        tx = store._local.tx
        if tx is None:
            conn = store.engine.connect()
            if not self.write:
                conn = conn.execution_options(creditdesk_read=True)
            try:
                conn.begin()
            except DBAPIError as error:
                conn.close()
                raise store._translate(error) from error
            tx = store._local.tx = _Transaction(conn)
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
        tx = store._local.tx
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
            raise store._translate(failure) from failure
        finally:
            store._local.tx = None
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.close()
        if isinstance(error, DBAPIError):
            raise store._translate(error) from error
        return


class SqlStore:
    kind = "sql"
    read_locks = False      # a read that must close a period goes again as a write

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = engine_url(url)
        self.dialect = self.url.get_backend_name()
        self.names = Names()
        self._local = _ThreadState()
        self._plans: dict[str, Plan] = {}
        if self.dialect == "sqlite":
            self._prepare_sqlite_file()
            # No bound on connections: a thread inside a write transaction may open a
            # second one (the shared test clock, the token table); with a bounded pool,
            # threads holding every connection while they wait for SQLite's one write lock
            # would starve the lock's holder, and all would end in "database is locked".
            # SQLite connections to one file are cheap, and WAL lets the readers in.
            self.engine = sa.create_engine(self.url, connect_args={"timeout": 30},
                                           pool_size=pool_size, max_overflow=-1)
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            # Bounded waits: with the database away a call fails within seconds (the server
            # answers 503) instead of hanging; pre-ping drops connections it broke, so the
            # pool reconnects by itself once it is back.
            self.engine = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True,
                pool_timeout=POOL_TIMEOUT_SECONDS,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})

    def _prepare_sqlite_file(self) -> None:
        """Create the database file 0600 before SQLite does (its -wal/-shm files take the
        main file's permissions), so nobody else on the machine can read the books."""
        path = self.url.database
        if not path or path == ":memory:" or os.path.exists(path):
            return
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(descriptor)

    @property
    def _tx(self) -> _Transaction:
        tx = self._local.tx
        if tx is None:
            raise RuntimeError("this store call needs an open transaction")
        return tx

    def _conn(self) -> sa.Connection:
        return self._tx.conn

    def _translate(self, error: DBAPIError) -> Exception:
        state = getattr(error.orig, "sqlstate", None)
        if state in _RETRY_STATES or "database is locked" in str(error.orig):
            return RetryTransaction(str(error.orig))
        return error

    # --- life cycle ---------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply every schema step this database lacks, each in its own transaction;
        returns the version reached."""
        with self.engine.begin() as conn:
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        current = current or 0
        if current > len(STEPS):
            # Its tables have columns this code does not know: writing them would corrupt.
            raise NewerSchema(f"it was written by a newer creditdesk (schema {current}, this "
                              f"one knows {len(STEPS)}): upgrade creditdesk")
        for version, step in enumerate(STEPS[current:], start=current + 1):
            with self.engine.begin() as conn:
                step(conn)
                conn.execute(schema_version.insert().values(version=version))
        return len(STEPS)

    def schema_version(self) -> int:
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    def close(self) -> None:
        self.engine.dispose()

    def discard_connections(self) -> None:
        """Close the pooled connections: after a failed write SQLite may keep a connection
        read-only, so the next transactions open fresh ones (once the file is writable)."""
        self.engine.dispose()

    def book_counts(self) -> tuple[int, int]:
        """(accounts, ledger entries), from the account rows: cheap at any ledger size."""
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(
                sa.func.sum(accounts.c.ledger_rows), 0)).select_from(accounts)).one()
        return int(row[0]), int(row[1])

    # --- transactions -----------------------------------------------------------------------

    def write(self, account_id: str) -> _Scope:
        return _Scope(self, account_id, lock=True, write=True)

    def read(self, account_id: str) -> _Scope:
        return _Scope(self, account_id, lock=False, write=False)

    def catalogue(self) -> _Scope:
        return _Scope(self, None, lock=False, write=True)

    def save_member(self, account: Account, member: object) -> None:
        """Changed memberships are written at commit with the account."""

    # --- the catalogue ------------------------------------------------------------------

    def plan(self, plan_id: str) -> Plan | None:
        # Plans never change once added, so each process keeps the ones it has read.
        plan = self._plans.get(plan_id)
        if plan is None:
            row = self._run(sa.select(plans).where(plans.c.id == plan_id)).first()
            if row is None:
                return None
            plan = self._plans[plan_id] = Plan(
                id=row.id, name=row.name, base_credits_per_month=row.base_credits_per_month,
                rollover_cap=row.rollover_cap, billing_period=row.billing_period,
                price_cents=row.price_cents)
        return plan

    def plans(self) -> list[Plan]:
        ids = self._run(sa.select(plans.c.id).order_by(plans.c.n)).scalars().all()
        return [self.plan(plan_id) for plan_id in ids]

    def insert_plan(self, plan: Plan) -> None:
        self._conn().execute(plans.insert().values(
            id=plan.id, n=self.next_id("plans"), name=plan.name,
            base_credits_per_month=plan.base_credits_per_month,
            rollover_cap=plan.rollover_cap, billing_period=plan.billing_period,
            price_cents=plan.price_cents))

    def user(self, user_id: str) -> User | None:
        row = self._run(sa.select(users).where(users.c.id == user_id)).first()
        if row is None:
            return None
        user = User(row.id, row.name, row.email, row.personal_account_id)
        user.orgs = list(self._run(
            sa.select(memberships.c.account_id)
            .join(accounts, accounts.c.id == memberships.c.account_id)
            .where(memberships.c.user_id == user_id, accounts.c.kind == "org")
            .order_by(memberships.c.n)).scalars())
        return user

    def users(self) -> list[User]:
        ids = self._run(sa.select(users.c.id).order_by(users.c.n)).scalars().all()
        return [self.user(user_id) for user_id in ids]

    def insert_user(self, user: User) -> None:
        self._conn().execute(users.insert().values(
            id=user.id, n=self.next_id("users"), name=user.name, email=user.email,
            personal_account_id=user.personal_account_id))

    def has_account(self, account_id: str) -> bool:
        return self._run(sa.select(accounts.c.id).where(accounts.c.id == account_id)
                         ).first() is not None

    def insert_account(self, account: Account) -> None:
        save_new_account(self, self._conn(), account)

    def join_org(self, user: User, org_id: str) -> None:
        # The membership row itself is written with the org's account at commit.
        user.orgs.append(org_id)

    def account_ids(self) -> list[str]:
        return list(self._run(sa.select(accounts.c.id).order_by(accounts.c.n)).scalars())

    def _run(self, statement):
        """A statement in this thread's transaction, or on its own when there is none."""
        tx = self._local.tx
        if tx is not None:
            return tx.conn.execute(statement)
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            return conn.execute(statement).freeze()()   # buffered: outlives the connection

    # --- ids --------------------------------------------------------------------------------

    def next_id(self, name: str) -> int:
        """The next value of a counter that grows across all accounts (a sequence on
        PostgreSQL, so concurrent accounts never wait on one counter row)."""
        conn = self._conn()
        if self.dialect == "postgresql":
            return conn.execute(sa.text(f"SELECT nextval('{name}_ids')")).scalar_one()
        value = conn.execute(sa.update(counters).where(counters.c.name == name)
                             .values(value=counters.c.value + 1)
                             .returning(counters.c.value)).scalar()
        if value is None:
            value = 1
            conn.execute(counters.insert().values(name=name, value=1))
        return value

    def take_entry_id(self) -> int:
        return self.next_id("entries")

    @property
    def next_entry_id(self) -> int:
        from .schema import ledger
        last = self._run(sa.select(sa.func.max(ledger.c.id))).scalar()
        return (last or 0) + 1

    def take_invoice_number(self) -> int:
        return self.next_id("invoices")

    def take_alert_id(self) -> int:
        # A sequence on PostgreSQL (made by schema step _add_alerts), a counter on SQLite.
        return self.next_id("alerts")

    # --- what the server keeps beside the books -----------------------------------------

    def save_token(self, token_hash: str, user_id: str) -> None:
        """Remember a hashed API token (the operator's too: its user id is the caller's)."""
        with self.engine.begin() as conn:
            conn.execute(tokens.delete().where(tokens.c.token_hash == token_hash))
            conn.execute(tokens.insert().values(token_hash=token_hash, user_id=user_id))

    def token_user(self, token_hash: str) -> str | None:
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            return conn.execute(sa.select(tokens.c.user_id)
                                .where(tokens.c.token_hash == token_hash)).scalar()

    def tokens(self) -> dict[str, str]:
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            return dict(conn.execute(sa.select(tokens.c.token_hash, tokens.c.user_id)).all())

    def stored_clock(self) -> datetime | None:
        """The test clock every worker reads (None: never set)."""
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            micros = conn.execute(sa.select(test_clock.c.now_us)).scalar()
        return None if micros is None else from_micros(micros)

    def save_clock(self, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(test_clock.delete())
            conn.execute(test_clock.insert().values(id=1, now_us=to_micros(now)))

    # --- the test gateway's books (StoredPaymentGateway) ---------------------------------
    # On PostgreSQL each in its own short transaction: a gateway keeps its charges whatever
    # becomes of the engine transaction that asked for them (which is why charges carry
    # keys). SQLite has one writer, so there they join this thread's open transaction.

    @contextmanager
    def _gateway(self, write: bool) -> Iterator[sa.Connection]:
        tx = self._local.tx
        if tx is not None and self.dialect == "sqlite":
            yield tx.conn
            return
        conn = self.engine.connect()
        if not write:
            conn = conn.execution_options(creditdesk_read=True)
        try:
            with conn.begin():
                yield conn
        finally:
            conn.close()

    def gateway_declining(self, account_id: str) -> bool:
        with self._gateway(write=False) as conn:
            return conn.execute(sa.select(gateway_declines.c.account_id).where(
                gateway_declines.c.account_id == account_id)).first() is not None

    def gateway_set_declining(self, account_id: str, on: bool) -> None:
        with self._gateway(write=True) as conn:
            conn.execute(gateway_declines.delete().where(
                gateway_declines.c.account_id == account_id))
            if on:
                conn.execute(gateway_declines.insert().values(account_id=account_id))

    def gateway_charge(self, key: str) -> tuple[bool, str] | None:
        with self._gateway(write=False) as conn:
            row = conn.execute(sa.select(gateway_charges.c.ok, gateway_charges.c.reason)
                               .where(gateway_charges.c.key == key)).first()
        return None if row is None else (bool(row.ok), row.reason)

    def gateway_record(self, key: str | None, account_id: str, cents: int, description: str,
                       ok: bool, reason: str) -> None:
        with self._gateway(write=True) as conn:
            conn.execute(gateway_charges.insert().values(
                key=key, account_id=account_id, amount_cents=cents, description=description,
                ok=ok, reason=reason))

    def gateway_charges(self) -> list[tuple[str, int, str, bool]]:
        with self._gateway(write=False) as conn:
            rows = conn.execute(sa.select(gateway_charges).order_by(gateway_charges.c.n))
            return [(r.account_id, r.amount_cents, r.description, bool(r.ok)) for r in rows]


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event say how each transaction starts (pysqlite would
    # otherwise open them itself, deferred, and upgrade locks half-way).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # A write takes the database's write lock at once: two writers never both read a
    # balance and then race to upgrade their locks (which SQLite would fail, not queue).
    read = conn.get_execution_options().get("creditdesk_read", False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")
