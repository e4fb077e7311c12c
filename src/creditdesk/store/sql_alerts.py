"""The SQL store's alerts and invoice payments of one account: the same few operations as
the memory store's `AlertLog`, `AlertConfig` and dicts (store/state.py), over the tables of
schema step `_add_alerts`, in the account's transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import alert_marks, alert_outbox, alert_settings, alerts, invoice_payments
from .state import Account, AlertConfig


class SqlPayments:
    """pay_invoice key -> (invoice id, user id, paid at in µs) of the call that paid it."""

    def __init__(self, conn: sa.Connection, account_id: str) -> None:
        self.conn, self.account_id = conn, account_id

    def get(self, key: str, default=None):
        row = self.conn.execute(sa.select(
            invoice_payments.c.invoice_id, invoice_payments.c.user_id,
            invoice_payments.c.paid_us).where(
            invoice_payments.c.account_id == self.account_id,
            invoice_payments.c.key == key)).first()
        return default if row is None else tuple(row)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: str, value: tuple[str, str, int]) -> None:
        invoice_id, user_id, paid_us = value
        self.conn.execute(invoice_payments.insert().values(
            account_id=self.account_id, key=key, invoice_id=invoice_id, user_id=user_id,
            paid_us=paid_us))


class SqlAlerts:
    """The account's alerts: appended with their outbox row, read a page at a time."""

    def __init__(self, conn: sa.Connection, account_id: str) -> None:
        self.conn, self.account_id = conn, account_id

    def append(self, row: tuple) -> None:
        alert_id, at_us, kind, user_id, threshold, balance_after, message = row
        self.conn.execute(alerts.insert().values(
            id=alert_id, account_id=self.account_id, at=at_us, kind=kind, user_id=user_id,
            threshold=threshold, balance_after=balance_after, message=message))
        # Same transaction: the webhook worker finds every alert that was committed.
        self.conn.execute(alert_outbox.insert().values(
            alert_id=alert_id, account_id=self.account_id, at=at_us))

    def page(self, before: int | None, limit: int) -> list[tuple]:
        query = sa.select(alerts.c.id, alerts.c.at, alerts.c.kind, alerts.c.user_id,
                          alerts.c.threshold, alerts.c.balance_after, alerts.c.message
                          ).where(alerts.c.account_id == self.account_id)
        if before is not None:
            query = query.where(alerts.c.id < before)
        return [tuple(r) for r in self.conn.execute(
            query.order_by(alerts.c.id.desc()).limit(limit))]

    def __len__(self) -> int:
        return self.conn.execute(sa.select(sa.func.count()).where(
            alerts.c.account_id == self.account_id)).scalar_one()


class SqlMarks:
    """(user id, mark) -> period index it was raised in (see state.AlertConfig)."""

    def __init__(self, conn: sa.Connection, account_id: str, dialect: str) -> None:
        self.conn, self.account_id, self.dialect = conn, account_id, dialect

    def get(self, key: tuple[str, int], default=None):
        user_id, mark = key
        value = self.conn.execute(sa.select(alert_marks.c.period_index).where(
            alert_marks.c.account_id == self.account_id, alert_marks.c.user_id == user_id,
            alert_marks.c.mark == mark)).scalar()
        return default if value is None else value

    def __setitem__(self, key: tuple[str, int], period_index: int) -> None:
        user_id, mark = key
        insert = upsert_dialect(self.dialect).insert(alert_marks)
        self.conn.execute(insert.values(
            account_id=self.account_id, user_id=user_id, mark=mark,
            period_index=period_index).on_conflict_do_update(
            index_elements=["account_id", "user_id", "mark"],
            set_={"period_index": period_index}))


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _text(values) -> str:
    return ",".join(str(value) for value in values)


def alert_config(conn: sa.Connection, account_id: str, dialect: str, r) -> AlertConfig:
    """The account's alert settings from `r`, its row read with the account's (its
    `balance_below`, `member_usage_percent` and `armed` are None when it has none)."""
    config = AlertConfig()
    if r.balance_below is not None:
        config.balance_below = _ints(r.balance_below)
        config.member_usage_percent = _ints(r.member_usage_percent)
        config.armed = frozenset(_ints(r.armed))
        config.saved = config.snapshot()
    config.marks = SqlMarks(conn, account_id, dialect)
    return config


def save_alert_config(dialect: str, conn: sa.Connection, account: Account) -> None:
    """Upsert the settings and armed set when the transaction changed them (most debits
    change neither, and then write nothing here)."""
    config = account.alerting
    now = config.snapshot()
    if now == config.saved or (config.saved is None and now == ((), (), ())):
        return
    values = {"balance_below": _text(now[0]), "member_usage_percent": _text(now[1]),
              "armed": _text(now[2])}
    insert = upsert_dialect(dialect).insert(alert_settings)
    conn.execute(insert.values(account_id=account.id, **values).on_conflict_do_update(
        index_elements=["account_id"], set_=values))
    config.saved = now


def upsert_dialect(dialect: str):
    """The dialect whose insert() has on_conflict_do_update (both have it, spelled alike)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql
        return postgresql
    from sqlalchemy.dialects import sqlite
    return sqlite
