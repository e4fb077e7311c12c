"""An account of the SQL store: its row as a `state.Account`, and its collections as small
objects that read what the engine asks for and write what it appends, in one transaction.

They offer the same few operations as the memory store's dicts, lists and `Ledger`, so the
engine's code is the same over both stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from .ledger import (
    ACTOR,
    AT,
    BASE,
    D_BASE,
    D_PURCHASED,
    D_ROLLOVER,
    ID,
    KIND,
    MEMBER_USED,
    PAUSED,
    PERIOD_USED,
    PURCHASED,
    REF,
    ROLLOVER,
    Names,
    from_micros,
    to_micros,
)
from .schema import (
    accounts,
    alert_settings,
    invoice_keys,
    invoice_payments,
    invoices,
    ledger,
    memberships,
)
from .sql_alerts import (
    SqlAlerts,
    SqlPayments,
    alert_config,
    save_alert_config,
)
from .sql_driver import Writes, driver_for
from .sql_keys import SqlKeyRecords
from .sql_usage import SqlDays
from .state import (
    Account,
    AutoRechargeState,
    Invoice,
    Membership,
)

if TYPE_CHECKING:
    from .sql import SqlStore

_WINDOW = 256       # ledger rows fetched around one asked for (pages and walks are serial)


# The statements of every debit, built once, compiled once per dialect and sent to the
# driver with parameters (sql_driver.py).
_LEDGER_INSERT = ledger.insert()
_MEMBER_UPDATE = memberships.update().where(
    memberships.c.account_id == sa.bindparam("w_account"),
    memberships.c.user_id == sa.bindparam("w_user"))
_ACCOUNT_UPDATE = accounts.update().where(accounts.c.id == sa.bindparam("w_id"))
_MEMBER_SELECT = sa.select(memberships).where(
    memberships.c.account_id == sa.bindparam("w_account"),
    memberships.c.user_id == sa.bindparam("w_user"))
# The account row with its alert settings (a row of their own, often none): one statement.
_ACCOUNT_SELECT = (
    sa.select(accounts, alert_settings.c.balance_below, alert_settings.c.member_usage_percent,
              alert_settings.c.armed)
    .select_from(accounts.outerjoin(alert_settings,
                                    alert_settings.c.account_id == accounts.c.id))
    .where(accounts.c.id == sa.bindparam("w_id")))
# PostgreSQL locks only the account row (FOR UPDATE may not reach the outer join's side).
_ACCOUNT_LOCK = _ACCOUNT_SELECT.with_for_update(of=accounts)
# The columns each hot write sets (the driver compiles a statement for exactly those).
_LEDGER_COLUMNS = [c.key for c in ledger.columns]
_MEMBER_COLUMNS = ["role", "credit_limit", "used"]
_ACCOUNT_COLUMNS = [c.key for c in accounts.columns if c.key not in ("id", "n")]


class SqlMembers:
    """user id -> Membership, read one at a time (a debit needs one of 20,000)."""

    def __init__(self, conn: sa.Connection, account_id: str, names: Names) -> None:
        self.conn, self.account_id, self.names = conn, account_id, names
        self.driver = driver_for(conn.engine)
        self.loaded: dict[str, Membership] = {}
        self.seen: dict[str, tuple] = {}        # as read, to write only what changed
        self.new: list[str] = []
        self.complete = False

    def _member(self, row) -> Membership:
        member = self.loaded.get(row.user_id)
        if member is None:
            member = Membership(row.user_id, self.names.code(row.user_id), row.role)
            member.limit, member.used = row.credit_limit, row.used
            self.loaded[row.user_id] = member
            self.seen[row.user_id] = (row.role, row.credit_limit, row.used)
        return member

    def get(self, user_id: str, default=None) -> Membership | None:
        member = self.loaded.get(user_id)
        if member is None and not self.complete:
            driver = self.driver
            row = driver.first(self.conn, driver.compiled(_MEMBER_SELECT), {
                "w_account": self.account_id, "w_user": user_id})
            member = None if row is None else self._member(row)
        return default if member is None else member

    def __getitem__(self, user_id: str) -> Membership:
        member = self.get(user_id)
        if member is None:
            raise KeyError(user_id)
        return member

    def __setitem__(self, user_id: str, member: Membership) -> None:
        self.loaded[user_id] = member
        self.new.append(user_id)

    def values(self) -> list[Membership]:
        if not self.complete:
            for row in self.conn.execute(sa.select(memberships).where(
                    memberships.c.account_id == self.account_id).order_by(memberships.c.n)):
                self._member(row)
            self.complete = True
        return list(self.loaded.values())

    def page(self, offset: int, limit: int | None) -> tuple[list[Membership], int]:
        """(members from `offset` in joining order, at most `limit`; how many in all),
        reading just that page unless every member is loaded already (then from those,
        which may hold this transaction's changes)."""
        if self.complete:
            values = list(self.loaded.values())
            return values[offset:None if limit is None else offset + limit], len(values)
        mine = memberships.c.account_id == self.account_id
        rows = self.conn.execute(sa.select(memberships).where(mine).order_by(memberships.c.n)
                                 .offset(offset).limit(limit)).all()
        total = self.conn.execute(sa.select(sa.func.count()).select_from(memberships)
                                  .where(mine)).scalar_one()
        return [self._member(row) for row in rows], total

    def save(self, store: SqlStore, writes: Writes) -> None:
        """Insert new members now, gather the updates of changed ones in `writes`."""
        for user_id in self.new:
            member = self.loaded[user_id]
            self.conn.execute(memberships.insert().values(
                account_id=self.account_id, user_id=user_id, n=store.next_id("memberships"),
                role=member.role, credit_limit=member.limit, used=member.used))
        fresh = set(self.new)
        for user_id, member in self.loaded.items():
            now = (member.role, member.limit, member.used)
            if user_id not in fresh and self.seen.get(user_id) != now:
                writes.add(self.driver.compiled(_MEMBER_UPDATE, _MEMBER_COLUMNS), {
                    "w_account": self.account_id, "w_user": user_id, "role": member.role,
                    "credit_limit": member.limit, "used": member.used})
                self.seen[user_id] = now
        self.new = []


class SqlLedger:
    """The account's ledger rows, as the memory `Ledger`'s rows of ints (names as codes)."""

    def __init__(self, conn: sa.Connection, account_id: str, names: Names,
                 count: int) -> None:
        self.conn, self.account_id, self.names = conn, account_id, names
        self.driver = driver_for(conn.engine)
        self.count = count
        self.cache: dict[int, tuple] = {}
        self.keys = _Keys(self)

    def __len__(self) -> int:
        return self.count

    def append(self, row: tuple[int, ...], key: str | None) -> int:
        seq = self.count
        names = self.names.names
        driver = self.driver
        driver.execute(self.conn, driver.compiled(_LEDGER_INSERT, _LEDGER_COLUMNS), dict(
            id=row[ID], account_id=self.account_id, seq=seq, at_us=row[AT], kind=row[KIND],
            actor=names[row[ACTOR]], d_base=row[D_BASE], d_rollover=row[D_ROLLOVER],
            d_purchased=row[D_PURCHASED], base=row[BASE], rollover=row[ROLLOVER],
            purchased=row[PURCHASED], ref=None if row[REF] < 0 else names[row[REF]],
            idempotency_key=key, member_used=row[MEMBER_USED], period_used=row[PERIOD_USED],
            pause_reason=None if row[PAUSED] < 0 else names[row[PAUSED]]))
        self.cache[seq] = (tuple(row), key)
        self.count = seq + 1
        return seq

    def _fetch(self, where) -> None:
        code = self.names.code
        for r in self.conn.execute(sa.select(ledger).where(
                ledger.c.account_id == self.account_id, where)):
            self.cache[r.seq] = ((
                r.id, r.at_us, r.kind, code(r.actor), r.d_base, r.d_rollover, r.d_purchased,
                r.base, r.rollover, r.purchased, -1 if r.ref is None else code(r.ref),
                r.member_used, r.period_used,
                -1 if r.pause_reason is None else code(r.pause_reason)), r.idempotency_key)

    def _cached(self, seq: int) -> tuple:
        if seq not in self.cache:
            self._fetch(ledger.c.seq.between(seq - _WINDOW, seq + _WINDOW))
        return self.cache[seq]

    def row(self, seq: int) -> tuple:
        return self._cached(seq)[0]

    def get(self, seq: int, field: int) -> int:
        return self._cached(seq)[0][field]

    def rows_before(self, before: int | None, limit: int) -> list[int]:
        """Row indexes newest first, of entries with id < `before` (all when None)."""
        query = sa.select(ledger.c.seq).where(ledger.c.account_id == self.account_id)
        if before is not None:
            query = query.where(ledger.c.id < before)
        seqs = list(self.conn.execute(query.order_by(ledger.c.seq.desc()).limit(limit))
                    .scalars())
        if seqs:
            self._fetch(ledger.c.seq.between(seqs[-1], seqs[0]))
        return seqs

    def sums(self) -> tuple[int, int, int]:
        row = self.conn.execute(sa.select(
            sa.func.coalesce(sa.func.sum(ledger.c.d_base), 0),
            sa.func.coalesce(sa.func.sum(ledger.c.d_rollover), 0),
            sa.func.coalesce(sa.func.sum(ledger.c.d_purchased), 0)).where(
            ledger.c.account_id == self.account_id)).one()
        return int(row[0]), int(row[1]), int(row[2])

    def last_buckets(self) -> tuple[int, int, int] | None:
        if not self.count:
            return None
        row = self.row(self.count - 1)
        return row[BASE], row[ROLLOVER], row[PURCHASED]


class _Keys:
    """`ledger.keys[seq]`: the idempotency key of a row."""

    def __init__(self, owner: SqlLedger) -> None:
        self.owner = owner

    def __getitem__(self, seq: int) -> str | None:
        return self.owner._cached(seq)[1]


class SqlInvoices:
    """The account's invoices in order: appended, counted, read newest first."""

    def __init__(self, conn: sa.Connection, account_id: str, count: int) -> None:
        self.conn, self.account_id, self.count = conn, account_id, count

    def __len__(self) -> int:
        return self.count

    def append(self, invoice: Invoice) -> None:
        self.conn.execute(invoices.insert().values(
            id=invoice.id, account_id=self.account_id, seq=self.count,
            number=invoice.number, created_us=to_micros(invoice.created_at),
            kind=invoice.kind, credits=invoice.credits, amount_cents=invoice.amount_cents,
            status=invoice.status, description=invoice.description,
            payment_method=invoice.payment_method))
        if invoice.key is not None and invoice.status == "failed":
            # Only a failed purchase needs its key (a success's is in `idempotency`).
            self.conn.execute(invoice_keys.insert().values(
                invoice_id=invoice.id, account_id=self.account_id,
                idempotency_key=invoice.key))
        self.count += 1

    def _select(self):
        return (sa.select(invoices, invoice_keys.c.idempotency_key, invoice_payments.c.paid_us)
                .outerjoin(invoice_keys, invoice_keys.c.invoice_id == invoices.c.id)
                .outerjoin(invoice_payments, invoice_payments.c.invoice_id == invoices.c.id)
                .where(invoices.c.account_id == self.account_id))

    def _read(self, query) -> list[Invoice]:
        return [Invoice(r.id, r.number, from_micros(r.created_us), r.kind, r.credits,
                        r.amount_cents, r.status, r.description, r.payment_method,
                        key=r.idempotency_key,
                        paid_at=None if r.paid_us is None else from_micros(r.paid_us))
                for r in self.conn.execute(query)]

    def __reversed__(self):
        return iter(self._read(self._select().order_by(invoices.c.seq.desc())))

    def __iter__(self):
        return iter(self._read(self._select().order_by(invoices.c.seq)))

    def __getitem__(self, index: int) -> Invoice:
        seq = index + self.count if index < 0 else index
        found = self._read(self._select().where(invoices.c.seq == seq))
        if not found:
            raise IndexError(index)
        return found[0]

    def newest(self, offset: int, limit: int | None) -> list[Invoice]:
        """Newest first, from `offset`, at most `limit` (None: all the rest): one query."""
        return self._read(self._select().order_by(invoices.c.seq.desc())
                          .offset(offset).limit(limit))

    def find(self, invoice_id: str) -> Invoice | None:
        found = self._read(self._select().where(invoices.c.id == invoice_id))
        return found[0] if found else None

    def latest_of_kind(self, kind: str) -> Invoice | None:
        found = self._read(self._select().where(invoices.c.kind == kind)
                           .order_by(invoices.c.seq.desc()).limit(1))
        return found[0] if found else None

    def mark_paid(self, invoice: Invoice, paid_at) -> None:
        # When: the invoice_payments row written with it (see SqlPayments).
        self.conn.execute(invoices.update().where(invoices.c.id == invoice.id)
                          .values(status="paid", description=invoice.description))
        invoice.status = "paid"
        invoice.paid_at = paid_at


# --- the account row -----------------------------------------------------------------------

def load_account(store: SqlStore, conn: sa.Connection, account_id: str, *,
                 lock: bool) -> Account | None:
    query = _ACCOUNT_LOCK if lock and store.dialect == "postgresql" else _ACCOUNT_SELECT
    driver = store.driver
    r = driver.first(conn, driver.compiled(query), {"w_id": account_id})
    if r is None:
        return None
    account = Account.__new__(Account)
    account.id, account.kind, account.name = r.id, r.kind, r.name
    account.plan = store.plan(r.plan_id)
    account.anchor = from_micros(r.anchor_us)
    account.period_index = r.period_index
    account.period_start = from_micros(r.period_start_us)
    account.period_end = from_micros(r.period_end_us)
    account.base, account.rollover, account.purchased = r.base, r.rollover, r.purchased
    account.used = r.used
    account.paused, account.pause_reason = bool(r.paused), r.pause_reason
    account.pending_plan = None if r.pending_plan_id is None else store.plan(r.pending_plan_id)
    account.pending_index = r.pending_index
    account.billing_start = r.billing_start
    account.past_due = bool(r.past_due)
    settings = account.recharge = AutoRechargeState()
    settings.enabled = bool(r.recharge_enabled)
    settings.threshold, settings.amount = r.recharge_threshold, r.recharge_amount
    settings.cap_cents, settings.spent_cents = r.recharge_cap_cents, r.recharge_spent_cents
    settings.last_failure = r.recharge_last_failure
    names = store.names
    account.members = SqlMembers(conn, account_id, names)
    account.ledger = SqlLedger(conn, account_id, names, r.ledger_rows)
    account.invoices = SqlInvoices(conn, account_id, r.invoice_count)
    keys = SqlKeyRecords(conn, account_id)
    account.idempotency = keys.view("seq")
    account.recharged = keys.view("recharged")
    account.answers = keys.view("answer")
    account.days = SqlDays(conn, account_id, names)
    account.invoice_payments = SqlPayments(conn, account_id)
    account.alerts = SqlAlerts(conn, account_id)
    account.alerting = alert_config(conn, account_id, store.dialect, r)
    return account


def _scalars(account: Account) -> dict:
    settings = account.recharge
    return dict(
        kind=account.kind, name=account.name, plan_id=account.plan.id,
        anchor_us=to_micros(account.anchor), period_index=account.period_index,
        period_start_us=to_micros(account.period_start),
        period_end_us=to_micros(account.period_end), base=account.base,
        rollover=account.rollover, purchased=account.purchased, used=account.used,
        paused=account.paused, pause_reason=account.pause_reason,
        pending_plan_id=None if account.pending_plan is None else account.pending_plan.id,
        pending_index=account.pending_index, billing_start=account.billing_start,
        past_due=account.past_due, ledger_rows=len(account.ledger),
        invoice_count=len(account.invoices), recharge_enabled=settings.enabled,
        recharge_threshold=settings.threshold, recharge_amount=settings.amount,
        recharge_cap_cents=settings.cap_cents, recharge_spent_cents=settings.spent_cents,
        recharge_last_failure=settings.last_failure)


def account_values(account: Account) -> dict:
    """The account row's columns but `id` and `n` (store/bulk.py loads many at once)."""
    return _scalars(account)


def save_account(store: SqlStore, conn: sa.Connection, account: Account,
                 loaded: dict | None = None) -> None:
    """Write what the transaction changed besides the rows it appended as it went (the
    account row only if it differs from `loaded`, its values when it was read)."""
    driver, writes = store.driver, Writes()
    values = _scalars(account)
    if values != loaded:
        writes.add(driver.compiled(_ACCOUNT_UPDATE, _ACCOUNT_COLUMNS),
                   dict(values, w_id=account.id))
    account.members.save(store, writes)
    account.idempotency.records.save(writes)
    account.days.save(store.dialect, writes)
    save_alert_config(store.dialect, conn, account)
    driver.send(conn, writes)      # one round trip on PostgreSQL


def save_new_account(store: SqlStore, conn: sa.Connection, account: Account) -> None:
    """Write an account built in memory by the engine (its first period already open)."""
    conn.execute(accounts.insert().values(id=account.id, n=store.next_id("accounts"),
                                          **_scalars(account)))
    for member in account.members.values():
        conn.execute(memberships.insert().values(
            account_id=account.id, user_id=member.user_id, n=store.next_id("memberships"),
            role=member.role, credit_limit=member.limit, used=member.used))
    rows = account.ledger
    fresh = SqlLedger(conn, account.id, store.names, 0)
    for seq in range(len(rows)):
        fresh.append(tuple(rows.row(seq)), rows.keys[seq])
    fresh_invoices = SqlInvoices(conn, account.id, 0)
    for invoice in account.invoices:
        fresh_invoices.append(invoice)
