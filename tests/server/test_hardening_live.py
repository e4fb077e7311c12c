"""Issue 9 on real sockets and real files: uvicorn's own answers, slow clients, forwarded
addresses, the operator token file, the test clock at start and private database files."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest

from creditdesk.server import runner
from creditdesk.server.runner import ServeError, operator_token
from tests.support.live_server import LiveServer

from .test_serve_command import MAIN, Serve


def _raw(url: str, payload: bytes, wait: float = 5.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


# --- item 11: what uvicorn says by itself --------------------------------------------------

def test_no_answer_names_the_server_software(world):
    with LiveServer(world.engine) as server:
        for answer in (httpx.get(f"{server.url}/openapi.json"),
                       httpx.get(f"{server.url}/v1/me"),
                       httpx.get(f"{server.url}/nowhere")):
            assert "server" not in answer.headers, answer.headers
        malformed = _raw(server.url, b"GARBAGE \x00\x01 HTTP/9\r\n\r\n")
    assert malformed.startswith(b"HTTP/1.1 400")
    assert b"uvicorn" not in malformed.lower()
    head, _, body = malformed.partition(b"\r\n\r\n")
    assert b"application/json" in head
    assert b'"code": "invalid_request"' in body


def test_a_client_dribbling_its_headers_is_cut_off(world, monkeypatch):
    monkeypatch.setattr(runner, "HEADER_TIMEOUT_SECONDS", 0.5)
    with LiveServer(world.engine) as server:
        host, port = server.url.removeprefix("http://").split(":")
        silent = socket.create_connection((host, int(port)))
        dribbling = socket.create_connection((host, int(port)))
        started = time.monotonic()
        dribbling.sendall(b"GET /openapi.json HTTP/1.1\r\n")
        closed = {}
        for sock in (silent, dribbling):
            sock.settimeout(0.1)
        while len(closed) < 2 and time.monotonic() - started < 5:
            for name, sock in (("silent", silent), ("dribbling", dribbling)):
                if name in closed:
                    continue
                try:
                    if name == "dribbling":
                        sock.sendall(b"X")    # one header byte at a time
                    if sock.recv(1024) == b"":
                        closed[name] = time.monotonic() - started
                except TimeoutError:
                    pass
                except OSError:
                    closed[name] = time.monotonic() - started
        # A well-behaved client is still served after them.
        assert httpx.get(f"{server.url}/openapi.json").status_code == 200
        silent.close()
        dribbling.close()
    assert set(closed) == {"silent", "dribbling"}, closed
    assert max(closed.values()) < 3, closed


def test_the_uvicorn_config_sets_timeouts_and_a_connection_limit(world):
    server = runner.uvicorn_server(object(), socket.socket())
    assert server.config.timeout_keep_alive == runner.IDLE_TIMEOUT_SECONDS
    assert server.config.limit_concurrency == runner.MAX_CONCURRENT
    assert server.config.server_header is False
    assert server.config.proxy_headers is False


# --- item 1: X-Forwarded-For only from a trusted proxy -------------------------------------

def _failed_statuses(url: str, count: int) -> list[int]:
    with httpx.Client() as client:
        return [client.get(f"{url}/v1/me", headers={
            "Authorization": f"Bearer bad-{n}",
            "X-Forwarded-For": f"10.1.{n // 250}.{n % 250}"}).status_code
            for n in range(count)]


def test_a_spoofed_forwarded_for_from_loopback_gets_no_bucket_of_its_own(world):
    """uvicorn trusts 127.0.0.1's X-Forwarded-For unless told otherwise: each made-up
    address got a fresh bucket."""
    with LiveServer(world.engine, limits={"rate": 1.0, "burst": 20}) as server:
        statuses = _failed_statuses(server.url, 80)
    assert statuses.count(429) >= 50, statuses.count(401)


def test_a_trusted_proxy_forwarded_for_is_believed(world, monkeypatch):
    real = runner.uvicorn_server

    def trusting(app, sock, on_ready=None, **_):
        return real(app, sock, on_ready, forwarded_allow_ips="127.0.0.1")

    import tests.support.live_server as live
    monkeypatch.setattr(live, "uvicorn_server", trusting)
    with LiveServer(world.engine, limits={"rate": 1.0, "burst": 20}) as server:
        statuses = _failed_statuses(server.url, 80)
    # Every request names another client behind the proxy: each has its own bucket.
    assert statuses.count(429) == 0 and statuses.count(401) == 80


# --- item 7: the operator token ------------------------------------------------------------

def _quiet(_line: str) -> None:
    pass


def test_a_token_file_others_can_read_or_write_is_refused(tmp_path):
    path = tmp_path / "token"
    path.write_text("a-long-enough-operator-token\n")
    for mode in (0o666, 0o644, 0o620, 0o604):
        path.chmod(mode)
        with pytest.raises(ServeError, match="others"):
            operator_token(str(path), None, _quiet)
    path.chmod(0o600)
    assert operator_token(str(path), None, _quiet) == "a-long-enough-operator-token"
    path.chmod(0o400)
    assert operator_token(str(path), None, _quiet) == "a-long-enough-operator-token"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_token_file_another_user_owns_is_refused(tmp_path):
    path = tmp_path / "token"
    path.write_text("a-long-enough-operator-token\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(ServeError, match="another user"):
        operator_token(str(path), None, _quiet)


def test_a_token_file_that_is_a_symlink_is_refused(tmp_path):
    target = tmp_path / "real"
    target.write_text("a-long-enough-operator-token\n")
    target.chmod(0o600)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ServeError, match="cannot read"):
        operator_token(str(tmp_path / "link"), None, _quiet)


@pytest.mark.parametrize("text", ["", "\n", "short", "fifteen-chars!!"])
def test_an_empty_or_short_token_is_refused_from_the_file_and_the_environment(
        tmp_path, monkeypatch, text):
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(ServeError, match="at least 16"):
        operator_token(str(path), None, _quiet)
    monkeypatch.setenv(runner.OPERATOR_TOKEN_ENV, text)
    with pytest.raises(ServeError, match="at least 16"):
        operator_token(None, tmp_path / "db.sqlite3", _quiet)


def test_serve_refuses_a_world_readable_token_file_in_words(tmp_path):
    path = tmp_path / "token"
    path.write_text("a-long-enough-operator-token\n")
    path.chmod(0o666)
    result = subprocess.run([sys.executable, "-c", MAIN, "serve", "--port", "0", "--db",
                             str(tmp_path / "x.sqlite3"), "--operator-token-file", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "chmod 600" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_the_database_and_token_files_the_server_creates_are_private(tmp_path):
    env = {"HOME": str(tmp_path)}
    server = Serve("--db", str(tmp_path / "data" / "books.sqlite3"), env=env)
    try:
        token = (tmp_path / "data" / "operator-token").read_text().strip()
        made = httpx.post(f"{server.url}/v1/admin/plans", headers={
            "Authorization": f"Bearer {token}"}, json={
            "id": "p", "name": "P", "base_credits_per_month": 10, "rollover_cap": 0,
            "billing_period": "monthly", "price_cents": 0})
        assert made.status_code == 201, made.text
        files = [p for p in (tmp_path / "data").iterdir()]
        assert any(p.name.startswith("books.sqlite3") for p in files)
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
    finally:
        server.stop()


# --- item 9: --test-clock START within the endpoint's bounds --------------------------------

@pytest.mark.parametrize("start", ["9999-12-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00",
                                   "2200-01-01T00:00:00+00:00"])
def test_serve_refuses_a_test_clock_start_out_of_bounds(tmp_path, start):
    token = tmp_path / "token"
    token.write_text("a-long-enough-operator-token\n")
    token.chmod(0o600)
    result = subprocess.run([sys.executable, "-c", MAIN, "serve", "--port", "0", "--db",
                             str(tmp_path / "x.sqlite3"), "--operator-token-file", str(token),
                             "--test-clock", start], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "--test-clock START must be an instant from" in result.stderr
    assert "Traceback" not in result.stderr
