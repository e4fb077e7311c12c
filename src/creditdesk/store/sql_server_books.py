"""What the SQL store keeps beside the books: the server's hashed tokens and test clock,
and the test gateway's declines and charges (`engine.StoredPaymentGateway`), so that every
worker on one database agrees on them. A part of `SqlStore` (sql.py), which has the engine,
the dialect and this thread's transaction these methods use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from .ledger import from_micros, to_micros
from .schema import gateway_charges, gateway_declines, test_clock, tokens


class ServerBooks:
    """Tokens, the test clock and the test gateway's books, on SqlStore's engine."""

    engine: sa.Engine
    dialect: str
    local: object       # SqlStore's ThreadState: this thread's open transaction, if any

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
        tx = self.local.tx
        if tx is not None:
            # Inside a transaction the engine asks the time too: read it on that transaction's
            # connection, not a second one from the pool (which its holders may have used up).
            micros = tx.conn.execute(sa.select(test_clock.c.now_us)).scalar()
        else:
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
        tx = self.local.tx
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
