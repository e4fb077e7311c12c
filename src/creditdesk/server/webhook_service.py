"""The server's webhooks: the settings `serve` passes in, what the routes call, and the
deliverer that runs in the app's lifespan (in every worker; the database's claims make sure
each delivery is sent by one of them at a time).

Webhooks live in the SQL store's database. A server whose engine keeps its books in memory
has nowhere shared and durable to keep an outbox, so there every webhook path answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio.to_thread
import httpx

from ..errors import InvalidRequest, Unavailable
from .webhook_store import SqlWebhooks
from .webhook_urls import (
    Resolver,
    WebhookPolicy,
    check_url,
    pin,
    system_resolver,
)
from .webhooks import DEFAULT_RETRY_SECONDS, Endpoint, WebhookDeliverer

# How often an idle worker looks for new alerts: the delivery latency's upper bound.
DEFAULT_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class WebhookSettings:
    """`serve --allow-http-webhooks --allow-private-webhooks --webhook-retry-seconds S`;
    `resolver` and `transport` are for tests (a name resolving to a forbidden address, a
    transport that refuses anything outside loopback)."""

    policy: WebhookPolicy = field(default_factory=WebhookPolicy)
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    resolver: Resolver = system_resolver
    transport: httpx.AsyncBaseTransport | None = None
    poll_seconds: float = DEFAULT_POLL_SECONDS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def settings_from_args(args) -> WebhookSettings:
    """The settings of `creditdesk serve`'s flags (cli/serve.py)."""
    return WebhookSettings(
        policy=WebhookPolicy(allow_http=getattr(args, "allow_http_webhooks", False),
                             allow_private=getattr(args, "allow_private_webhooks", False)),
        retry_seconds=getattr(args, "webhook_retry_seconds", DEFAULT_RETRY_SECONDS))


class ServerWebhooks:
    """Endpoints and deliveries for the routes, and the deliverer for the lifespan."""

    def __init__(self, engine_store, settings: WebhookSettings | None) -> None:
        self.settings = settings or WebhookSettings()
        sql = getattr(engine_store, "engine", None) if engine_store.kind == "sql" else None
        self.store = SqlWebhooks(sql) if sql is not None else None
        self.deliverer: WebhookDeliverer | None = None

    def available(self) -> SqlWebhooks:
        if self.store is None:
            raise Unavailable("webhooks need the server's database: this server keeps its "
                              "books in memory, where an outbox would not survive a restart")
        return self.store

    async def register(self, account_id: str, url: str, now: datetime) -> Endpoint:
        store = self.available()
        await anyio.to_thread.run_sync(self.check, url)
        return await anyio.to_thread.run_sync(store.register, account_id, url, now)

    def check(self, url: str) -> None:
        """The URL's form, and every address its host resolves to now (checked again before
        every attempt, since what a name points to can change)."""
        policy = self.settings.policy
        target = check_url(url, policy)
        try:
            pin(target, policy, self.settings.resolver)
        except OSError as error:
            raise InvalidRequest(f"url: the host {target.host} does not resolve ({error})",
                                 field="url") from None

    async def endpoints(self, account_id: str) -> list[Endpoint]:
        return await anyio.to_thread.run_sync(self.available().endpoints, account_id)

    async def remove(self, account_id: str, webhook_id: str) -> None:
        await anyio.to_thread.run_sync(self.available().remove, account_id, webhook_id)

    async def deliveries(self, account_id: str, webhook_id: str) -> list[dict]:
        return await anyio.to_thread.run_sync(self.available().deliveries, account_id,
                                              webhook_id)

    def make_deliverer(self) -> WebhookDeliverer:
        settings = self.settings
        return WebhookDeliverer(self.available(), policy=settings.policy,
                                resolver=settings.resolver, transport=settings.transport,
                                retry_seconds=settings.retry_seconds, clock=settings.clock)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan: deliver until the server stops (nothing without a store)."""
        if self.store is None:
            yield
            return
        self.deliverer = deliverer = self.make_deliverer()
        stop = asyncio.Event()
        task = asyncio.create_task(deliverer.run(stop, self.settings.poll_seconds))
        unwatch = watch_outbox(self.store.engine, asyncio.get_running_loop(), deliverer.poke)
        try:
            yield
        finally:
            unwatch()
            stop.set()
            deliverer.poke()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await asyncio.wait_for(task, timeout=15)
                except TimeoutError:
                    task.cancel()   # an attempt in flight: its lease runs out, it goes again
            await deliverer.aclose()
            self.deliverer = None


def watch_outbox(engine, loop: asyncio.AbstractEventLoop, poke: Callable[[], None]):
    """Poke the deliverer when a transaction of this process that wrote an outbox row
    commits (alerts raised in other workers wait for the poll). Listens on the SQLAlchemy
    engine, so the engine's code needs no hook; returns what stops listening."""
    from sqlalchemy import event

    def executed(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip()[:6].upper() == "INSERT" and "alert_outbox" in statement:
            conn.info["creditdesk_outbox"] = True

    def rolled_back(conn) -> None:
        # A connection the database dropped has no info left to read (SQLAlchemy raises
        # PendingRollbackError from the rollback, turning a 503 into a 500).
        if not conn.invalidated:
            conn.info.pop("creditdesk_outbox", None)

    def checked_in(dbapi_connection, record) -> None:
        # Back in the pool: the transaction has committed (a rollback cleared the mark),
        # whereas the "commit" event comes just before the database's COMMIT.
        if record.info.pop("creditdesk_outbox", False):
            loop.call_soon_threadsafe(poke)     # commits happen in worker threads

    hooks = (("after_cursor_execute", executed), ("rollback", rolled_back),
             ("checkin", checked_in))
    for name, listener in hooks:
        event.listen(engine, name, listener)

    def unwatch() -> None:
        for name, listener in hooks:
            event.remove(engine, name, listener)
    return unwatch
