"""Below the ASGI app: slow request heads and malformed HTTP, in uvicorn's protocol."""

from __future__ import annotations

import json
from typing import Any

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
