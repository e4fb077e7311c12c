"""Request-body guards: a size cap (413 `payload_too_large`) and one path segment per id
(404 for an encoded slash)."""

from __future__ import annotations

from ..errors import NotFound, PayloadTooLarge
from .asgi import ASGIApp, Message, Receive, Scope, Send, header, send_error

# Every API body is a handful of small fields; 64 KiB is hundreds of times what any needs.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


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
        declared = header(scope, b"content-length")
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
