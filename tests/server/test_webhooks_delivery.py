"""Alerts raised by the engine on the SQL store, delivered from the database's outbox to a
real receiver on loopback (SQLite and PostgreSQL): signed with the endpoint's secret, to the
endpoints registered by the alert's time, retried until taken, once per worker pool.

Every deliverer gets a transport that fails the test before any connection outside
127.0.0.0/8, and a resolver that fails it before any system DNS query.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from creditdesk.server.webhook_store import SqlWebhooks
from creditdesk.server.webhook_urls import WebhookPolicy
from creditdesk.server.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Attempt,
    WebhookDeliverer,
    verify_signature,
)
from creditdesk.store import schema
from tests.server.test_webhooks import (
    LoopbackOnly,
    NeverConnect,
    Receiver,
    no_system_dns,
)

LOCAL = WebhookPolicy(allow_http=True, allow_private=True)   # the loopback receiver needs it


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request):
    return request.param


@pytest.fixture
def store_factory(store_kind, tmp_path, request):
    """Stores on one database: the world's, and more for other 'workers' in one test."""
    from creditdesk.store import SqlStore
    opened = []
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp_path}/books.db"
    else:
        from tests.support.postgres import shared_cluster
        cluster = shared_cluster()
        name = cluster.create_database()
        url = cluster.url(name)
        request.addfinalizer(lambda: cluster.drop_database(name))

    def make():
        store = SqlStore(url)
        store.migrate()
        opened.append(store)
        return store
    yield make
    for store in opened:
        store.close()


@pytest.fixture
def receiver_factory():
    started: list[Receiver] = []

    def start(script=(), delay: float = 0.0) -> Receiver:
        started.append(Receiver(script, delay))
        started[-1].thread.start()
        return started[-1]
    yield start
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
async def deliverers():
    made = []

    def make(hooks, **options) -> WebhookDeliverer:
        options.setdefault("transport", LoopbackOnly())
        options.setdefault("resolver", no_system_dns)
        options.setdefault("policy", LOCAL)
        options.setdefault("retry_seconds", 0.01)
        made.append(WebhookDeliverer(hooks, **options))
        return made[-1]
    yield make
    for deliverer in made:
        await deliverer.aclose()


def hooks_of(world) -> SqlWebhooks:
    return SqlWebhooks(world.engine.store.engine)


def cross(world, *thresholds: int, credits: int = 600, key: str = "k1"):
    """Set balance thresholds and debit across them: one alert per threshold crossed."""
    world.session("ann").configure_alerts("acme", balance_below=list(thresholds),
                                          member_usage_percent=[])
    world.session("cat").record_usage("acme", credits, campaign="c", idempotency_key=key)
    return world.session("ann").alerts("acme")


async def deliver_until(deliverer, done, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "not delivered in time"
        await deliverer.deliver_due()
        await asyncio.sleep(0.01)


def outbox_rows(world) -> int:
    with world.engine.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.alert_outbox)
                            ).scalar_one()


async def test_each_alert_reaches_the_receiver_signed_with_the_secret(
        world, receiver_factory, deliverers):
    receiver = receiver_factory()
    hooks = hooks_of(world)
    endpoint = hooks.register("acme", receiver.url, world.now())
    alerts = cross(world, 900, 500)
    assert [a.threshold for a in alerts] == [900, 500]
    assert outbox_rows(world) == 2              # written with the alerts, in their commit
    deliverer = deliverers(hooks)
    assert await deliverer.deliver_due() == 2
    assert outbox_rows(world) == 0
    assert len(receiver.received) == 2
    now = int(time.time())
    bodies = {}
    for headers, body in receiver.received:
        assert verify_signature(endpoint.secret, headers[SIGNATURE_HEADER], body, now=now)
        assert not verify_signature("whsec_wrong", headers[SIGNATURE_HEADER], body, now=now)
        assert headers[DELIVERY_HEADER].startswith("dlv_")
        document = json.loads(body)
        bodies[document["id"]] = document
    for alert in alerts:
        assert bodies[alert.id] == {**alert.model_dump(mode="json"), "account_id": "acme"}
    attempts = hooks.deliveries("acme", endpoint.id)
    assert sorted(a["alert_id"] for a in attempts) == sorted(a.id for a in alerts)
    assert {a["status"] for a in attempts} == {"delivered"}
    assert await deliverer.deliver_due() == 0   # delivered once, not again
    assert len(receiver.received) == 2


async def test_only_endpoints_registered_by_the_alert_get_it(world, receiver_factory,
                                                             deliverers):
    early, late = receiver_factory(), receiver_factory()
    hooks = hooks_of(world)
    hooks.register("acme", early.url, world.now())
    [alert] = cross(world, 900)
    world.advance(seconds=1)
    hooks.register("acme", late.url, world.now())
    assert await deliverers(hooks).deliver_due() == 1
    assert [json.loads(body)["id"] for _, body in early.received] == [alert.id]
    assert late.received == []


async def test_three_failures_then_one_delivery_with_every_attempt_shown(
        world, receiver_factory, deliverers):
    receiver = receiver_factory(script=[500, 503, 500])
    hooks = hooks_of(world)
    endpoint = hooks.register("acme", receiver.url, world.now())
    [alert] = cross(world, 900)
    deliverer = deliverers(hooks)
    await deliver_until(deliverer, lambda: len(receiver.received) == 4)
    assert hooks.pending_count() == 0
    assert len({headers[DELIVERY_HEADER] for headers, _ in receiver.received}) == 1
    attempts = hooks.deliveries("acme", endpoint.id)          # newest first
    assert [a["status"] for a in attempts] == ["delivered", "failed", "failed", "failed"]
    assert [a["error"] for a in attempts] == [None, "HTTP 500", "HTTP 503", "HTTP 500"]
    assert all(a["alert_id"] == alert.id for a in attempts)
    assert attempts[0]["next_retry_at"] is None
    failed_at = [datetime.fromisoformat(a["at"]) for a in attempts[::-1]]
    retries = [datetime.fromisoformat(a["next_retry_at"]) for a in attempts[:0:-1]]
    # Each retry waits twice as long as the one before: 10 ms, 20 ms, 40 ms.
    for n, (at, retry) in enumerate(zip(failed_at, retries, strict=False)):
        assert retry - at == timedelta(seconds=0.01 * 2 ** n)
    await deliverer.deliver_due()
    assert len(receiver.received) == 4


async def test_a_lapsed_lease_sends_the_delivery_again(world, receiver_factory, deliverers):
    receiver = receiver_factory()
    hooks = hooks_of(world)
    hooks.register("acme", receiver.url, world.now())
    cross(world, 900)
    now = datetime.now(UTC)
    # A worker claims it and dies before recording the attempt.
    [claimed] = hooks.claim_due(now, 10, timedelta(seconds=60))
    assert hooks.claim_due(now + timedelta(seconds=59), 10, timedelta(seconds=60)) == []
    [again] = hooks.claim_due(now + timedelta(seconds=61), 10, timedelta(seconds=60))
    assert again.delivery_id == claimed.delivery_id and again.body == claimed.body


async def test_a_name_that_now_resolves_inside_is_refused_before_connecting(world,
                                                                           deliverers):
    hooks = hooks_of(world)
    endpoint = hooks.register("acme", "https://hooks.example.com/in", world.now())
    cross(world, 900)
    answers = {"hooks.example.com": ["127.0.0.1"]}   # DNS rebinding since registration
    deliverer = deliverers(hooks, policy=WebhookPolicy(), transport=NeverConnect(),
                           resolver=answers.__getitem__)
    assert await deliverer.deliver_due() == 0
    [attempt] = hooks.deliveries("acme", endpoint.id)
    assert attempt["status"] == "failed"
    assert attempt["error"].startswith("refused before connecting")
    assert "loopback" in attempt["error"]


async def test_a_redirect_to_a_private_address_is_not_followed(world, receiver_factory,
                                                              deliverers):
    receiver = receiver_factory(script=[(302, "http://10.0.0.1/steal")])
    hooks = hooks_of(world)
    endpoint = hooks.register("acme", receiver.url, world.now())
    cross(world, 900)
    transport = LoopbackOnly()
    assert await deliverers(hooks, transport=transport).deliver_due() == 0
    assert transport.hosts == ["127.0.0.1"]                 # only the receiver, once
    [attempt] = hooks.deliveries("acme", endpoint.id)
    assert attempt["error"] == "HTTP 302: redirects are not followed"


async def test_a_removed_endpoint_gets_nothing_more(world, receiver_factory, deliverers):
    receiver = receiver_factory()
    hooks = hooks_of(world)
    endpoint = hooks.register("acme", receiver.url, world.now())
    cross(world, 900)
    hooks.remove("acme", endpoint.id)
    assert await deliverers(hooks).deliver_due() == 0
    assert receiver.received == []
    assert outbox_rows(world) == 0


async def test_two_workers_deliver_each_alert_once(world, store_factory, receiver_factory,
                                                   deliverers):
    receiver = receiver_factory(delay=0.02)
    hooks = hooks_of(world)
    hooks.register("acme", receiver.url, world.now())
    session = world.session("ann")
    session.configure_alerts("acme", balance_below=[900, 800, 700, 600, 500],
                             member_usage_percent=[])
    for round_ in range(4):         # cross all five, then buy back above them: re-armed
        world.session("cat").record_usage("acme", 600, campaign="c",
                                          idempotency_key=f"use-{round_}")
        session.purchase_credits("acme", 600, idempotency_key=f"buy-{round_}")
    alerts = session.alerts("acme")
    assert len(alerts) == 20
    other = SqlWebhooks(store_factory().engine)              # a second worker's pool
    workers = [deliverers(hooks), deliverers(other)]
    stop = asyncio.Event()
    runs = [asyncio.create_task(w.run(stop, poll_seconds=0.01)) for w in workers]
    deadline = time.monotonic() + 20
    while len(receiver.received) < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)        # time for a duplicate, if there were one
    stop.set()
    await asyncio.gather(*runs)
    ids = sorted(json.loads(body)["id"] for _, body in receiver.received)
    assert ids == sorted(a.id for a in alerts)
    assert hooks.pending_count() == 0


async def test_the_lifespan_delivers_at_once_after_a_commit(world, receiver_factory):
    """The server's lifespan: a commit that wrote an outbox row pokes the deliverer, so the
    alert arrives long before the next poll (30 s here)."""
    from creditdesk.server.webhook_service import ServerWebhooks, WebhookSettings
    receiver = receiver_factory()
    server = ServerWebhooks(world.engine.store, WebhookSettings(
        policy=LOCAL, transport=LoopbackOnly(), resolver=no_system_dns, poll_seconds=30))
    await server.register("acme", receiver.url, world.now())
    async with server.running():
        await asyncio.sleep(0.1)        # the first pass found nothing; it waits 30 s
        began = time.monotonic()
        await asyncio.to_thread(cross, world, 900)
        while not receiver.received and time.monotonic() - began < 5:
            await asyncio.sleep(0.01)
        assert len(receiver.received) == 1
        assert time.monotonic() - began < 5
    assert server.deliverer is None


def row_counts(world) -> tuple[int, int]:
    with world.engine.store.engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                     for table in (schema.webhook_deliveries, schema.webhook_attempts))


async def test_old_finished_deliveries_are_pruned_pending_and_recent_ones_stay(world):
    """Two deliveries delivered and one abandoned a month and more ago go, with their
    attempts, one bounded batch at a time; one as old but still pending stays (it is
    owed), and so do those of 11 days ago, still listed."""
    hooks, t0 = hooks_of(world), world.now()
    ok = hooks.register("acme", "https://ok.example/", t0)
    failing = hooks.register("acme", "https://failing.example/", t0)
    cross(world, 900, 800)

    def attempt(row, at, status, retry=None):
        mark = hooks.mark_delivered if status == "delivered" else hooks.mark_failed
        mark(Attempt(row.delivery_id, row.endpoint_id, row.alert_id, at, status,
                     None if status == "delivered" else "HTTP 500", retry))

    lease = timedelta(days=60)      # nothing claimed here is claimed again by mistake
    old = hooks.claim_due(t0, 10, lease)
    assert len(old) == 4
    to_fail = [r for r in old if r.endpoint_id == failing.id]
    for row in old:
        if row.endpoint_id == ok.id:
            attempt(row, t0, "delivered")
    attempt(to_fail[0], t0, "abandoned")
    attempt(to_fail[1], t0, "failed", retry=t0 + timedelta(hours=1))    # still pending
    later = t0 + timedelta(days=20)
    world.advance(days=20)
    assert cross(world, 300, credits=200, key="k2")[0].threshold == 300
    recent = [r for r in hooks.claim_due(later, 10, lease) if r.created_at == later]
    assert len(recent) == 2
    for row in recent:
        attempt(row, later, "delivered")
    assert row_counts(world) == (6, 6)

    month_on = t0 + timedelta(days=31)
    before = month_on - timedelta(days=30)
    assert hooks.prune_finished(before, limit=2) == 2           # bounded
    assert hooks.prune_finished(before, limit=2) == 1
    assert hooks.prune_finished(before, limit=2) == 0
    assert row_counts(world) == (3, 3)
    assert hooks.pending_count() == 1
    shown = hooks.deliveries("acme", failing.id)
    assert [(a["status"], a["at"]) for a in shown] == [
        ("delivered", later.isoformat()), ("failed", t0.isoformat())]
    assert [a["at"] for a in hooks.deliveries("acme", ok.id)] == [later.isoformat()]


async def test_the_running_deliverer_prunes_what_is_past_the_retention(world,
                                                                       deliverers):
    hooks, t0 = hooks_of(world), world.now()
    endpoint = hooks.register("acme", "https://hooks.example/", t0)
    cross(world, 900)
    [row] = hooks.claim_due(t0, 10, timedelta(seconds=60))
    hooks.mark_delivered(Attempt(row.delivery_id, row.endpoint_id, row.alert_id, t0,
                                 "delivered", None, None))
    clock = {"now": t0 + timedelta(days=29)}
    deliverer = deliverers(hooks, clock=lambda: clock["now"], transport=NeverConnect())
    assert await deliverer.prune_when_due() == 0                # not yet 30 days old
    assert hooks.deliveries("acme", endpoint.id) != []
    clock["now"] = t0 + timedelta(days=31)
    stop = asyncio.Event()
    run = asyncio.create_task(deliverer.run(stop, poll_seconds=0.01))
    deadline = time.monotonic() + 10
    while hooks.deliveries("acme", endpoint.id) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    stop.set()
    await run
    assert hooks.deliveries("acme", endpoint.id) == []
    assert row_counts(world) == (0, 0)
