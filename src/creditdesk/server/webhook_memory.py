"""The webhook outbox in memory: the `webhooks.Outbox` contract without a database, for the
deliverer's own tests (the server's outbox is webhook_store.SqlWebhooks)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..models import Alert
from .webhooks import Attempt, OutboxRow, alert_body, new_delivery_id


@dataclass(slots=True)
class _Pending:
    row: OutboxRow
    due: datetime
    leased_until: datetime | None = None


class MemoryOutbox:
    """The outbox in memory, thread-safe (the worker calls it from threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._attempts: list[Attempt] = []

    def enqueue(self, *, endpoint_id: str, url: str, secret: str, alert: Alert,
                account_id: str, now: datetime) -> OutboxRow:
        row = OutboxRow(new_delivery_id(), endpoint_id, url, secret, alert.id,
                        alert_body(alert, account_id), now)
        with self._lock:
            self._pending[row.delivery_id] = _Pending(row, now)
        return row

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        with self._lock:
            due = [p for p in self._pending.values() if p.due <= now
                   and (p.leased_until is None or p.leased_until <= now)]
            due.sort(key=lambda p: p.due)
            for p in due[:limit]:
                p.leased_until = now + lease
            return [p.row for p in due[:limit]]

    def mark_delivered(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.append(attempt)
            self._pending.pop(attempt.delivery_id, None)

    def mark_failed(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.append(attempt)
            pending = self._pending.get(attempt.delivery_id)
            if pending is None:
                return
            if attempt.next_retry_at is None:
                del self._pending[attempt.delivery_id]
            else:
                self._pending[attempt.delivery_id] = _Pending(
                    replace(pending.row, failures=pending.row.failures + 1),
                    attempt.next_retry_at)

    def prune_finished(self, before: datetime, limit: int) -> int:
        """Forget the attempts of finished deliveries made before `before` (the memory
        outbox keeps no finished delivery, only their attempts), at most `limit` of them."""
        with self._lock:
            old = [a for a in self._attempts
                   if a.at < before and a.delivery_id not in self._pending][:limit]
            gone = {id(a) for a in old}
            self._attempts = [a for a in self._attempts if id(a) not in gone]
        return len(old)

    def attempts(self, endpoint_id: str, limit: int = 100) -> list[Attempt]:
        """Recent attempts to one endpoint, newest first."""
        with self._lock:
            mine = [a for a in self._attempts if a.endpoint_id == endpoint_id]
        return mine[::-1][:limit]

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)
