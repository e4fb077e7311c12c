"""The SQL store's idempotency records of one account, in its transaction: one row per key
holding the first success's ledger row (`seq`, -1 for a payment that wrote none), what it
recharged, and its first answer's JSON as it was sent (`answer`)."""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

import sqlalchemy as sa

from .first_answers import answer_json, rebuilt_answer
from .ledger import Names, from_micros
from .schema import accounts, idempotency, invoice_payments
from .sql_driver import Writes, driver_for
from .state import Account

_COLUMNS = ("seq", "recharged", "answer")
# Built once: the driver compiles each statement object once (sql_driver.py).
_RECORD_SELECT = sa.select(*(idempotency.c[name] for name in _COLUMNS)).where(
    idempotency.c.account_id == sa.bindparam("w_account"),
    idempotency.c.key == sa.bindparam("w_key"))
_RECORD_INSERT = idempotency.insert()
_RECORD_COLUMNS = ["account_id", "key", *_COLUMNS]


class SqlKeyRecords:
    """Records read once per key and transaction; a new one is written at commit, in one
    INSERT with its answer, which the engine gives only once the call's rows are written
    (so a debit still costs one statement here, as before answers were kept)."""

    def __init__(self, conn: sa.Connection, account_id: str) -> None:
        self.conn, self.account_id = conn, account_id
        self.driver = driver_for(conn.engine)
        self.read: dict[str, dict | None] = {}
        self.new: dict[str, dict] = {}

    def record(self, key: str) -> dict | None:
        found = self.new.get(key)
        if found is not None:
            return found
        if key not in self.read:
            driver = self.driver
            row = driver.first(self.conn, driver.compiled(_RECORD_SELECT), {
                "w_account": self.account_id, "w_key": key})
            self.read[key] = None if row is None else row._asdict()
        return self.read[key]

    def set(self, key: str, column: str, value) -> None:
        if column == "seq":
            self.new[key] = {"account_id": self.account_id, "key": key, "seq": value,
                             "recharged": 0, "answer": None}
            return
        record = self.new.get(key)
        if record is not None:
            record[column] = value
            return
        # A record of an earlier transaction: the upgrade sets the answer a journal recorded.
        value = answer_json(value) if column == "answer" else value
        updated = self.conn.execute(idempotency.update().where(
            idempotency.c.account_id == self.account_id, idempotency.c.key == key)
            .values({column: value}))
        if updated.rowcount != 1:
            raise KeyError(f"no idempotency record {key!r} in {self.account_id!r}")
        self.read.pop(key, None)

    def view(self, column: str) -> SqlKeys:
        return SqlKeys(self, column)

    def save(self, writes: Writes) -> None:
        """Gather the insert of the new records in `writes`."""
        if not self.new:
            return
        rows = [dict(record, answer=None if record["answer"] is None
                     else answer_json(record["answer"])) for record in self.new.values()]
        insert = self.driver.compiled(_RECORD_INSERT, _RECORD_COLUMNS)
        if len(rows) == 1:      # a debit's one record: no executemany round of the driver's
            writes.add(insert, rows[0])
        else:
            writes.add_many(insert, rows)
        self.read.update((row["key"], row) for row in rows)
        self.new = {}


class SqlKeys:
    """key -> one column of its record, as the memory store's dicts answer: `seq`
    (`account.idempotency`), `recharged` (only when > 0) and `answer` (JSON text)."""

    def __init__(self, records: SqlKeyRecords, column: str) -> None:
        self.records, self.column = records, column

    def get(self, key: str, default=None):
        record = self.records.record(key)
        value = None if record is None else record[self.column]
        if value is None or (self.column == "recharged" and not value):
            return default
        return answer_json(value) if self.column == "answer" else value

    def __setitem__(self, key: str, value) -> None:
        self.records.set(key, self.column, value)


# Schema step _keep_first_answers: each account's records are rebuilt and stored this many
# at a time, in one UPDATE executed for many rows (one statement per record was most of
# the step's time, with the two look-ups per record that the batch now reads up front).
FILL_BATCH = 1_000
_ANSWER_UPDATE = idempotency.update().where(
    idempotency.c.account_id == sa.bindparam("b_account"),
    idempotency.c.key == sa.bindparam("b_key")).values(answer=sa.bindparam("b_answer"))


def fill_missing_answers(conn: sa.Connection, batch_size: int = FILL_BATCH) -> int:
    """Give every record without an answer the one rebuilt from its rows (schema step
    `_keep_first_answers`); returns how many. It reads through this release's collections,
    so a later step that changes their tables must keep this one working (its test runs
    it on a database one step behind)."""
    missing = conn.execute(sa.select(idempotency.c.account_id, idempotency.c.key,
                                     idempotency.c.seq, idempotency.c.recharged)
                           .where(idempotency.c.answer.is_(None))
                           .order_by(idempotency.c.account_id)).all()
    names = Names()
    for account_id, records in groupby(missing, key=itemgetter(0)):
        books, read = _books_to_rebuild_from(conn, account_id, names)
        records = list(records)
        for start in range(0, len(records), batch_size):
            batch = records[start:start + batch_size]
            read.update((key, {"seq": seq, "recharged": recharged, "answer": None})
                        for _, key, seq, recharged in batch)
            conn.execute(_ANSWER_UPDATE, [
                {"b_account": account_id, "b_key": key,
                 "b_answer": rebuilt_answer(books, key, names.names).model_dump_json()}
                for _, key, _, _ in batch])
            read.clear()
    return len(missing)


def _books_to_rebuild_from(conn: sa.Connection, account_id: str,
                           names: Names) -> tuple[Account, dict]:
    """The parts of an account a rebuild reads (store/first_answers.py), over its tables,
    and the dict of its idempotency records read so far (the caller fills it a batch at a
    time). Its few invoice payments are read at once."""
    # Imported here: sql_rows imports this module for SqlKeyRecords.
    from .sql_rows import SqlInvoices, SqlLedger, SqlMembers
    row = conn.execute(sa.select(accounts.c.anchor_us, accounts.c.ledger_rows,
                                 accounts.c.invoice_count)
                       .where(accounts.c.id == account_id)).one()
    books = Account.__new__(Account)
    books.id, books.anchor = account_id, from_micros(row.anchor_us)
    books.ledger = SqlLedger(conn, account_id, names, row.ledger_rows)
    books.invoices = SqlInvoices(conn, account_id, row.invoice_count)
    books.members = SqlMembers(conn, account_id, names)
    p = invoice_payments.c
    books.invoice_payments = {key: tuple(paid) for key, *paid in conn.execute(
        sa.select(p.key, p.invoice_id, p.user_id, p.paid_us).where(
            p.account_id == account_id))}
    records = SqlKeyRecords(conn, account_id)
    books.idempotency, books.recharged = records.view("seq"), records.view("recharged")
    return books, records.read
