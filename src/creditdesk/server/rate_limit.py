"""The per-caller rate limit: a token bucket per authenticated user (429 `rate_limited`)."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import anyio.to_thread

from ..errors import RateLimited, Unavailable
from .asgi import ASGIApp, Receive, Scope, Send, client_address, header, send_error

log = logging.getLogger("creditdesk.server")

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
        authorization = header(scope, b"authorization")
        if self.identify is None or not authorization:
            return self.caller(scope), False
        if self.identify_cached is None:
            return None
        found, who = self.identify_cached(authorization.decode("latin-1"))
        if not found:
            return None
        return ("user:" + who, False) if who is not None else ("failed:" + client_address(scope),
                                                               True)

    def bucket_of(self, scope: Scope) -> tuple[str, bool]:
        """(the bucket's key, whether it is a failed-authentication bucket)."""
        authorization = header(scope, b"authorization")
        if self.identify is None or not authorization:
            return self.caller(scope), False
        who = self.identify(authorization.decode("latin-1"))
        if who is not None:
            return "user:" + who, False
        return "failed:" + client_address(scope), True

    @staticmethod
    def caller(scope: Scope) -> str:
        authorization = header(scope, b"authorization")
        if authorization:
            return "token:" + hashlib.sha256(authorization).hexdigest()
        return "address:" + client_address(scope)

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
