"""Webhooks through real `creditdesk serve` processes: an alert committed before a `kill -9`
is still delivered after the restart, and two workers on PostgreSQL deliver each alert once.

The receiver is on 127.0.0.1 (so the servers run with --allow-http-webhooks and
--allow-private-webhooks); nothing here connects anywhere else.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from creditdesk.server.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    verify_signature,
)
from tests.support.serve_process import MAIN, start_serve

OPERATOR = "operator-token-for-the-webhook-tests"
START = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


class PortReceiver:
    """A loopback receiver on a chosen port, so it can be down first and up later."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """One `creditdesk serve` process (and its workers) on `db`."""

    def __init__(self, db: str, *extra: str) -> None:
        environment = {**os.environ, "CREDITDESK_OPERATOR_TOKEN": OPERATOR,
                       "CREDITDESK_RATE_LIMIT": "off"}
        self.process, self.base, self.logged = start_serve(
            "--db", db, "--test-clock", START.isoformat(), "--allow-http-webhooks",
            "--allow-private-webhooks", "--webhook-retry-seconds", "0.2", *extra,
            env=environment)

    def call(self, method: str, path: str, token: str = OPERATOR, body=None,
             key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        # A new connection each time: with several workers, requests spread over them.
        response = httpx.request(method, f"{self.base}{path}", json=body, headers=headers,
                                 timeout=60)
        assert response.status_code < 300, response.text
        return response

    def set_up(self) -> tuple[str, str]:
        """The demo world, the clock a minute on (its own alerts are older than any
        endpoint), and the owner's token."""
        org = self.call("POST", "/v1/admin/demo", body={"members": 5, "months": 1}
                        ).json()["org_id"]
        self.call("PUT", "/v1/admin/clock",
                  body={"now": (START + timedelta(minutes=1)).isoformat()})
        return org, self.call("POST", "/v1/admin/users/ann/tokens").json()["token"]

    def kill(self) -> None:
        self.process.kill()                 # SIGKILL: no shutdown, no last delivery pass
        self.process.wait(30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(30) == 0


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def alert_ids(server: Serve, org: str, token: str) -> list[int]:
    return [a["id"] for a in server.call("GET", f"/v1/accounts/{org}/alerts?limit=1000",
                                         token).json()]


def test_an_alert_committed_before_kill_9_is_delivered_after_the_restart(tmp_path):
    db = f"sqlite:///{tmp_path}/books.db"
    port = free_port()                      # the receiver is down for now
    first = Serve(db)
    try:
        org, owner = first.set_up()
        account = f"/v1/accounts/{org}"
        secret = first.call("POST", f"{account}/webhooks", owner,
                            {"url": f"http://127.0.0.1:{port}/hooks"}).json()["secret"]
        total = first.call("GET", f"{account}/balance", owner).json()["total"]
        before = set(alert_ids(first, org, owner))
        first.call("PUT", f"{account}/alert-settings", owner,
                   {"balance_below": [total - 100], "member_usage_percent": []})
        first.call("POST", f"{account}/usage", owner, {"credits": 200, "campaign": "kill"},
                   key="crossing")
        [raised] = set(alert_ids(first, org, owner)) - before
    finally:
        first.kill()
    receiver = PortReceiver(port)
    second = Serve(db)
    try:
        wait_for(lambda: receiver.received)
        time.sleep(0.5)                     # a second copy would have come by now
        [(headers, body)] = receiver.received
        assert json.loads(body)["id"] == raised
        assert json.loads(body)["account_id"] == org
        assert verify_signature(secret, headers[SIGNATURE_HEADER], body,
                                now=int(time.time()))
        [hook] = second.call("GET", f"/v1/accounts/{org}/webhooks", owner).json()
        attempts = second.call("GET", f"/v1/accounts/{org}/webhooks/{hook['id']}/deliveries",
                               owner).json()
        assert attempts[0]["status"] == "delivered" and attempts[0]["alert_id"] == raised
        assert all(a["status"] == "failed" for a in attempts[1:])    # while it was down
    finally:
        second.stop()
        receiver.close()


def test_two_workers_on_postgresql_deliver_each_alert_once(postgres_url):
    receiver = PortReceiver(0)
    port = receiver.server.server_address[1]
    server = Serve(postgres_url, "--workers", "2")
    try:
        org, owner = server.set_up()
        account = f"/v1/accounts/{org}"
        server.call("POST", f"{account}/webhooks", owner,
                    {"url": f"http://127.0.0.1:{port}/hooks"})
        before = set(alert_ids(server, org, owner))
        total = server.call("GET", f"{account}/balance", owner).json()["total"]
        server.call("PUT", f"{account}/alert-settings", owner,
                    {"balance_below": [total - 100 * n for n in range(1, 6)],
                     "member_usage_percent": []})
        for round_ in range(4):     # cross all five, buy back above them (re-armed): 20
            server.call("POST", f"{account}/usage", owner,
                        {"credits": 600, "campaign": "w"}, key=f"use-{round_}")
            server.call("POST", f"{account}/purchases", owner, {"credits": 600},
                        key=f"buy-{round_}")
        raised = set(alert_ids(server, org, owner)) - before
        assert len(raised) == 20
        wait_for(lambda: len(receiver.received) >= 20)
        time.sleep(1.0)             # time for a duplicate from the other worker
        delivered = [json.loads(body)["id"] for _, body in receiver.received]
        assert sorted(delivered) == sorted(raised)
        assert len({h[DELIVERY_HEADER] for h, _ in receiver.received}) == 20
    finally:
        server.stop()
        receiver.close()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "7200"])
def test_a_bad_retry_setting_is_refused_in_words(value):
    result = subprocess.run([sys.executable, "-c", MAIN, "serve", "--webhook-retry-seconds",
                             value], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "--webhook-retry-seconds" in result.stderr
    assert "Traceback" not in result.stderr
