"""Owners' webhook endpoints, in memory, and the fan-out of alerts into the outbox.

The in-process stand-in for the store's endpoint table: the routes register, list and
remove endpoints here, and whatever writes an alert calls `fan_out` in the same step, so
every alert raised after an endpoint was registered gets one outbox row per endpoint. With
a database the same two things happen in the alert's transaction instead.
"""

from __future__ import annotations

import threading
from datetime import datetime

from ..errors import InvalidRequest, NotFound
from ..models import Alert
from .webhook_urls import WebhookPolicy
from .webhooks import Endpoint, MemoryOutbox, OutboxRow, endpoints_for, new_endpoint

# An account with more endpoints than this is a mistake or an abuse: every alert is
# POSTed to each of them.
MAX_ENDPOINTS = 10


class MemoryWebhooks:
    def __init__(self, policy: WebhookPolicy, outbox: MemoryOutbox) -> None:
        self.policy, self.outbox = policy, outbox
        self._lock = threading.Lock()
        self._endpoints: dict[str, list[Endpoint]] = {}

    def register(self, account_id: str, url: object, now: datetime) -> Endpoint:
        """Check the URL (UrlRefused, field `url`) and add it; the answer holds the secret,
        which nothing shows again."""
        endpoint = new_endpoint(account_id, url, self.policy, now)
        with self._lock:
            mine = self._endpoints.setdefault(account_id, [])
            if len(mine) >= MAX_ENDPOINTS:
                raise InvalidRequest(f"an account has at most {MAX_ENDPOINTS} webhook "
                                     "endpoints; remove one first", field="url")
            mine.append(endpoint)
        return endpoint

    def endpoints(self, account_id: str) -> list[Endpoint]:
        with self._lock:
            return list(self._endpoints.get(account_id, ()))

    def remove(self, account_id: str, endpoint_id: str) -> None:
        """Later alerts are not sent to it; rows already in the outbox still go out."""
        with self._lock:
            mine = self._endpoints.get(account_id, [])
            for index, endpoint in enumerate(mine):
                if endpoint.id == endpoint_id:
                    del mine[index]
                    return
        raise NotFound(f"No webhook {endpoint_id} on this account")

    def fan_out(self, account_id: str, alerts: list[Alert], now: datetime) -> list[OutboxRow]:
        """One outbox row per alert and endpoint registered by the time it was raised."""
        endpoints = self.endpoints(account_id)
        return [self.outbox.enqueue(endpoint_id=e.id, url=e.url, secret=e.secret,
                                    alert=alert, account_id=account_id, now=now)
                for alert in alerts for e in endpoints_for(alert, endpoints)]

    def deliveries(self, account_id: str, endpoint_id: str, limit: int = 100) -> list[dict]:
        """`GET .../webhooks/{id}/deliveries`: recent attempts, newest first."""
        if all(e.id != endpoint_id for e in self.endpoints(account_id)):
            raise NotFound(f"No webhook {endpoint_id} on this account")
        return [a.public() for a in self.outbox.attempts(endpoint_id, limit)]
