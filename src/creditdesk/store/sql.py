"""SqlStore: the books in tables (SQLAlchemy 2 Core), one schema for SQLite and PostgreSQL.

A write transaction locks its account first (BEGIN IMMEDIATE on SQLite, SELECT ... FOR
UPDATE on PostgreSQL), loads only the account row, and reaches the rest (members, ledger
rows, invoices, keys; roll-ups in `sql_usage.py`) through the small collections of
`sql_rows.py`, which read what the engine asks for and write what it appends; the account
row and changed members are written once, at commit. Nothing is replayed at start and
nothing grows in memory. Its parts: `sql_transactions.py` (the scopes of `write`, `read` and
`catalogue`, and SQLite's BEGIN IMMEDIATE), `sql_keys.py` (idempotency records with their
first answers), `sql_server_books.py` (tokens, the test clock, the test gateway's books) and
`sql_driver.py` (the debit path's statements, sent to the DBAPI connection itself).
"""

from __future__ import annotations

import contextlib
import functools
import os

import sqlalchemy as sa
from sqlalchemy import event

from ..models import Plan
from .ledger import Names
from .schema import STEPS, accounts, counters, memberships, plans, schema_version, users
from .sql_driver import driver_for
from .sql_rows import save_new_account
from .sql_server_books import ServerBooks
from .sql_transactions import (
    SQLITE_LOCK_WAIT_MS,
    Savepoint,
    Scope,
    ThreadState,
    Transaction,
    sqlite_begin,
    sqlite_connect,
)
from .state import Account, User

# PostgreSQL: how long to wait for a new connection, and for a free one from the pool.
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10

# Built once (a debit takes an entry id): the driver compiles it once (sql_driver.py).
_COUNTER_STEP = (sa.update(counters).where(counters.c.name == sa.bindparam("w_name"))
                 .values(value=counters.c.value + 1).returning(counters.c.value))


@functools.cache
def _next_value(name: str) -> sa.TextualSelect:
    return sa.text(f"SELECT nextval('{name}_ids')").columns(sa.column("value", sa.BigInteger))


def engine_url(url: str) -> sa.URL:
    """The SQLAlchemy URL, with plain `postgresql://` taken to mean psycopg 3."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class NewerSchema(Exception):
    """The database's schema is of a later release than this code."""


class SqlStore(ServerBooks):
    kind = "sql"
    read_locks = False      # a read that must close a period goes again as a write
    keeps_answers = True    # each first answer's JSON, with its record (sql_keys.py)

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = engine_url(url)
        self.dialect = self.url.get_backend_name()
        self.names = Names()
        self.local = ThreadState()
        self._plans: dict[str, Plan] = {}
        if self.dialect == "sqlite":
            self._prepare_sqlite_file()
            # No bound on connections: a thread inside a write transaction may open a
            # second one (the shared test clock, the token table); with a bounded pool,
            # threads holding every connection while they wait for SQLite's one write lock
            # would starve the lock's holder, and all would end in "database is locked".
            # SQLite connections to one file are cheap, and WAL lets the readers in.
            self.engine = sa.create_engine(
                self.url, connect_args={"timeout": SQLITE_LOCK_WAIT_MS / 1000},
                pool_size=pool_size, max_overflow=-1)
            event.listen(self.engine, "connect", sqlite_connect)
            event.listen(self.engine, "begin", sqlite_begin)
        else:
            # Bounded waits: with the database away a call fails within seconds (the server
            # answers 503) instead of hanging; pre-ping drops connections it broke, so the
            # pool reconnects by itself once it is back.
            self.engine = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True,
                pool_timeout=POOL_TIMEOUT_SECONDS,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
        self.driver = driver_for(self.engine)     # the debit path's statements (sql_driver.py)

    def _prepare_sqlite_file(self) -> None:
        """Create the database file 0600 before SQLite does (its -wal/-shm files take the
        main file's permissions), so nobody else on the machine can read the books."""
        path = self.url.database
        if not path or path == ":memory:" or os.path.exists(path):
            return
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(descriptor)

    @property
    def _tx(self) -> Transaction:
        tx = self.local.tx
        if tx is None:
            raise RuntimeError("this store call needs an open transaction")
        return tx

    def _conn(self) -> sa.Connection:
        return self._tx.conn

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

    @contextlib.contextmanager
    def without_waiting(self):
        """Within the block, on this thread: a write that finds SQLite's write lock held by
        another connection gives up at once (RetryTransaction, nothing written) instead
        of waiting up to SQLITE_LOCK_WAIT_MS for it. PostgreSQL waits as before."""
        local = self.local
        local.no_wait = True
        try:
            yield
        finally:
            local.no_wait = False

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

    def write(self, account_id: str) -> Scope:
        return Scope(self, account_id, lock=True, write=True)

    def read(self, account_id: str) -> Scope:
        return Scope(self, account_id, lock=False, write=False)

    def catalogue(self) -> Scope:
        return Scope(self, None, lock=False, write=True)

    def grouped(self) -> Scope:
        """One transaction for several writes in a row, each in `savepoint()`, committed
        once when the block ends (or all rolled back if it raises): on SQLite a commit is
        most of a small write's cost, and the server commits the debits that reach it at
        one moment together (server/group_commit.py). What each write answers may be told
        only once the block has committed."""
        return Scope(self, None, lock=False, write=True)

    def savepoint(self) -> Savepoint:
        return Savepoint(self)

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
        tx = self.local.tx
        if tx is not None:
            return tx.conn.execute(statement)
        with self.engine.connect().execution_options(creditdesk_read=True) as conn:
            return conn.execute(statement).freeze()()   # buffered: outlives the connection

    # --- ids --------------------------------------------------------------------------------

    def next_id(self, name: str) -> int:
        """The next value of a counter that grows across all accounts (a sequence on
        PostgreSQL, so concurrent accounts never wait on one counter row)."""
        conn, driver = self._conn(), self.driver
        if self.dialect == "postgresql":
            return driver.scalar(conn, driver.compiled(_next_value(name)), {})
        value = driver.scalar(conn, driver.compiled(_COUNTER_STEP), {"w_name": name})
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
