"""How many requests one process serves at once (503 `unavailable` past it)."""

from __future__ import annotations

from ..errors import Unavailable
from .asgi import ASGIApp, Receive, Scope, Send, send_error

# Requests served at once by one process: far more than 2 cores finish in a second, few
# enough that a crowd is told 503 at once instead of waiting in line for minutes.
DEFAULT_MAX_IN_FLIGHT = 1000


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
