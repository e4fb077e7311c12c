"""Pure ASGI guards for the HTTP API: a request-body size cap and a per-token rate limit.

Both answer with the contract's JSON error body (`{"error": {code, message, required_role,
field}}`) so clients never see a framework's own error shape. They import nothing heavy, so
the server factory can wrap any ASGI app with them and tests can drive them with a tiny one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio.to_thread

from ..errors import BillingError, NotFound, PayloadTooLarge, RateLimited, Unavailable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
log = logging.getLogger("creditdesk.server")

# Every API body is a handful of small fields; 64 KiB is hundreds of times what any needs.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# Generous enough that a dashboard, a CLI script or a test suite never meets the limit, while
# a runaway loop on one token is slowed down long before it hurts other accounts.
DEFAULT_RATE = 50.0
DEFAULT_BURST = 200
# Buckets are kept for this many distinct callers at most; the least recently seen go first,
# so a flood of made-up tokens cannot grow the table without bound.
DEFAULT_MAX_CALLERS = 10_000
# Failed authentication, per client address: enough for a person mistyping a token or a
# script with a stale one to be told 401 a few times, far too few to try tokens at speed.
DEFAULT_FAILED_RATE = 1.0
DEFAULT_FAILED_BURST = 20
# Requests served at once by one process: far more than 2 cores finish in a second, few
# enough that a crowd is told 503 at once instead of waiting in line for minutes.
DEFAULT_MAX_IN_FLIGHT = 1000


async def send_error(send: Send, error: BillingError,
                     headers: list[tuple[bytes, bytes]] = ()) -> None:
    """Answer with the contract's error body; used by both guards."""
    body = json.dumps({"error": error.to_dict()}).encode()
    await send({"type": "http.response.start", "status": error.http_status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value
    return None


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413 `payload_too_large`.

    A declared Content-Length over the cap is refused before anything is read. Otherwise the
    body is read here, counting every streamed chunk (a chunked upload declares no length),
    and handed to the app in one piece only if it stayed under the cap: buffering at most
    `max_bytes` is cheap for this API, and it means the app never starts on a body that will
    be refused, so no half-handled request can leave state behind.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if type(max_bytes) is not int or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int, not {max_bytes!r}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away mid-body: nothing to answer, nothing to run.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send) -> None:
        # Close the connection: the rest of an oversized body is not worth reading.
        await send_error(send, PayloadTooLarge(f"Request body is larger than {self.max_bytes} "
                                               f"bytes"), [(b"connection", b"close")])


class OneSegmentIds:
    """404 for a path with an encoded slash (`%2F`) anywhere.

    The router matches the decoded path, where `acme%2Finvoices` would be two segments and
    `/v1%2Faccounts%2F...` a real path; the contract says an id is one path segment, and no
    id of ours holds a slash, so such a path names nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or b""
        if scope["type"] == "http" and b"%2f" in raw.lower():
            await send_error(send, NotFound("no such path: an encoded '/' (%2F) is not a "
                                            "path separator, and no id contains one"))
            return
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that yields the buffered body once, then the client's later messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimit:
    """A token bucket per caller: `burst` requests at once, refilled at `rate` per second.

    With `identify` (the Authorization header's value -> a user id, or None), the caller is
    the authenticated user, whatever spelling or which of their tokens they send; a header
    that authenticates nobody spends the client address's bucket of failed attempts
    (`failed_rate`/`failed_burst`, much smaller), so a stream of made-up tokens is slowed
    like one caller. Without `identify` the caller is the header (hashed, so the table holds
    no tokens). `identify_cached` (the header -> (found, user id or None)) answers without
    a database where it can, so only a token this process has not seen costs a thread. No
    header at all: the client address. The address is the peer's, or what
    uvicorn made of `X-Forwarded-For` from a proxy the operator trusts
    (`--forwarded-allow-ips`), never a header anyone can send. Over the limit the answer is
    429 `rate_limited` with `Retry-After` in whole seconds (at least 1). `rate=None` turns
    the guard off. `clock` is a monotonic seconds function, injectable so tests need not
    sleep.
    """

    def __init__(self, app: ASGIApp, *, rate: float | None = DEFAULT_RATE,
                 burst: int = DEFAULT_BURST, clock: Callable[[], float] = time.monotonic,
                 max_callers: int = DEFAULT_MAX_CALLERS,
                 identify: Callable[[str], str | None] | None = None,
                 failed_rate: float = DEFAULT_FAILED_RATE,
                 failed_burst: int = DEFAULT_FAILED_BURST,
                 identify_cached: Callable[[str], tuple[bool, str | None]] | None = None,
                 ) -> None:
        if rate is not None and not (isinstance(rate, (int, float)) and rate > 0):
            raise ValueError(f"rate must be a positive number or None, not {rate!r}")
        if type(burst) is not int or burst < 1:
            raise ValueError(f"burst must be a positive int, not {burst!r}")
        self.app = app
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_callers = max_callers
        self.identify = identify
        self.identify_cached = identify_cached
        self.failed_rate = failed_rate
        self.failed_burst = failed_burst
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        # The event loop is single-threaded, but test clients may call from several threads.
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate is None:
            await self.app(scope, receive, send)
            return
        known = self.known_bucket(scope)
        try:
            # In a thread: a token this process has not seen yet is looked up in the
            # database, which must never stall the event loop (or hang it while away).
            caller, failed = known or await anyio.to_thread.run_sync(self.bucket_of, scope)
        except Exception as error:  # noqa: BLE001 - the lookup failed, not the caller
            log.error("token lookup failed: %s", str(error).splitlines()[0][:200])
            await send_error(send, Unavailable("the server cannot check tokens right now; "
                                               "nothing was done, try again later"))
            return
        wait = (self.take(caller, self.failed_rate, self.failed_burst) if failed
                else self.take(caller))
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        await send_error(send, RateLimited(f"Too many requests: retry in {retry_after} s"),
                         [(b"retry-after", str(retry_after).encode())])

    def known_bucket(self, scope: Scope) -> tuple[str, bool] | None:
        """`bucket_of` when it needs no database (the token is known in this process, or
        there is none), else None. Asked on the event loop: a thread hop per request cost
        more than the limit's own work."""
        authorization = _header(scope, b"authorization")
        if self.identify is None or not authorization:
            return self.caller(scope), False
        if self.identify_cached is None:
            return None
        found, who = self.identify_cached(authorization.decode("latin-1"))
        if not found:
            return None
        return ("user:" + who, False) if who is not None else ("failed:" + _address(scope),
                                                               True)

    def bucket_of(self, scope: Scope) -> tuple[str, bool]:
        """(the bucket's key, whether it is a failed-authentication bucket)."""
        authorization = _header(scope, b"authorization")
        if self.identify is None or not authorization:
            return self.caller(scope), False
        who = self.identify(authorization.decode("latin-1"))
        if who is not None:
            return "user:" + who, False
        return "failed:" + _address(scope), True

    @staticmethod
    def caller(scope: Scope) -> str:
        authorization = _header(scope, b"authorization")
        if authorization:
            return "token:" + hashlib.sha256(authorization).hexdigest()
        return "address:" + _address(scope)

    def take(self, caller: str, rate: float | None = None,
             burst: int | None = None) -> float | None:
        """Spend one request of `caller`'s bucket (`rate`/`burst`: the guard's unless
        given): None if allowed, else seconds to wait."""
        rate = self.rate if rate is None else rate
        burst = self.burst if burst is None else burst
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = _Bucket(float(burst), now)
                self._buckets[caller] = bucket
                while len(self._buckets) > self.max_callers:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(caller)
                # max(): a clock that steps back must not drain the bucket.
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
                bucket.updated = max(bucket.updated, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / rate


# The contract's error body, for a document whose app declares no `ErrorBody` of its own.
ERROR_BODY_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "required_role", "field"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "required_role": {"type": ["string", "null"]},
                       "field": {"type": ["string", "null"]}}}},
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_GUARD_RESPONSES = {
    "413": {"description": "payload_too_large: the request body is over the size limit",
            "content": {"application/json": {"schema": _ERROR_REF}}},
    "429": {"description": "rate_limited: too many requests from this token; retry after "
                           "the Retry-After header's seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1},
                                        "description": "seconds to wait"}},
            "content": {"application/json": {"schema": _ERROR_REF}}},
}
_METHODS = ("get", "put", "post", "delete", "patch")


def document_limits(openapi: dict) -> dict:
    """Add the guards' answers (413 on bodies, 429 everywhere) to every operation of an
    OpenAPI document, in place; returns it. Operations that take no body cannot get 413.
    Both refer to the document's one `ErrorBody` schema (added if the app has none)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ERROR_BODY_SCHEMA)
    for item in openapi.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("429", _GUARD_RESPONSES["429"])
            if "requestBody" in operation:
                responses.setdefault("413", _GUARD_RESPONSES["413"])
    return openapi


def limits_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Guard settings for `creditdesk serve`, from the environment.

    `CREDITDESK_MAX_BODY_BYTES` (an int) and `CREDITDESK_RATE_LIMIT` as `RATE/BURST`
    (e.g. `50/200`) or `off`. Returns keyword arguments: max_bytes, rate, burst.
    """
    settings: dict[str, Any] = {"max_bytes": DEFAULT_MAX_BODY_BYTES,
                                "rate": DEFAULT_RATE, "burst": DEFAULT_BURST}
    raw_bytes = environ.get("CREDITDESK_MAX_BODY_BYTES", "").strip()
    if raw_bytes:
        if not raw_bytes.isdigit():
            raise ValueError(f"CREDITDESK_MAX_BODY_BYTES must be a whole number of bytes, "
                             f"not {raw_bytes!r}")
        settings["max_bytes"] = int(raw_bytes)
    raw_rate = environ.get("CREDITDESK_RATE_LIMIT", "").strip().lower()
    if raw_rate in ("off", "none", "0"):
        settings["rate"] = None
    elif raw_rate:
        rate, _, burst = raw_rate.partition("/")
        try:
            settings["rate"] = float(rate)
            settings["burst"] = int(burst) if burst else settings["burst"]
        except ValueError:
            raise ValueError(f"CREDITDESK_RATE_LIMIT must look like 50/200 or off, "
                             f"not {raw_rate!r}") from None
        if not (settings["rate"] > 0 and settings["burst"] >= 1):
            raise ValueError(f"CREDITDESK_RATE_LIMIT must be positive, not {raw_rate!r}")
    return settings


class InFlightLimit:
    """At most `max_in_flight` requests served at once; the next is answered at once with
    503 `unavailable` (and Retry-After: 1) in the contract's shape. uvicorn's own
    `limit_concurrency` answers a plain-text 503, so the server sets that one higher (it
    then only bounds open connections, i.e. file descriptors) and this one answers first."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if type(max_in_flight) is not int or max_in_flight < 1:
            raise ValueError(f"max_in_flight must be a positive int, not {max_in_flight!r}")
        self.app = app
        self.max_in_flight = max_in_flight
        self.active = 0         # only the event loop's thread changes it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_in_flight:
            await send_error(send, Unavailable(
                f"the server is busy ({self.max_in_flight} requests at once); nothing was "
                f"done, try again in a moment"), [(b"retry-after", b"1")])
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def guard(app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES,
          rate: float | None = DEFAULT_RATE, burst: int = DEFAULT_BURST,
          clock: Callable[[], float] = time.monotonic,
          identify: Callable[[str], str | None] | None = None,
          max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
          identify_cached: Callable[[str], tuple[bool, str | None]] | None = None) -> ASGIApp:
    """Wrap `app` in the guards; the in-flight limit and then the rate limit go outside,
    so a flood is turned away before any token is looked up or any body is read."""
    limited = RateLimit(OneSegmentIds(BodySizeLimit(app, max_bytes=max_bytes)), rate=rate,
                        burst=burst, clock=clock, identify=identify,
                        identify_cached=identify_cached)
    return InFlightLimit(limited, max_in_flight=max_in_flight)


# --- slow clients and malformed requests, below the ASGI app ----------------------------

_MALFORMED = json.dumps({"error": {
    "code": "invalid_request", "message": "the request is not valid HTTP/1.1",
    "required_role": None, "field": None}}).encode()


def install_header_timeout(config: Any, seconds: float) -> None:
    """Make `config` (a uvicorn.Config) serve with its own HTTP protocol, subclassed so that

    - a connection whose request head has not fully arrived `seconds` after it opened (or
      after its last answer) is closed: uvicorn's keep-alive timeout stops at the first
      byte, so a client dribbling a header a byte at a time would hold it for ever;
    - malformed HTTP gets a 400 in the contract's JSON error shape, not plain text.
    """
    if not config.loaded:
        config.load()
    base = config.http_protocol_class
    if getattr(base, "_creditdesk_guarded", False):
        return

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        _creditdesk_guarded = True

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def _arm_head_timer(self) -> None:
            # The head is late if no new request cycle has begun when the timer fires.
            self._timed_cycle = self.cycle
            self._head_timer = self.loop.call_later(seconds, self._head_too_slow)

        def _head_too_slow(self) -> None:
            if self.cycle is self._timed_cycle and (
                    self.cycle is None or self.cycle.response_complete):
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._head_timer.cancel()
                self._arm_head_timer()

        def connection_lost(self, exc) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: " + str(len(_MALFORMED)).encode()
                + b"\r\n\r\n" + _MALFORMED)
            self.transport.close()

    config.http_protocol_class = GuardedProtocol
