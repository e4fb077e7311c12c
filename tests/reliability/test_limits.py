"""The ASGI guards on their own, over a tiny app: body size cap and per-caller rate limit."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.server.limits import (
    DEFAULT_BURST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RATE,
    BodySizeLimit,
    RateLimit,
    document_limits,
    guard,
    limits_from_env,
)


class EchoApp:
    """Answers 200 with the size of the body it read; remembers how often it ran."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = json.dumps({"read": len(body)}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def assert_error_body(response: httpx.Response, code: str) -> None:
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"],
                                         "required_role": None, "field": None}}
    assert response.json()["error"]["message"]


async def run_raw(app, messages, headers=()):
    """Drive an ASGI app by hand, feeding `messages` as the request; returns what it sent."""
    scope = {"type": "http", "method": "POST", "path": "/", "headers": list(headers),
             "client": ("127.0.0.1", 5000)}
    pending = list(messages)
    sent = []

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


# --- body size ----------------------------------------------------------------------------

async def test_body_at_the_cap_reaches_the_app_whole():
    echo = EchoApp()
    async with client(BodySizeLimit(echo, max_bytes=100)) as c:
        response = await c.post("/", content=b"x" * 100)
    assert response.status_code == 200
    assert response.json() == {"read": 100}
    assert echo.calls == 1


async def test_declared_length_over_the_cap_is_413_and_the_app_never_runs():
    echo = EchoApp()
    async with client(BodySizeLimit(echo, max_bytes=100)) as c:
        response = await c.post("/", content=b"x" * 101)
    assert response.status_code == 413
    assert_error_body(response, "payload_too_large")
    assert echo.calls == 0


async def test_streamed_body_without_length_is_counted_chunk_by_chunk():
    echo = EchoApp()
    guarded = BodySizeLimit(echo, max_bytes=100)
    chunks = [{"type": "http.request", "body": b"x" * 40, "more_body": True}] * 3
    sent = await run_raw(guarded, chunks)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert echo.calls == 0


async def test_streamed_body_under_the_cap_is_replayed_in_one_piece():
    echo = EchoApp()
    guarded = BodySizeLimit(echo, max_bytes=100)
    chunks = [{"type": "http.request", "body": b"x" * 30, "more_body": True},
              {"type": "http.request", "body": b"x" * 30, "more_body": True},
              {"type": "http.request", "body": b"", "more_body": False}]
    sent = await run_raw(guarded, chunks)
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"read": 60}


async def test_a_lying_small_content_length_does_not_let_a_big_body_through():
    echo = EchoApp()
    guarded = BodySizeLimit(echo, max_bytes=100)
    chunks = [{"type": "http.request", "body": b"x" * 500, "more_body": False}]
    sent = await run_raw(guarded, chunks, headers=[(b"content-length", b"10")])
    assert sent[0]["status"] == 413
    assert echo.calls == 0


async def test_client_gone_mid_body_runs_nothing():
    echo = EchoApp()
    guarded = BodySizeLimit(echo, max_bytes=100)
    sent = await run_raw(guarded, [{"type": "http.request", "body": b"x", "more_body": True}])
    assert sent == []
    assert echo.calls == 0


async def test_non_http_scopes_pass_through_untouched():
    seen = []

    async def lifespan_app(scope, receive, send):
        seen.append(scope["type"])

    await BodySizeLimit(lifespan_app, max_bytes=1)({"type": "lifespan"}, None, None)
    await RateLimit(lifespan_app, rate=1, burst=1)({"type": "lifespan"}, None, None)
    assert seen == ["lifespan", "lifespan"]


@pytest.mark.parametrize("bad", [-1, 1.5, "10", None])
def test_body_cap_setting_is_checked(bad):
    with pytest.raises(ValueError, match="max_bytes"):
        BodySizeLimit(EchoApp(), max_bytes=bad)


# --- rate limit ---------------------------------------------------------------------------

async def test_burst_then_429_with_retry_after_then_refill():
    echo, clock = EchoApp(), FakeClock()
    limited = RateLimit(echo, rate=2.0, burst=3, clock=clock)
    headers = {"Authorization": "Bearer one"}
    async with client(limited) as c:
        statuses = [(await c.get("/", headers=headers)).status_code for _ in range(3)]
        refused = await c.get("/", headers=headers)
        clock.now += 0.5  # one request's worth at 2/s
        after_half_second = await c.get("/", headers=headers)
        again = await c.get("/", headers=headers)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert_error_body(refused, "rate_limited")
    assert refused.headers["retry-after"] == "1"
    assert after_half_second.status_code == 200
    assert again.status_code == 429
    assert echo.calls == 4


async def test_retry_after_rounds_up_to_whole_seconds():
    clock = FakeClock()
    limited = RateLimit(EchoApp(), rate=0.25, burst=1, clock=clock)
    async with client(limited) as c:
        await c.get("/", headers={"Authorization": "Bearer slow"})
        refused = await c.get("/", headers={"Authorization": "Bearer slow"})
    assert refused.headers["retry-after"] == "4"


async def test_each_token_has_its_own_bucket_and_anonymous_callers_share_their_address():
    echo, clock = EchoApp(), FakeClock()
    limited = RateLimit(echo, rate=1.0, burst=1, clock=clock)
    async with client(limited) as c:
        first = await c.get("/", headers={"Authorization": "Bearer a"})
        flood = await c.get("/", headers={"Authorization": "Bearer a"})
        other = await c.get("/", headers={"Authorization": "Bearer b"})
        anonymous = await c.get("/")
        anonymous_again = await c.get("/")
    assert [first.status_code, flood.status_code, other.status_code] == [200, 429, 200]
    assert [anonymous.status_code, anonymous_again.status_code] == [200, 429]


async def test_bucket_never_holds_more_than_the_burst():
    clock = FakeClock()
    limited = RateLimit(EchoApp(), rate=10.0, burst=2, clock=clock)
    clock.now += 3600
    assert limited.take("x") is None
    clock.now += 3600
    first, second, third = (limited.take("x") for _ in range(3))
    assert (first, second) == (None, None)
    assert third == pytest.approx(0.1)


def test_a_clock_stepping_back_does_not_drain_or_refill():
    clock = FakeClock()
    limited = RateLimit(EchoApp(), rate=1.0, burst=1, clock=clock)
    assert limited.take("x") is None
    clock.now -= 100
    assert limited.take("x") is not None
    clock.now += 100.5  # back where it was, plus half a second: still half a token short
    assert limited.take("x") is not None
    clock.now += 0.5
    assert limited.take("x") is None


def test_caller_table_is_bounded():
    limited = RateLimit(EchoApp(), rate=1.0, burst=1, clock=FakeClock(), max_callers=50)
    for n in range(500):
        limited.take(f"token-{n}")
    assert len(limited._buckets) == 50


def test_table_keys_hold_no_token():
    scope = {"type": "http", "headers": [(b"authorization", b"Bearer secret-token-value")]}
    assert "secret" not in RateLimit.caller(scope)


async def test_rate_none_disables_the_guard():
    echo = EchoApp()
    limited = RateLimit(echo, rate=None, burst=1, clock=FakeClock())
    async with client(limited) as c:
        statuses = {(await c.get("/", headers={"Authorization": "Bearer t"})).status_code
                    for _ in range(20)}
    assert statuses == {200}
    assert echo.calls == 20


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": -1}, {"rate": "5"}, {"burst": 0},
                                    {"burst": 2.5}])
def test_rate_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        RateLimit(EchoApp(), **kwargs)


async def test_guard_refuses_a_flood_before_reading_its_bodies():
    echo, clock = EchoApp(), FakeClock()
    guarded = guard(echo, max_bytes=10, rate=1.0, burst=1, clock=clock)
    async with client(guarded) as c:
        ok = await c.post("/", content=b"small", headers={"Authorization": "Bearer f"})
        flood = await c.post("/", content=b"x" * 1000, headers={"Authorization": "Bearer f"})
        clock.now += 1
        too_big = await c.post("/", content=b"x" * 1000, headers={"Authorization": "Bearer f"})
    assert [ok.status_code, flood.status_code, too_big.status_code] == [200, 429, 413]


# --- settings from the environment --------------------------------------------------------

def test_env_defaults_are_generous():
    assert limits_from_env({}) == {"max_bytes": DEFAULT_MAX_BODY_BYTES, "rate": DEFAULT_RATE,
                                   "burst": DEFAULT_BURST}
    assert DEFAULT_RATE >= 50 and DEFAULT_BURST >= 200


def test_env_settings_and_off():
    assert limits_from_env({"CREDITDESK_RATE_LIMIT": "5/10", "CREDITDESK_MAX_BODY_BYTES": "2048"}
                           ) == {"max_bytes": 2048, "rate": 5.0, "burst": 10}
    assert limits_from_env({"CREDITDESK_RATE_LIMIT": "off"})["rate"] is None


@pytest.mark.parametrize("env", [{"CREDITDESK_RATE_LIMIT": "fast"},
                                 {"CREDITDESK_RATE_LIMIT": "-1/5"},
                                 {"CREDITDESK_RATE_LIMIT": "5/0"},
                                 {"CREDITDESK_MAX_BODY_BYTES": "1e6"}])
def test_env_nonsense_is_refused_by_name(env):
    with pytest.raises(ValueError, match=next(iter(env))):
        limits_from_env(env)


# --- documenting the guards' answers ------------------------------------------------------

def test_document_limits_adds_429_everywhere_and_413_where_a_body_is_taken():
    document = {"paths": {
        "/a": {"get": {"responses": {"200": {}}},
               "post": {"requestBody": {}, "responses": {"201": {}}},
               "parameters": []},
    }}
    documented = document_limits(document)
    assert set(documented["paths"]["/a"]["get"]["responses"]) == {"200", "429"}
    assert set(documented["paths"]["/a"]["post"]["responses"]) == {"201", "413", "429"}
    assert "Retry-After" in documented["paths"]["/a"]["get"]["responses"]["429"]["headers"]
    assert documented["paths"]["/a"]["parameters"] == []



# --- properties ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 60), max_size=8), cap=st.integers(0, 200))
async def test_any_chunking_is_judged_by_its_total_size(sizes, cap):
    echo = EchoApp()
    chunks = [{"type": "http.request", "body": b"x" * size, "more_body": True}
              for size in sizes] + [{"type": "http.request", "body": b"", "more_body": False}]
    sent = await run_raw(BodySizeLimit(echo, max_bytes=cap), chunks)
    if sum(sizes) > cap:
        assert sent[0]["status"] == 413 and echo.calls == 0
    else:
        assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"read": sum(sizes)}


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0, 3, allow_nan=False), st.sampled_from("abc")),
                      max_size=60),
       rate=st.sampled_from([0.5, 1.0, 4.0]), burst=st.integers(1, 5))
def test_no_caller_ever_gets_more_than_burst_plus_refill(steps, rate, burst):
    clock = FakeClock()
    limited = RateLimit(EchoApp(), rate=rate, burst=burst, clock=clock)
    start = clock.now
    allowed = {caller: 0 for caller in "abc"}
    for advance, caller in steps:
        idle = advance * rate >= burst
        clock.now += advance
        wait = limited.take(caller)
        if wait is None:
            allowed[caller] += 1
        else:
            # A refusal says how long until one more request fits, and never while idle.
            assert 0 < wait <= 1 / rate + 1e-9
            assert not idle
        # The bucket starts full and refills at `rate`: nothing more can ever get through.
        assert allowed[caller] <= burst + (clock.now - start) * rate + 1e-9
