"""Both HTTP parsers the server can run (httptools, the default when installed; h11, the
fallback) on real sockets: malformed requests get the contract's JSON 400, heads have the
same bounds, and ordinary traffic (bodies beside their head, pipelining) is untouched."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading

import pytest

from creditdesk.server import runner
from creditdesk.server.app import create_app
from creditdesk.server.http_protocol import MAX_HEAD_BYTES
from tests.support.live_server import LiveServer

PARSERS = ["h11", pytest.param("httptools", marks=pytest.mark.skipif(
    importlib.util.find_spec("httptools") is None, reason="httptools is not installed"))]


class Served:
    """The app of `world` on uvicorn with the chosen parser, in a thread."""

    def __init__(self, world, parser: str) -> None:
        self.app = create_app(world.engine, operator_token="operator-" + "x" * 24,
                              limits={"rate": None})
        self.sock = runner.bind("127.0.0.1", 0)
        self.address = self.sock.getsockname()
        ready = threading.Event()
        self.server = runner.uvicorn_server(self.app, self.sock, ready.set, http=parser)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture(params=PARSERS)
def served(request, world):
    server = Served(world, request.param)
    yield server
    server.close()


def exchange(address, *chunks: bytes, wait: float = 3.0) -> bytes:
    """Send `chunks` one by one on a fresh connection; everything answered until it closes
    (or `wait` passes in silence)."""
    with socket.create_connection(address, timeout=wait) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass               # the server answered and closed before the rest was sent
        answer = []
        while True:
            try:
                piece = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not piece:
                break
            answer.append(piece)
    return b"".join(answer)


def assert_json_400(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "invalid_request"


def test_the_server_uses_httptools_when_it_is_installed():
    expected = "httptools" if importlib.util.find_spec("httptools") else "h11"
    assert runner.http_parser() == expected
    server = runner.uvicorn_server(object(), socket.socket())
    assert server.config.http == expected


@pytest.mark.parametrize("payload", [
    b"GARBAGE \x00\x01 HTTP/9\r\n\r\n",
    b"POST /v1/me HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"GET /v1/me HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
    b"GET /v1/me HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    b"POST /v1/me HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    b"GET /v1/me HTTP/1.1\r\n\r\n",                    # HTTP/1.1 requires Host
], ids=["garbage", "two-lengths", "space-before-colon", "nul", "unknown-coding", "no-host"])
def test_malformed_requests_get_the_json_400(served, payload):
    assert_json_400(exchange(served.address, payload))


def test_a_head_without_end_is_refused_at_the_bound(served):
    start = b"GET /openapi.json HTTP/1.1\r\nHost: a\r\n"
    line = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    # Sent in pieces, as a client streaming headers would: never a complete head.
    answer = exchange(served.address, start, *[line] * (4 * MAX_HEAD_BYTES // len(line)))
    assert_json_400(answer)


def test_heads_under_the_bound_and_bodies_beside_their_head_are_served(served):
    filler = b"".join(b"X-F%d: %s\r\n" % (n, b"f" * 1000) for n in range(12))
    head = b"GET /openapi.json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + filler
    assert exchange(served.address, head + b"\r\n").startswith(b"HTTP/1.1 200")
    # A body far larger than the head bound, in the head's own packet and the next ones:
    # a body never counts as head (a 401 here: the app read it and asked who is calling).
    body = b'{"credits": 1, "campaign": "' + b"c" * 40_000 + b'"}'
    post = (b"POST /v1/accounts/acme/usage HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    answer = exchange(served.address, post + body[:30_000], body[30_000:])
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_pipelined_requests_are_each_answered(served):
    one = b"GET /openapi.json HTTP/1.1\r\nHost: a\r\n\r\n"
    last = b"GET /openapi.json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    answer = exchange(served.address, one * 2 + last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


def test_the_default_server_refuses_a_head_without_end_and_a_missing_host(world):
    """LiveServer is what the other live tests run: the parser chosen by default."""
    with LiveServer(world.engine) as server:
        host, port = server.url.removeprefix("http://").split(":")
        address = (host, int(port))
        line = b"X-Filler: " + b"f" * 1000 + b"\r\n"
        assert_json_400(exchange(address, b"GET /v1/me HTTP/1.1\r\nHost: a\r\n",
                                 *[line] * (4 * MAX_HEAD_BYTES // len(line))))
        assert_json_400(exchange(address, b"GET /v1/me HTTP/1.1\r\n\r\n"))
