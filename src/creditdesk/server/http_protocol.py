"""Below the ASGI app: slow request heads and malformed HTTP, in uvicorn's protocol.

The server parses HTTP with httptools when it is installed (about half the parser's CPU of
h11 a request), else with h11. Both get the same guards, and where the two parsers differ
in what they refuse, the httptools protocol is given h11's two refusals it lacks: a request
head larger than h11's limit, and an HTTP/1.1 request without a Host header.
"""

from __future__ import annotations

import json
from typing import Any

_MALFORMED = json.dumps({"error": {
    "code": "invalid_request", "message": "the request is not valid HTTP/1.1",
    "required_role": None, "field": None}}).encode()

# h11's own bound on a request head that has not ended (its max_incomplete_event_size):
# without it httptools would buffer a head sent without end until the header timeout.
MAX_HEAD_BYTES = 16 * 1024


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
    if hasattr(base, "on_headers_complete"):      # httptools' parser callbacks
        base = _bounded_heads(base)
    config.http_protocol_class = _guarded(base, seconds)


def _guarded(base: type, seconds: float) -> type:
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

    return GuardedProtocol


class _NoHost(Exception):
    """Raised in a parser callback: httptools turns it into HttpParserCallbackError, which
    uvicorn answers with send_400_response."""


def _bounded_heads(base: type) -> type:
    class BoundedHeadProtocol(base):  # type: ignore[misc, valid-type]
        """Refuses a request head once more than MAX_HEAD_BYTES of it have come without
        its end. Counted: each chunk that arrives while a head is awaited (at the start,
        or after a message's end). A head's end resets the count, so the body after it in
        the same chunk, and every later chunk of that body, never counts."""

        _in_head = True
        _head_bytes = 0

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            if (self._in_head and self._head_bytes > MAX_HEAD_BYTES
                    and not self.transport.is_closing()):
                self.send_400_response("the request head is too large")

        def on_headers_complete(self) -> None:
            self._in_head, self._head_bytes = False, 0
            if self.parser.get_http_version() == "1.1" and not any(
                    name == b"host" for name, _ in self.headers):
                raise _NoHost()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True

    return BoundedHeadProtocol
