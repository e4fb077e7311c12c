"""Webhook signing, the retry schedule, the outbox, and delivery to a real loopback receiver.

No test here may open a connection outside 127.0.0.0/8, even with a broken check: every
deliverer gets a transport that refuses, before connecting, any host that is not a literal
127.x address (a name would go to the system's DNS, so it is refused too).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from creditdesk.models import Alert
from creditdesk.server.webhook_urls import WebhookPolicy
from creditdesk.server.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Attempt,
    MemoryOutbox,
    WebhookDeliverer,
    alert_body,
    new_secret,
    next_retry_at,
    retry_delay,
    signature,
    verify_signature,
)

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOCAL = WebhookPolicy(allow_http=True, allow_private=True)  # what the tests' receiver needs
STRICT_HTTP = WebhookPolicy(allow_http=True)  # private refused; http so the scheme passes


def alert(id_: int = 1) -> Alert:
    return Alert(id=id_, at=T0, kind="balance_below", user_id=None, threshold=50_000,
                 balance_after=49_800, message="The balance fell below 50,000 credits.")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class LoopbackOnly(httpx.AsyncHTTPTransport):
    """The real transport, behind a guard that fails the test before any other connection."""

    def __init__(self) -> None:
        super().__init__()
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pytest.fail(f"the deliverer handed a name to httpx ({host}): not pinned")
        if address not in LOOPBACK:
            pytest.fail(f"the deliverer tried to connect to {address}")
        self.hosts.append(host)
        return await super().handle_async_request(request)


class NeverConnect(httpx.AsyncBaseTransport):
    """For refusals: being called at all means a forbidden request got through."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pytest.fail(f"a connection to {request.url} was attempted")


class RecordOnly(httpx.AsyncBaseTransport):
    """Sees what would be sent to a public address, and fails the attempt unsent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("not connecting outside loopback in tests", request=request)


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that answers from a script, then 200."""

    def __init__(self, script=(), delay: float = 0.0) -> None:
        self.script = list(script)
        self.delay = delay
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                status, location = receiver.next_answer()
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def next_answer(self) -> tuple[int, str | None]:
        item = self.script.pop(0) if self.script else 200
        return item if isinstance(item, tuple) else (item, None)


@pytest.fixture
def receiver_factory():
    started: list[Receiver] = []

    def start(script=(), delay: float = 0.0) -> Receiver:
        receiver = Receiver(script, delay)
        receiver.thread.start()
        started.append(receiver)
        return receiver
    yield start
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()


def no_system_dns(name: str) -> list[str]:
    pytest.fail(f"the test would have asked the system's DNS about {name}")


@pytest.fixture
async def make_deliverer():
    made: list[WebhookDeliverer] = []

    def make(outbox, **options) -> WebhookDeliverer:
        options.setdefault("transport", LoopbackOnly())
        options.setdefault("resolver", no_system_dns)  # a DNS query is traffic too
        deliverer = WebhookDeliverer(outbox, **options)
        made.append(deliverer)
        return deliverer
    yield make
    for deliverer in made:
        await deliverer.aclose()


def enqueue(outbox: MemoryOutbox, url: str, secret: str = "whsec_test", id_: int = 1):
    return outbox.enqueue(endpoint_id="wh_1", url=url, secret=secret, alert=alert(id_),
                          account_id="acme", now=T0)


# --- signing ----------------------------------------------------------------------------

def test_signature_is_hmac_of_t_dot_body():
    import hashlib
    import hmac
    body = b'{"a":1}'
    mac = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body, 1700000000) == f"t=1700000000,v1={mac}"


@pytest.mark.parametrize("secret, header_t, body, now, ok", [
    ("s", 1000, b"x", 1000, True),
    ("s", 1000, b"x", 1300, True),     # within five minutes
    ("s", 1000, b"x", 1301, False),    # stale: a captured request replayed later
    ("other", 1000, b"x", 1000, False),
    ("s", 1000, b"y", 1000, False),    # body changed after signing
])
def test_verify_signature(secret, header_t, body, now, ok):
    header = signature("s", b"x", header_t)
    assert verify_signature(secret, header, body, now=now) is ok


@pytest.mark.parametrize("header", ["", "t=1000", "v1=abc", "t=abc,v1=00", "garbage"])
def test_malformed_signatures_do_not_verify(header):
    assert not verify_signature("s", header, b"x", now=1000)


def test_any_of_several_v1_may_match():
    good = signature("s", b"x", 1000).split(",")[1]
    assert verify_signature("s", f"t=1000,v1=deadbeef,{good}", b"x", now=1000)


def test_secrets_and_bodies():
    assert new_secret() != new_secret() and len(new_secret()) > 40
    assert json.loads(alert_body(alert(), "acme")) == {
        **alert().model_dump(mode="json"), "account_id": "acme"}


# --- retry schedule ---------------------------------------------------------------------

@pytest.mark.parametrize("failures, seconds", [(1, 30), (2, 60), (3, 120), (10, 15_360)])
def test_each_delay_is_twice_the_last(failures, seconds):
    assert retry_delay(failures, 30) == timedelta(seconds=seconds)


def test_retries_stop_after_24_hours():
    at, failures, schedule = T0, 0, []
    while True:
        failures += 1
        retry = next_retry_at(T0, failures, at, 30)
        if retry is None:
            break
        schedule.append(retry)
        at = retry
    assert schedule[0] == T0 + timedelta(seconds=30)
    assert schedule[-1] <= T0 + timedelta(hours=24) < at + retry_delay(failures, 30)
    assert len(schedule) == 11  # 30 s x (2^11 - 1) = 17 h; the 12th would end after 34 h
    with pytest.raises(ValueError):
        retry_delay(0, 30)


# --- the outbox -------------------------------------------------------------------------

def test_a_claimed_row_is_hidden_until_its_lease_ends():
    outbox = MemoryOutbox()
    row = enqueue(outbox, "https://hooks.example.com/")
    assert outbox.claim_due(T0, 10, timedelta(seconds=60)) == [row]
    assert outbox.claim_due(T0 + timedelta(seconds=59), 10, timedelta(seconds=60)) == []
    # The worker died mid-attempt: the row comes back, so nothing is lost.
    assert outbox.claim_due(T0 + timedelta(seconds=60), 10, timedelta(seconds=60)) == [row]


def test_claims_take_the_oldest_first_up_to_the_limit():
    outbox = MemoryOutbox()
    rows = [enqueue(outbox, "https://hooks.example.com/", id_=i) for i in range(5)]
    claimed = outbox.claim_due(T0, 3, timedelta(seconds=60))
    assert len(claimed) == 3 and set(claimed) <= set(rows)
    assert len(outbox.claim_due(T0, 10, timedelta(seconds=60))) == 2


# --- delivery to a real receiver on loopback --------------------------------------------

async def test_a_signed_alert_reaches_the_receiver_once(receiver_factory, make_deliverer):
    receiver, outbox, clock = receiver_factory(), MemoryOutbox(), Clock()
    secret = new_secret()
    row = enqueue(outbox, receiver.url, secret)
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock)
    assert await deliverer.deliver_due() == 1
    assert await deliverer.deliver_due() == 0
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert body == row.body and json.loads(body)["account_id"] == "acme"
    assert headers[DELIVERY_HEADER] == row.delivery_id
    assert headers["Content-Type"] == "application/json"
    now = int(clock.now.timestamp())
    assert verify_signature(secret, headers[SIGNATURE_HEADER], body, now=now)
    assert not verify_signature("whsec_wrong", headers[SIGNATURE_HEADER], body, now=now)
    [attempt] = outbox.attempts("wh_1")
    assert (attempt.status, attempt.error, attempt.next_retry_at) == ("delivered", None, None)
    assert attempt.public() == {"alert_id": 1, "at": T0.isoformat(), "status": "delivered",
                                "error": None, "next_retry_at": None}
    assert outbox.pending_count() == 0


async def test_three_failures_then_delivered_once_with_one_delivery_id(receiver_factory,
                                                                     make_deliverer):
    receiver, outbox, clock = receiver_factory([500, 503, 500]), MemoryOutbox(), Clock()
    row = enqueue(outbox, receiver.url)
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock, retry_seconds=30)
    delivered = 0
    for wait in (0, 30, 60, 120):
        clock.advance(wait - 1 if wait else 0)
        if wait:  # a second early: not due yet, nothing is posted
            posted = len(receiver.received)
            assert await deliverer.deliver_due() == 0 and len(receiver.received) == posted
            clock.advance(1)
        delivered += await deliverer.deliver_due()
    assert delivered == 1 and len(receiver.received) == 4
    assert {h[DELIVERY_HEADER] for h, _ in receiver.received} == {row.delivery_id}
    stamps = [h[SIGNATURE_HEADER].split(",")[0] for h, _ in receiver.received]
    assert len(set(stamps)) == 4  # each attempt signed with its own t
    attempts = outbox.attempts("wh_1")[::-1]
    assert [a.status for a in attempts] == ["failed", "failed", "failed", "delivered"]
    assert [a.error for a in attempts[:3]] == ["HTTP 500", "HTTP 503", "HTTP 500"]
    assert [a.next_retry_at - a.at for a in attempts[:3]] == [
        timedelta(seconds=s) for s in (30, 60, 120)]
    clock.advance(10_000)
    assert await deliverer.deliver_due() == 0 and len(receiver.received) == 4


async def test_a_receiver_that_always_fails_is_abandoned_after_24_hours(receiver_factory,
                                                                         make_deliverer):
    receiver, outbox, clock = receiver_factory([500] * 100), MemoryOutbox(), Clock()
    enqueue(outbox, receiver.url)
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock, retry_seconds=3600)
    for _ in range(10):
        await deliverer.deliver_due()
        latest = outbox.attempts("wh_1")[0]
        if latest.next_retry_at is None:
            break
        clock.now = latest.next_retry_at
    attempts = outbox.attempts("wh_1")[::-1]
    # At 0, 1 h, 3 h, 7 h and 15 h; after the fifth the next (at 31 h) is past the 24 h.
    assert [a.at - T0 for a in attempts] == [timedelta(hours=h) for h in (0, 1, 3, 7, 15)]
    assert [a.status for a in attempts] == ["failed"] * 4 + ["abandoned"]
    assert len(receiver.received) == 5 and outbox.pending_count() == 0


async def test_redirects_are_a_failed_attempt_and_never_followed(receiver_factory,
                                                                 make_deliverer):
    receiver = receiver_factory([(302, "http://10.0.0.1/steal"), (307, "http://[::1]/")])
    outbox, clock = MemoryOutbox(), Clock()
    enqueue(outbox, receiver.url)
    transport = LoopbackOnly()
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock, transport=transport)
    await deliverer.deliver_due()
    [attempt] = outbox.attempts("wh_1")
    assert attempt.status == "failed" and "redirects are not followed" in attempt.error
    assert len(receiver.received) == 1 and transport.hosts == ["127.0.0.1"]


async def test_no_answer_within_the_timeout_is_a_failed_attempt(receiver_factory,
                                                                make_deliverer):
    receiver, outbox, clock = receiver_factory(delay=1.0), MemoryOutbox(), Clock()
    enqueue(outbox, receiver.url)
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock, timeout=0.2)
    started = time.monotonic()
    await deliverer.deliver_due()
    assert time.monotonic() - started < 0.9
    [attempt] = outbox.attempts("wh_1")
    assert attempt.status == "failed" and "no answer within 0.2 s" == attempt.error


async def test_a_slow_receiver_does_not_hold_up_the_others(receiver_factory, make_deliverer):
    slow, fast = receiver_factory(delay=0.6), receiver_factory()
    outbox, clock = MemoryOutbox(), Clock()
    enqueue(outbox, slow.url, id_=1)
    enqueue(outbox, fast.url, id_=2)
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock)
    started = time.monotonic()
    assert await deliverer.deliver_due() == 2
    assert time.monotonic() - started < 1.1  # in parallel, not one after the other


async def test_two_workers_deliver_each_alert_once(receiver_factory, make_deliverer):
    receiver, outbox, clock = receiver_factory(delay=0.05), MemoryOutbox(), Clock()
    rows = [enqueue(outbox, receiver.url, id_=i) for i in range(20)]
    first = make_deliverer(outbox, policy=LOCAL, clock=clock, batch=5)
    second = make_deliverer(outbox, policy=LOCAL, clock=clock, batch=5)
    total = 0
    while outbox.pending_count():
        total += sum(await asyncio.gather(first.deliver_due(), second.deliver_due()))
    ids = [h[DELIVERY_HEADER] for h, _ in receiver.received]
    assert total == 20 and sorted(ids) == sorted(r.delivery_id for r in rows)


async def test_the_connection_goes_to_the_checked_address_not_a_second_answer(
        receiver_factory, make_deliverer):
    receiver, outbox, clock = receiver_factory(), MemoryOutbox(), Clock()
    answers = iter([["127.0.0.1"]])  # a rebinding resolver would answer 10.0.0.1 next

    def resolve(name: str) -> list[str]:
        assert name == "receiver.test"
        return next(answers, ["10.0.0.1"])
    enqueue(outbox, f"http://receiver.test:{receiver.port}/hooks")
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock, resolver=resolve)
    assert await deliverer.deliver_due() == 1
    headers, _ = receiver.received[0]
    assert headers["Host"] == f"receiver.test:{receiver.port}"


# --- server-side request forgery: refused before any connection -------------------------

FORBIDDEN_ANSWERS = [["10.0.0.1"], ["169.254.169.254"], ["::1"], ["fd00::1"], ["0.0.0.0"],
                     ["::ffff:127.0.0.1"], ["127.0.0.1"], ["192.168.0.10"], ["fe80::1"],
                     ["100.64.0.1"], ["64:ff9b::a9fe:a9fe"], ["93.184.216.34", "10.0.0.1"]]


@pytest.mark.parametrize("answers", FORBIDDEN_ANSWERS, ids=lambda a: "+".join(a))
async def test_names_resolving_to_forbidden_addresses_are_refused(answers, make_deliverer):
    outbox, clock, asked = MemoryOutbox(), Clock(), []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return answers
    enqueue(outbox, "http://hooks.example.test/h")
    deliverer = make_deliverer(outbox, policy=STRICT_HTTP, clock=clock, resolver=resolve,
                               transport=NeverConnect())
    assert await deliverer.deliver_due() == 0
    [attempt] = outbox.attempts("wh_1")
    assert attempt.status == "failed" and attempt.error.startswith("refused before connecting")
    assert asked == ["hooks.example.test"]


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/",
                                 "http://[::ffff:7f00:1]/", "http://[::1]/", "http://0/",
                                 "http://169.254.169.254/latest/meta-data/",
                                 "http://[fd00::1]:8080/", "https://10.1.2.3/"])
async def test_literal_forbidden_addresses_are_refused_without_dns(url, make_deliverer):
    def resolve(name: str) -> list[str]:
        pytest.fail(f"{name} is an address; nothing to resolve")
    outbox = MemoryOutbox()
    enqueue(outbox, url)
    deliverer = make_deliverer(outbox, policy=STRICT_HTTP, clock=Clock(), resolver=resolve,
                               transport=NeverConnect())
    await deliverer.deliver_due()
    [attempt] = outbox.attempts("wh_1")
    assert attempt.error.startswith("refused before connecting")


async def test_http_is_refused_without_the_flag(make_deliverer):
    outbox = MemoryOutbox()
    enqueue(outbox, "http://hooks.example.test/h")
    deliverer = make_deliverer(outbox, clock=Clock(), resolver=lambda name: ["93.184.216.34"],
                               transport=NeverConnect())
    await deliverer.deliver_due()
    assert "https" in outbox.attempts("wh_1")[0].error


async def test_a_public_answer_is_pinned_with_the_name_in_host_and_sni(make_deliverer):
    # Nothing is sent: the transport records the request and fails it unsent.
    outbox, transport = MemoryOutbox(), RecordOnly()
    enqueue(outbox, "https://hooks.example.test:8443/in?x=1")
    deliverer = make_deliverer(outbox, clock=Clock(), transport=transport,
                               resolver=lambda name: ["93.184.216.34"])
    await deliverer.deliver_due()
    [request] = transport.requests
    assert str(request.url) == "https://93.184.216.34:8443/in?x=1"
    assert request.headers["Host"] == "hooks.example.test:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.test"
    assert outbox.attempts("wh_1")[0].error.startswith("ConnectError")


# --- endpoints --------------------------------------------------------------------------

def test_registration_checks_the_url_and_hides_the_secret_afterwards():
    from creditdesk.server.webhook_urls import UrlRefused
    from creditdesk.server.webhooks import new_endpoint
    endpoint = new_endpoint("acme", "https://hooks.example.com/in", WebhookPolicy(), T0)
    assert endpoint.secret.startswith("whsec_") and endpoint.id.startswith("wh_")
    assert endpoint.public() == {"id": endpoint.id, "url": "https://hooks.example.com/in",
                                 "created_at": T0.isoformat()}
    for url in ("http://hooks.example.com/in", "https://169.254.169.254/", 42):
        with pytest.raises(UrlRefused) as caught:
            new_endpoint("acme", url, WebhookPolicy(), T0)
        assert caught.value.field == "url"


def test_an_alert_goes_to_endpoints_registered_by_then():
    from creditdesk.server.webhooks import Endpoint, endpoints_for
    early = Endpoint("wh_a", "acme", "https://a.example/", "s", T0 - timedelta(hours=1))
    late = Endpoint("wh_b", "acme", "https://b.example/", "s", T0 + timedelta(seconds=1))
    assert endpoints_for(alert(), [early, late]) == [early]


# --- the running worker -----------------------------------------------------------------

async def test_a_poke_delivers_before_the_next_poll(receiver_factory, make_deliverer):
    receiver, outbox = receiver_factory(), MemoryOutbox()
    deliverer = make_deliverer(outbox, policy=LOCAL)  # the real clock
    stop = asyncio.Event()
    worker = asyncio.create_task(deliverer.run(stop, poll_seconds=30))
    await asyncio.sleep(0.05)  # the worker's first pass found nothing and sleeps
    outbox.enqueue(endpoint_id="wh_1", url=receiver.url, secret="s", alert=alert(),
                   account_id="acme", now=datetime.now(UTC))
    deliverer.poke()
    for _ in range(200):
        if receiver.received:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(worker, 5)
    assert len(receiver.received) == 1


class FlakyOutbox(MemoryOutbox):
    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    def claim_due(self, now, limit, lease):
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("database restarting")
        return super().claim_due(now, limit, lease)


async def test_an_outbox_that_fails_once_does_not_stop_the_worker(receiver_factory,
                                                                  make_deliverer):
    receiver, outbox = receiver_factory(), FlakyOutbox()
    outbox.enqueue(endpoint_id="wh_1", url=receiver.url, secret="s", alert=alert(),
                   account_id="acme", now=datetime.now(UTC))
    deliverer = make_deliverer(outbox, policy=LOCAL)
    stop = asyncio.Event()
    worker = asyncio.create_task(deliverer.run(stop, poll_seconds=0.02))
    for _ in range(200):
        if receiver.received:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(worker, 5)
    assert outbox.failures_left == 0 and len(receiver.received) == 1


class CountingOutbox(MemoryOutbox):
    """Counts the worker's passes and prunes; each prune answers `pruned` rows."""

    def __init__(self, pruned: int) -> None:
        super().__init__()
        self.pruned, self.passes, self.prunes = pruned, 0, []

    def claim_due(self, now, limit, lease):
        self.passes += 1
        return super().claim_due(now, limit, lease)

    def prune_finished(self, before, limit):
        self.prunes.append((before, limit))
        return self.pruned


async def passes(outbox: CountingOutbox, n: int) -> None:
    """Wait until the worker has made n more passes."""
    target = outbox.passes + n
    while outbox.passes < target:
        await asyncio.sleep(0.001)


@pytest.mark.parametrize("pruned", [3, 5])
async def test_the_worker_prunes_once_a_minute_unless_batches_come_back_full(
        make_deliverer, pruned):
    outbox, clock = CountingOutbox(pruned), Clock()
    deliverer = make_deliverer(outbox, clock=clock, prune_batch=5)
    stop = asyncio.Event()
    worker = asyncio.create_task(deliverer.run(stop, poll_seconds=0.001))
    await passes(outbox, 20)            # 20 passes within one minute of the worker's clock
    first_minute = len(outbox.prunes)
    clock.advance(60)
    await passes(outbox, 20)
    stop.set()
    await asyncio.wait_for(worker, 5)
    if pruned < 5:      # nothing more waits: one batch a minute
        assert first_minute == 1 and len(outbox.prunes) == 2
    else:               # a full batch: a backlog, pruned at each pass until it is gone
        assert first_minute >= 19 and len(outbox.prunes) >= 39
    assert {before for before, _ in outbox.prunes} <= {
        T0 - timedelta(days=30), T0 + timedelta(seconds=60) - timedelta(days=30)}
    assert {limit for _, limit in outbox.prunes} == {5}


def test_the_memory_outbox_forgets_old_finished_attempts_only():
    outbox = MemoryOutbox()
    done, waiting = enqueue(outbox, "http://127.0.0.1:9/", id_=1), \
        enqueue(outbox, "http://127.0.0.1:9/", id_=2)
    for row, retry in ((done, None), (waiting, T0 + timedelta(hours=1))):
        outbox.mark_failed(Attempt(row.delivery_id, "wh_1", row.alert_id, T0,
                                   "abandoned" if retry is None else "failed", "HTTP 500",
                                   retry))
    assert outbox.prune_finished(T0 + timedelta(seconds=1), 10) == 1
    assert [a.alert_id for a in outbox.attempts("wh_1")] == [2]
