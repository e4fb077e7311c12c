"""RemoteBackend against real loopback servers: same answers and errors as the engine, retries."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, datetime

import pytest

from creditdesk.backends import BACKEND_METHODS, MemoryBackend
from creditdesk.backends.remote import RemoteBackend, ServerUnavailable
from creditdesk.errors import (
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from creditdesk.server.runner import bind, url_of, uvicorn_server
from tests.store.stores import store_factory_on_every_store  # noqa: F401 (memory, SQLite, PG)
from tests.support.live_server import LiveServer

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, tzinfo=UTC)
# Each protocol method with arguments that succeed for ann (the owner of acme), in an order
# where the writes make the later reads interesting.
CALLS = [
    ("whoami", (), {}),
    ("configure_alerts", ("acme",), {"balance_below": [990], "member_usage_percent": [50]}),
    ("record_usage", ("acme", 25), {"campaign": "c", "idempotency_key": "r1"}),
    ("purchase_credits", ("acme", 400), {"idempotency_key": "p1"}),
    ("set_member_limit", ("acme", "cat", 70), {}),
    ("change_plan", ("acme", "starter"), {}),
    ("cancel_plan_change", ("acme",), {}),
    ("configure_auto_recharge", ("acme",), {"enabled": True, "threshold": 50, "amount": 200}),
    ("balance", ("acme",), {}),
    ("my_usage", ("acme",), {}),
    ("usage_history", ("acme",), {"start": START, "end": END, "group_by": "member"}),
    ("members", ("acme",), {}),
    ("subscription", ("acme",), {}),
    ("plans", (), {}),
    ("credit_packs", (), {}),
    ("auto_recharge", ("acme",), {}),
    ("invoices", ("acme",), {}),
    ("ledger", ("acme",), {"limit": 3}),
    ("portal_url", ("acme",), {}),
    ("alert_settings", ("acme",), {}),
    ("alerts", ("acme",), {"limit": 5}),
]


def test_the_table_covers_every_protocol_method():
    # pay_invoice needs a failed invoice first: its own test below.
    assert sorted([name for name, _, _ in CALLS] + ["pay_invoice"]) == sorted(BACKEND_METHODS)


async def test_paying_a_failed_invoice_answers_as_the_memory_backend_does(make_world):
    from creditdesk.errors import PaymentDeclined
    local, served = make_world(), make_world()
    memory = MemoryBackend(local.engine, "ann")
    with LiveServer(served.engine) as server:
        async with RemoteBackend(server.url, server.token_for("ann")) as remote:
            answers = []
            for world, backend in ((local, memory), (served, remote)):
                world.payments.decline("acme", True)
                with pytest.raises(PaymentDeclined):
                    await backend.purchase_credits("acme", 400, idempotency_key="p1")
                world.payments.decline("acme", False)
                [failed] = [i for i in await backend.invoices("acme") if i.status == "failed"]
                paid = await backend.pay_invoice("acme", failed.id, idempotency_key="pay")
                again = await backend.pay_invoice("acme", failed.id, idempotency_key="pay")
                assert paid == again and paid.status == "paid"
                answers.append(paid)
            assert answers[0] == answers[1]
            with pytest.raises(NotFound):
                await remote.pay_invoice("acme", "inv_nope", idempotency_key="x")


async def test_every_method_answers_as_the_memory_backend_does(make_world):
    # Two identical worlds: one called in-process, one over HTTP; answers must match.
    local, served = make_world(), make_world()
    memory = MemoryBackend(local.engine, "ann")
    with LiveServer(served.engine) as server:
        async with RemoteBackend(server.url, server.token_for("ann")) as remote:
            assert remote.is_remote and not memory.is_remote
            for name, args, kwargs in CALLS:
                expected = await getattr(memory, name)(*args, **kwargs)
                assert await getattr(remote, name)(*args, **kwargs) == expected, name


async def test_refusals_arrive_as_the_engine_s_exceptions(world):
    with LiveServer(world.engine) as server:
        async with RemoteBackend(server.url, server.token_for("cat")) as cat, \
                RemoteBackend(server.url, server.token_for("dan")) as dan:
            with pytest.raises(NotFound):
                await dan.balance("acme")
            with pytest.raises(PermissionDenied) as denied:
                await cat.purchase_credits("acme", 200, idempotency_key="x")
            assert denied.value.required_role == "owner"
            with pytest.raises(InvalidRequest) as invalid:
                await cat.record_usage("acme", "10", campaign="c", idempotency_key="k")
            assert invalid.value.field == "credits"
            with pytest.raises(InvalidRequest) as keyless:
                await cat.record_usage("acme", 10, campaign="c", idempotency_key=None)
            assert keyless.value.field == "idempotency_key"
            await cat.record_usage("acme", 10, campaign="c", idempotency_key="k")
            with pytest.raises(IdempotencyConflict):
                await cat.record_usage("acme", 11, campaign="c", idempotency_key="k")
        async with RemoteBackend(server.url, "revoked-or-wrong") as stranger:
            with pytest.raises(Unauthenticated):
                await stranger.whoami()


class Flaky:
    """A tiny ASGI server script: answers each request with the next canned reply."""

    def __init__(self, replies: list[tuple[int, dict]]) -> None:
        self.replies = replies
        self.seen: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append({"path": scope["path"], "key": headers.get("idempotency-key")})
        status, body = self.replies[min(len(self.seen), len(self.replies)) - 1]
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


@contextlib.contextmanager
def serving(app):
    sock = bind("127.0.0.1", 0)
    ready = threading.Event()
    server = uvicorn_server(app, sock, ready.set)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


RECEIPT = {"account_id": "acme", "credits": 5, "campaign": "c", "from_base": 5,
           "from_rollover": 0, "from_purchased": 0, "recharged": 0,
           "member_used_this_period": 5, "balance": None}
UNAVAILABLE = {"error": {"code": "unavailable", "message": "busy", "required_role": None,
                         "field": None}}


async def test_a_5xx_is_retried_with_the_same_idempotency_key():
    flaky = Flaky([(503, UNAVAILABLE), (200, RECEIPT)])
    with serving(flaky) as url:
        async with RemoteBackend(url, "t", backoff=0.01) as remote:
            receipt = await remote.record_usage("acme", 5, campaign="c", idempotency_key="once")
    assert receipt.credits == 5
    assert [s["key"] for s in flaky.seen] == ["once", "once"]


async def test_a_4xx_is_never_retried():
    refused = {"error": {"code": "invalid_request", "message": "no", "required_role": None,
                         "field": "credits"}}
    flaky = Flaky([(422, refused), (200, RECEIPT)])
    with serving(flaky) as url:
        async with RemoteBackend(url, "t", backoff=0.01) as remote:
            with pytest.raises(InvalidRequest):
                await remote.record_usage("acme", 5, campaign="c", idempotency_key="k")
    assert len(flaky.seen) == 1


async def test_retries_are_bounded_and_end_in_server_unavailable():
    flaky = Flaky([(503, UNAVAILABLE)])
    with serving(flaky) as url:
        async with RemoteBackend(url, "t", retries=2, backoff=0.01) as remote:
            with pytest.raises(ServerUnavailable, match="tried 3 times"):
                await remote.balance("acme")
    assert len(flaky.seen) == 3


async def test_an_unreachable_server_is_server_unavailable_not_a_crash():
    sock = bind("127.0.0.1", 0)
    url = url_of(sock)
    sock.close()                 # nothing listens there any more
    async with RemoteBackend(url, "secret-token", retries=1, backoff=0.01,
                             timeout=2) as remote:
        with pytest.raises(ServerUnavailable) as unavailable:
            await remote.whoami()
    assert url in unavailable.value.message
    assert "secret-token" not in repr(remote) + unavailable.value.message


async def test_a_live_server_follows_the_clock_its_test_moves(world):
    with LiveServer(world.engine) as server:
        async with RemoteBackend(server.url, server.token_for("bob")) as bob:
            first = await bob.balance("acme")
            world.advance(days=40)
            later = await bob.balance("acme")
    assert later.period_start == first.period_end
    assert later.period_start == world.session("ann").balance("acme").period_start
