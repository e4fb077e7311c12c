"""Webhook delivery: signing, the retry schedule, the outbox, and the worker that POSTs.

Alerts reach owners' endpoints through an outbox: the engine writes one row per alert in
the transaction that raised it, and this worker delivers later, so a crash between the
commit and the POST loses nothing (the row is still there after the restart) and a slow
receiver never slows a debit (nothing here runs on the debit's path). Delivery is at least
once: a row is marked delivered only after a 2xx answer, and every attempt carries the
same `CreditDesk-Delivery` id so that receivers can drop duplicates.

The outbox is a Protocol. The server's is `webhook_store.SqlWebhooks`, which claims rows
with `FOR UPDATE SKIP LOCKED` on PostgreSQL so that several workers never take the same
one, and leases them so that a worker that dies mid-attempt gives them back. `MemoryOutbox`
(webhook_memory.py, importable from here too) is the same contract in memory, for the
deliverer's own tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from asyncio import FIRST_COMPLETED
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import httpx

from ..models import Alert
from .webhook_urls import (
    Resolver,
    UrlRefused,
    WebhookPolicy,
    check_url,
    pin,
    system_resolver,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "CreditDesk-Signature"
DELIVERY_HEADER = "CreditDesk-Delivery"
ATTEMPT_TIMEOUT_SECONDS = 10.0
RETRY_WINDOW = timedelta(hours=24)
DEFAULT_RETRY_SECONDS = 30.0
# Longer than an attempt can take, so a live worker never loses its claim mid-attempt.
DEFAULT_LEASE = timedelta(seconds=60)
SIGNATURE_TOLERANCE_SECONDS = 300
# How long finished deliveries and their attempts stay listed (`GET .../deliveries`) before
# the deliverer deletes them: far longer than the 24-hour retry window, so an owner can
# still see a month of them, while a busy account's tables stop growing forever. A constant,
# not a `serve` flag: the contract names none, and nothing depends on the exact figure.
RETENTION = timedelta(days=30)
# How often a worker prunes one bounded batch (sooner while batches come back full), and
# the batch: deliveries deleted per short transaction, so a backlog never holds a lock long.
PRUNE_EVERY = timedelta(minutes=1)
PRUNE_BATCH = 500
# https only, public addresses only: what `serve` uses without its two --allow flags.
STRICT = WebhookPolicy()

AttemptStatus = Literal["delivered", "failed", "abandoned"]


# --- signing ----------------------------------------------------------------------------

def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_hex(16)


def signature(secret: str, body: bytes, t: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: t is signed with the body,
    so a captured request cannot be replayed later under a fresh timestamp."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now: int,
                     tolerance: int = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver checks: some v1 matches under the secret, and t is recent."""
    t: int | None = None
    macs: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == "v1":
            macs.append(value)
    if t is None or abs(now - t) > tolerance:
        return False
    expected = signature(secret, body, t).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def alert_body(alert: Alert, account_id: str) -> bytes:
    """The JSON posted for an alert: the Alert, plus the account it is about."""
    document = {**alert.model_dump(mode="json"), "account_id": account_id}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


# --- retry schedule ---------------------------------------------------------------------

def retry_delay(failures: int, base_seconds: float) -> timedelta:
    """The wait after the n-th failed attempt: S, 2S, 4S, ..."""
    if failures < 1:
        raise ValueError("a retry follows at least one failed attempt")
    return timedelta(seconds=base_seconds * 2 ** (failures - 1))


def next_retry_at(created_at: datetime, failures: int, now: datetime,
                  base_seconds: float = DEFAULT_RETRY_SECONDS) -> datetime | None:
    """When to try again after `failures` failed attempts, or None: the 24 h are over."""
    at = now + retry_delay(failures, base_seconds)
    return at if at <= created_at + RETRY_WINDOW else None


# --- the outbox -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OutboxRow:
    delivery_id: str
    endpoint_id: str
    url: str
    secret: str
    alert_id: int
    body: bytes  # fixed when enqueued: every attempt posts the same bytes
    created_at: datetime
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST, as owners see it in `GET .../webhooks/{id}/deliveries`."""

    delivery_id: str
    endpoint_id: str
    alert_id: int
    at: datetime
    status: AttemptStatus
    error: str | None
    next_retry_at: datetime | None

    def public(self) -> dict:
        return {"alert_id": self.alert_id, "at": self.at.isoformat(), "status": self.status,
                "error": self.error,
                "next_retry_at": self.next_retry_at and self.next_retry_at.isoformat()}


class Outbox(Protocol):
    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        """Rows due by `now`, hidden from other claimers until now + lease."""

    def mark_delivered(self, attempt: Attempt) -> None:
        """Record the attempt; the row is done."""

    def mark_failed(self, attempt: Attempt) -> None:
        """Record the attempt; due again at attempt.next_retry_at, or done when None."""

    def prune_finished(self, before: datetime, limit: int) -> int:
        """Forget up to `limit` finished deliveries older than `before`; how many."""


# --- the worker -------------------------------------------------------------------------

def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookDeliverer:
    """Claims due outbox rows and POSTs each one, signed, to its pinned address.

    `transport` is httpx's (the tests give one that refuses any address outside loopback);
    `resolver` answers a host name's addresses (the tests inject forbidden ones).
    """

    def __init__(self, outbox: Outbox, *, policy: WebhookPolicy = STRICT,
                 resolver: Resolver = system_resolver,
                 transport: httpx.AsyncBaseTransport | None = None,
                 retry_seconds: float = DEFAULT_RETRY_SECONDS,
                 clock: Callable[[], datetime] = _utcnow,
                 timeout: float = ATTEMPT_TIMEOUT_SECONDS, batch: int = 50,
                 lease: timedelta = DEFAULT_LEASE, retention: timedelta = RETENTION,
                 prune_batch: int = PRUNE_BATCH) -> None:
        self.outbox, self.policy, self.resolver = outbox, policy, resolver
        self.retry_seconds, self.clock, self.timeout = retry_seconds, clock, timeout
        self.batch, self.lease = batch, lease
        self.retention, self.prune_batch = retention, prune_batch
        self._next_prune: datetime | None = None     # None: at the first pass
        self._wake = asyncio.Event()
        # No pooled connections: a pool keyed by the pinned IP could reuse one host's TLS
        # session for another name. No environment proxies: a proxy would connect for us
        # to whatever the name resolves to there, undoing the pinning.
        self.client = httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver_due(self) -> int:
        """One pass over what is due now; returns how many rows were delivered."""
        rows = await asyncio.to_thread(self.outbox.claim_due, self.clock(), self.batch,
                                       self.lease)
        results = await asyncio.gather(*(self._deliver(row) for row in rows))
        return sum(results)

    def poke(self) -> None:
        """Deliver now rather than at the next poll (after a commit that wrote outbox rows).

        Call it on the worker's event loop; from another thread use
        `loop.call_soon_threadsafe(deliverer.poke)`.
        """
        self._wake.set()

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Deliver until `stop` is set, waking every `poll_seconds` or when poked.

        Each claimed row is sent in a task of its own, and the next pass does not wait for
        them: a receiver that takes 10 s to answer holds up neither the other endpoints nor
        the next alerts. At most `batch` attempts are in flight at once (the rest wait in
        the outbox, unclaimed, for another worker or the next pass). On stop, attempts in
        flight get `timeout` to finish; one cut off is sent again when its lease ends."""
        in_flight: set[asyncio.Task] = set()
        while not stop.is_set():
            self._wake.clear()
            room = self.batch - len(in_flight)
            try:
                rows = await asyncio.to_thread(self.outbox.claim_due, self.clock(), room,
                                               self.lease) if room > 0 else []
            except Exception:  # an outbox that cannot answer now (its database): next poll
                log.exception("webhook delivery pass failed; trying again at the next poll")
                rows = []
            for row in rows:
                task = asyncio.create_task(self._deliver(row))
                in_flight.add(task)
                task.add_done_callback(lambda done: self._finished(done, in_flight))
            await self.prune_when_due()
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            await asyncio.wait(waits, timeout=poll_seconds, return_when=FIRST_COMPLETED)
            for task in waits:
                task.cancel()
        if in_flight:
            await asyncio.wait(in_flight, timeout=self.timeout)
            for task in in_flight:
                task.cancel()

    async def prune_when_due(self) -> int:
        """Delete one bounded batch of finished deliveries older than the retention, at
        most every PRUNE_EVERY (at the next pass while batches come back full, so a backlog
        goes down in short transactions); how many went."""
        now = self.clock()
        if self._next_prune is not None and now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_EVERY
        try:
            pruned = await asyncio.to_thread(self.outbox.prune_finished,
                                             now - self.retention, self.prune_batch)
        except Exception:  # its database, like a failed claim: the next time is soon enough
            log.exception("pruning finished webhook deliveries failed")
            return 0
        if pruned >= self.prune_batch:
            self._next_prune = now
        return pruned

    def _finished(self, task: asyncio.Task, in_flight: set[asyncio.Task]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The attempt could not be recorded (its database): the lease runs out and the
            # row is sent again, so this is logged, not lost.
            log.error("recording a webhook attempt failed", exc_info=task.exception())
        self.poke()     # a finished attempt makes room: look again for what is waiting

    async def _deliver(self, row: OutboxRow) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                error = await self._post(row)
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        at = self.clock()
        if error is None:
            await asyncio.to_thread(self.outbox.mark_delivered, Attempt(
                row.delivery_id, row.endpoint_id, row.alert_id, at, "delivered", None, None))
            return True
        retry = next_retry_at(row.created_at, row.failures + 1, at, self.retry_seconds)
        await asyncio.to_thread(self.outbox.mark_failed, Attempt(
            row.delivery_id, row.endpoint_id, row.alert_id, at,
            "failed" if retry else "abandoned", error, retry))
        return False

    async def _post(self, row: OutboxRow) -> str | None:
        """None when the receiver took it (2xx), else what went wrong, for the owner."""
        try:
            target = check_url(row.url, self.policy)
            pinned = await asyncio.to_thread(pin, target, self.policy, self.resolver)
        except UrlRefused as exc:
            return f"refused before connecting: {exc.message}"
        except OSError as exc:
            return f"could not resolve the host: {exc}"
        t = int(self.clock().timestamp())
        headers = {**pinned.headers, "Content-Type": "application/json",
                   "User-Agent": "CreditDesk-Webhooks/1", DELIVERY_HEADER: row.delivery_id,
                   SIGNATURE_HEADER: signature(row.secret, row.body, t)}
        try:
            # Streamed and never read: a receiver's answer body is not ours to download.
            async with self.client.stream("POST", pinned.url, content=row.body,
                                          headers=headers,
                                          extensions=pinned.extensions) as answer:
                code = answer.status_code
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= code < 300:
            return None
        if 300 <= code < 400:
            return f"HTTP {code}: redirects are not followed"
        return f"HTTP {code}"


# --- endpoints --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    account_id: str
    url: str
    secret: str  # shown once, in the answer to the registration
    created_at: datetime

    def public(self) -> dict:
        """What `GET .../webhooks` lists: never the secret."""
        return {"id": self.id, "url": self.url, "created_at": self.created_at.isoformat()}


def new_endpoint(account_id: str, url: object, policy: WebhookPolicy,
                 now: datetime) -> Endpoint:
    """Register-time checks (UrlRefused, field `url`) and a fresh id and signing secret.

    Only the URL's form and any literal address are checked here; names are resolved and
    checked again before every attempt, since what a name points to can change.
    """
    check_url(url, policy)
    # Random ids: an id reveals nothing about other accounts' endpoints.
    return Endpoint(f"wh_{secrets.token_hex(8)}", account_id, str(url), new_secret(), now)


def endpoints_for(alert: Alert, endpoints: list[Endpoint]) -> list[Endpoint]:
    """Where an alert goes: the endpoints registered by the time it was raised."""
    return [e for e in endpoints if e.created_at <= alert.at]


def __getattr__(name: str):
    # MemoryOutbox moved to webhook_memory.py, which imports this module: loaded on first
    # use, so `from creditdesk.server.webhooks import MemoryOutbox` keeps working either way.
    if name == "MemoryOutbox":
        from .webhook_memory import MemoryOutbox
        return MemoryOutbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
