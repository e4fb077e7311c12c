"""Webhook endpoints and deliveries in the SQL store's database, shared by every worker.

The engine writes each alert with one `alert_outbox` row in the alert's own transaction.
Here, in one transaction, a worker claims outbox rows (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so two workers never take the same row; SQLite has one writer), turns each into
one delivery per endpoint registered by the alert's time, and deletes them. Then it claims
due deliveries the same way and leases them (`leased_until_us`), so no other worker sends
them while it does; the POST happens after that commit, outside any transaction, and the
attempt is recorded afterwards. A worker killed mid-attempt leaves a lease that runs out,
and another worker (or the restarted one) sends the delivery again: at least once.

`SqlWebhooks` is the deliverer's outbox (claim_due, mark_delivered, mark_failed) and what
the routes call (register, endpoints, remove, deliveries); every method is blocking (run
it in a thread) and opens its own short transaction.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..errors import InvalidRequest, NotFound
from ..models import Alert
from ..store import schema
from ..store.schema import webhook_attempts, webhook_deliveries, webhooks
from .webhooks import (
    PRUNE_BATCH,
    Attempt,
    Endpoint,
    OutboxRow,
    alert_body,
    new_delivery_id,
    new_secret,
)

# Every alert is POSTed to each endpoint: more than this is a mistake or an abuse.
MAX_ENDPOINTS = 10
# Outbox rows turned into deliveries per transaction (short transactions, bounded work).
FAN_OUT_BATCH = 200
DELIVERIES_SHOWN = 100
_FINISHED = ("delivered", "abandoned")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def finished_before(before: datetime) -> sa.Select:
    """The ids of finished deliveries created before `before` (what pruning deletes)."""
    d = webhook_deliveries.c
    return sa.select(d.id).where(d.status.in_(_FINISHED), d.created_us < to_us(before))


def _alert(row) -> Alert:
    """An `alerts` row as the contract's Alert (instants are microseconds, like every
    instant in the SQL store)."""
    fields = row._mapping
    at = fields["at_us"] if "at_us" in fields else fields["at"]
    return Alert(id=fields["id"], at=from_us(at) if isinstance(at, int) else at,
                 kind=fields["kind"], user_id=fields["user_id"],
                 threshold=fields["threshold"], balance_after=fields["balance_after"],
                 message=fields["message"])


class SqlWebhooks:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def _read(self):
        # SQLite: a deferred BEGIN (store/sql.py's begin hook), so a look takes no write lock.
        return self.engine.connect().execution_options(creditdesk_read=True)

    def _locked(self, select: sa.Select) -> sa.Select:
        return select.with_for_update(skip_locked=True) if self.postgres else select

    # --- endpoints (the routes) -----------------------------------------------------------

    def register(self, account_id: str, url: str, now: datetime) -> Endpoint:
        """Add an endpoint whose URL the caller has checked; the answer holds the secret."""
        endpoint = Endpoint(f"wh_{secrets.token_hex(8)}", account_id, url, new_secret(), now)
        with self.engine.begin() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(webhooks).where(
                webhooks.c.account_id == account_id)).scalar_one()
            if count >= MAX_ENDPOINTS:
                raise InvalidRequest(f"an account has at most {MAX_ENDPOINTS} webhook "
                                     "endpoints; remove one first", field="url")
            conn.execute(webhooks.insert().values(
                id=endpoint.id, account_id=account_id, url=url, secret=endpoint.secret,
                created_us=to_us(now)))
        return endpoint

    def endpoints(self, account_id: str) -> list[Endpoint]:
        with self._read() as conn:
            rows = conn.execute(sa.select(webhooks).where(webhooks.c.account_id == account_id)
                                .order_by(webhooks.c.created_us, webhooks.c.id)).all()
        return [Endpoint(r.id, r.account_id, r.url, r.secret, from_us(r.created_us))
                for r in rows]

    def remove(self, account_id: str, webhook_id: str) -> None:
        """Later alerts are not sent to it, nor are its deliveries still waiting."""
        with self.engine.begin() as conn:
            gone = conn.execute(webhooks.delete().where(
                webhooks.c.id == webhook_id, webhooks.c.account_id == account_id)).rowcount
            if not gone:
                raise NotFound(f"no webhook {webhook_id!r} on {account_id!r}")
            conn.execute(webhook_deliveries.delete().where(
                webhook_deliveries.c.webhook_id == webhook_id))
            conn.execute(webhook_attempts.delete().where(
                webhook_attempts.c.webhook_id == webhook_id))

    def deliveries(self, account_id: str, webhook_id: str,
                   limit: int = DELIVERIES_SHOWN) -> list[dict]:
        """Recent attempts to one endpoint, newest first."""
        with self._read() as conn:
            if conn.execute(sa.select(webhooks.c.id).where(
                    webhooks.c.id == webhook_id,
                    webhooks.c.account_id == account_id)).first() is None:
                raise NotFound(f"no webhook {webhook_id!r} on {account_id!r}")
            rows = conn.execute(sa.select(webhook_attempts).where(
                webhook_attempts.c.webhook_id == webhook_id).order_by(
                webhook_attempts.c.at_us.desc(), webhook_attempts.c.n.desc()).limit(limit))
            return [{"alert_id": r.alert_id, "at": from_us(r.at_us).isoformat(),
                     "status": r.status, "error": r.error,
                     "next_retry_at": None if r.next_retry_us is None
                     else from_us(r.next_retry_us).isoformat()} for r in rows]

    # --- the outbox (the deliverer) -------------------------------------------------------

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        """Turn waiting alerts into deliveries, then lease the deliveries due by `now`.

        Each step first looks without a write lock: on SQLite a write transaction every
        poll would queue behind (and hold up) the debits."""
        while self._has_outbox_rows():
            if self._fan_out(now) < FAN_OUT_BATCH:
                break           # a batch that was not full took all that waited
        if not self._has_due(now):
            return []
        return self._lease_due(now, limit, lease)

    def _has_outbox_rows(self) -> bool:
        with self._read() as conn:
            return conn.execute(sa.select(schema.alert_outbox.c.alert_id).limit(1)
                                ).first() is not None

    def _has_due(self, now: datetime) -> bool:
        with self._read() as conn:
            return conn.execute(self._due(now).limit(1)).first() is not None

    def _due(self, now: datetime) -> sa.Select:
        d, us = webhook_deliveries.c, to_us(now)
        return sa.select(d.id).where(d.status == "pending", d.next_retry_us <= us,
                                     sa.or_(d.leased_until_us.is_(None),
                                            d.leased_until_us <= us))

    def _fan_out(self, now: datetime) -> int:
        """One transaction: claim outbox rows, add their deliveries, delete the rows."""
        outbox, alerts = schema.alert_outbox, schema.alerts
        with self.engine.begin() as conn:
            claimed = conn.execute(self._locked(sa.select(outbox.c.alert_id).order_by(
                outbox.c.alert_id).limit(FAN_OUT_BATCH))).scalars().all()
            if not claimed:
                return 0
            for row in conn.execute(sa.select(alerts).where(alerts.c.id.in_(claimed))):
                alert = _alert(row)
                account_id = row._mapping["account_id"]
                body = alert_body(alert, account_id).decode()
                targets = conn.execute(sa.select(webhooks.c.id).where(
                    webhooks.c.account_id == account_id,
                    webhooks.c.created_us <= to_us(alert.at))).scalars().all()
                if targets:
                    conn.execute(webhook_deliveries.insert(), [
                        {"id": new_delivery_id(), "webhook_id": target, "alert_id": alert.id,
                         "body": body, "created_us": to_us(now), "attempts": 0,
                         "status": "pending", "last_error": None, "next_retry_us": to_us(now),
                         "leased_until_us": None} for target in targets])
            conn.execute(outbox.delete().where(outbox.c.alert_id.in_(claimed)))
            return len(claimed)

    def _lease_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        d = webhook_deliveries.c
        with self.engine.begin() as conn:
            ids = conn.execute(self._locked(self._due(now).order_by(d.next_retry_us)
                                            .limit(limit))).scalars().all()
            if not ids:
                return []
            conn.execute(webhook_deliveries.update().where(d.id.in_(ids)).values(
                leased_until_us=to_us(now + lease)))
            rows = conn.execute(sa.select(webhook_deliveries, webhooks.c.url,
                                          webhooks.c.secret).join(
                webhooks, webhooks.c.id == d.webhook_id).where(d.id.in_(ids))).all()
        return [OutboxRow(r.id, r.webhook_id, r.url, r.secret, r.alert_id, r.body.encode(),
                          from_us(r.created_us), r.attempts) for r in rows]

    def mark_delivered(self, attempt: Attempt) -> None:
        self._record(attempt, "delivered")

    def mark_failed(self, attempt: Attempt) -> None:
        self._record(attempt, "pending" if attempt.next_retry_at is not None else "abandoned")

    def _record(self, attempt: Attempt, status: str) -> None:
        d = webhook_deliveries.c
        retry = None if attempt.next_retry_at is None else to_us(attempt.next_retry_at)
        with self.engine.begin() as conn:
            done = conn.execute(sa.select(d.attempts).where(
                d.id == attempt.delivery_id, d.status == "pending")).scalar()
            if done is None:
                return      # delivered meanwhile (a lease ran out), or its endpoint removed
            conn.execute(webhook_deliveries.update().where(d.id == attempt.delivery_id)
                         .values(attempts=done + 1, status=status, last_error=attempt.error,
                                 next_retry_us=retry, leased_until_us=None))
            conn.execute(webhook_attempts.insert().values(
                delivery_id=attempt.delivery_id, n=done + 1, webhook_id=attempt.endpoint_id,
                alert_id=attempt.alert_id, at_us=to_us(attempt.at), status=attempt.status,
                error=attempt.error, next_retry_us=retry))

    def prune_finished(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` finished deliveries created before `before`, with their
        attempts; returns how many. A delivery finishes within the 24-hour retry window of
        its creation, so with a retention far longer than that, its creation time stands
        for when it finished (the index of schema step _index_finished_deliveries). Pending
        deliveries stay, however old: they are still owed."""
        with self._read() as conn:      # look first: most passes find nothing to delete
            if conn.execute(finished_before(before).limit(1)).first() is None:
                return 0
        with self.engine.begin() as conn:
            # The delivery rows first, as remove() takes them: no lock-order deadlock.
            ids = conn.execute(self._locked(finished_before(before).limit(limit))
                               ).scalars().all()
            if ids:
                conn.execute(webhook_attempts.delete().where(
                    webhook_attempts.c.delivery_id.in_(ids)))
                conn.execute(webhook_deliveries.delete().where(
                    webhook_deliveries.c.id.in_(ids)))
        return len(ids)

    def pending_count(self) -> int:
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)
                                .where(webhook_deliveries.c.status == "pending")).scalar_one()
