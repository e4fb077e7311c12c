"""The SQL store's idempotency records of one account, in its transaction: one row per key
holding the first success's ledger row (`seq`, -1 for a payment that wrote none), what it
recharged, and its first answer's JSON as it was sent (`answer`)."""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

import sqlalchemy as sa

from .first_answers import answer_json, rebuilt_answer
from .ledger import Names, from_micros
from .schema import accounts, idempotency
from .state import Account

_COLUMNS = ("seq", "recharged", "answer")


class SqlKeyRecords:
    """Records read once per key and transaction; a new one is written at commit, in one
    INSERT with its answer, which the engine gives only once the call's rows are written
    (so a debit still costs one statement here, as before answers were kept)."""

    def __init__(self, conn: sa.Connection, account_id: str) -> None:
        self.conn, self.account_id = conn, account_id
        self.read: dict[str, dict | None] = {}
        self.new: dict[str, dict] = {}

    def record(self, key: str) -> dict | None:
        found = self.new.get(key)
        if found is not None:
            return found
        if key not in self.read:
            row = self.conn.execute(
                sa.select(*(idempotency.c[name] for name in _COLUMNS)).where(
                    idempotency.c.account_id == self.account_id,
                    idempotency.c.key == key)).first()
            self.read[key] = None if row is None else dict(row._mapping)
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

    def save(self) -> None:
        if not self.new:
            return
        rows = [dict(record, answer=None if record["answer"] is None
                     else answer_json(record["answer"])) for record in self.new.values()]
        self.conn.execute(idempotency.insert(), rows)
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


def fill_missing_answers(conn: sa.Connection) -> int:
    """Give every record without an answer the one rebuilt from its rows (schema step
    `_keep_first_answers`); returns how many. It reads through this release's collections,
    so a later step that changes their tables must keep this one working (its test runs
    it on a database one step behind)."""
    missing = conn.execute(sa.select(idempotency.c.account_id, idempotency.c.key)
                           .where(idempotency.c.answer.is_(None))
                           .order_by(idempotency.c.account_id)).all()
    names = Names()
    for account_id, records in groupby(missing, key=itemgetter(0)):
        books = _books_to_rebuild_from(conn, account_id, names)
        for _, key in records:
            answer = rebuilt_answer(books, key, names.names).model_dump_json()
            conn.execute(idempotency.update().where(
                idempotency.c.account_id == account_id, idempotency.c.key == key)
                .values(answer=answer))
    return len(missing)


def _books_to_rebuild_from(conn: sa.Connection, account_id: str, names: Names) -> Account:
    """The parts of an account a rebuild reads (store/first_answers.py), over its tables."""
    # Imported here: sql_rows imports this module for SqlKeyRecords.
    from .sql_alerts import SqlPayments
    from .sql_rows import SqlInvoices, SqlLedger, SqlMembers
    row = conn.execute(sa.select(accounts.c.anchor_us, accounts.c.ledger_rows,
                                 accounts.c.invoice_count)
                       .where(accounts.c.id == account_id)).one()
    books = Account.__new__(Account)
    books.id, books.anchor = account_id, from_micros(row.anchor_us)
    books.ledger = SqlLedger(conn, account_id, names, row.ledger_rows)
    books.invoices = SqlInvoices(conn, account_id, row.invoice_count)
    books.members = SqlMembers(conn, account_id, names)
    books.invoice_payments = SqlPayments(conn, account_id)
    records = SqlKeyRecords(conn, account_id)
    books.idempotency, books.recharged = records.view("seq"), records.view("recharged")
    return books
