"""PostgreSQL goes away under a running two-worker server and comes back (issue 9, item 13).

One `creditdesk serve --workers 2` on the session's throwaway PostgreSQL for the module; the
test stops PostgreSQL in the middle of a debit burst and starts it again. While it is down
every answer must be a quick 503 `unavailable` in the contract's shape (no hang, no 500, no
dropped connection); afterwards the same workers (no restart) answer again, every debit
acknowledged before the stop is in the ledger exactly once, and a client's retries with the
same key applied at most once. The server's stderr is drained (its workers log each failed
call; a full pipe would block them and look like a hang).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.reliability.ledger_checks import check_ledger
from tests.support.serve_process import start_serve
from tests.support.worker_cluster import (
    OPERATOR,
    START,
    debit,
    ledger,
)

# A 503 while the database is down must come at once, not after a pool or connect wait.
QUICK_SECONDS = 3.0


class TwoWorkers:
    """The server process, its worker pids, the demo world and the lines it logged."""

    def __init__(self, url: str) -> None:
        environment = {**os.environ, "CREDITDESK_OPERATOR_TOKEN": OPERATOR,
                       # On, but far above the burst: the limiter's token lookup must also
                       # answer 503 (not a bare 500) when the database is away.
                       "CREDITDESK_RATE_LIMIT": "10000/10000"}
        self.process, self.base, self.logged = start_serve(
            "--db", url, "--workers", "2", "--test-clock", START.isoformat(),
            env=environment)
        demo = self.operator("POST", "/v1/admin/demo", {"members": 8, "months": 1})
        self.org = demo["org_id"]

    def operator(self, method: str, path: str, body: dict | None = None) -> dict:
        response = httpx.request(method, f"{self.base}{path}", json=body, timeout=60,
                                 headers={"Authorization": f"Bearer {OPERATOR}"})
        assert response.status_code < 300, response.text
        return response.json()

    def token(self, user: str) -> str:
        return self.operator("POST", f"/v1/admin/users/{user}/tokens")["token"]

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})

    def worker_pids(self) -> set[int]:
        import psutil
        return {child.pid for child in psutil.Process(self.process.pid).children()}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            assert self.process.wait(30) == 0, "".join(self.logged)[-3000:]
        finally:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def down_world(postgres_cluster):
    name = postgres_cluster.create_database()
    server = TwoWorkers(postgres_cluster.url(name))
    yield postgres_cluster, server
    server.stop()
    postgres_cluster.drop_database(name)


def assert_unavailable(response: httpx.Response, took: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "unavailable"
    assert took < QUICK_SECONDS, f"a 503 took {took:.1f} s"


def test_debits_through_a_database_restart_apply_once_and_lose_nothing(down_world):
    pg, server = down_world
    workers = server.worker_pids()
    token = server.token("bob")
    acknowledged: dict[str, int] = {}
    tries: dict[str, int] = {}
    refused: list[tuple[int, float, str]] = []
    lock = threading.Lock()
    down = threading.Event()

    def burst(n: int) -> None:
        with server.client(token) as client:
            for i in range(30):
                key = f"down-{n}-{i}"
                for _ in range(200):            # a client retries with the same key
                    started = time.monotonic()
                    response = debit(client, server.org, 2, key)
                    took = time.monotonic() - started
                    with lock:
                        tries[key] = tries.get(key, 0) + 1
                    if response.status_code == 200:
                        with lock:
                            acknowledged[key] = response.json()["credits"]
                        break
                    with lock:
                        refused.append((response.status_code, took, response.text))
                    time.sleep(0.05)
                if n == 0 and i == 8:
                    down.set()

    with ThreadPoolExecutor(4) as pool:
        running = [pool.submit(burst, n) for n in range(4)]
        assert down.wait(60)
        pg.stop()
        try:
            time.sleep(2.0)                     # the burst meets the database gone
            # A token this worker has never seen needs the database to be told apart from
            # a made-up one: that is a 503 too (the rate limiter looks it up first).
            with server.client("cd_" + "x" * 40) as stranger:
                started = time.monotonic()
                response = stranger.get("/v1/me")
                took = time.monotonic() - started
        finally:
            pg.start()
        assert_unavailable(response, took)
        for future in running:
            future.result()

    assert refused, "the stop was never seen: the burst ended before it"
    logged = "".join(server.logged)
    for status, took, text in refused:
        assert status == 503 and '"unavailable"' in text, \
            logged[logged.find("unexpected error"):][:20000]
        assert took < QUICK_SECONDS, f"a 503 took {took:.1f} s"
    assert server.worker_pids() == workers      # they reconnected; none was replaced
    with server.client(token) as client:
        assert debit(client, server.org, 2, "after-the-restart").status_code == 200
    with server.client(server.token("ann")) as owner:
        entries = ledger(owner, server.org)
    assert check_ledger(entries) == []
    applied: dict[str, int] = {}
    for entry in entries:
        if entry.kind == "usage" and (entry.idempotency_key or "").startswith("down-"):
            applied[entry.idempotency_key] = applied.get(entry.idempotency_key, 0) + 1
    assert set(applied.values()) == {1}         # every retry of a key applied at most once
    assert set(acknowledged) == set(applied) == set(tries)   # each acknowledged, none lost
    assert any(count > 1 for count in tries.values())        # some keys were retried


def test_answers_stay_quick_503s_for_as_long_as_it_is_down(down_world):
    pg, server = down_world
    with server.client(server.token("ann")) as owner:
        pg.stop()
        try:
            for path in ("/v1/me", f"/v1/accounts/{server.org}/balance",
                         f"/v1/accounts/{server.org}/members?limit=5",
                         f"/v1/accounts/{server.org}/invoices"):
                for _ in range(3):              # over both workers, again and again
                    started = time.monotonic()
                    response = owner.get(path)
                    assert_unavailable(response, time.monotonic() - started)
            started = time.monotonic()
            response = debit(owner, server.org, 1, "while-down")
            assert_unavailable(response, time.monotonic() - started)
        finally:
            pg.start()
        assert owner.get(f"/v1/accounts/{server.org}/balance").status_code == 200
        assert debit(owner, server.org, 1, "while-down").status_code == 200
        unsaved = [e for e in ledger(owner, server.org) if e.idempotency_key == "while-down"]
    assert len(unsaved) == 1
    assert not any("a worker failed" in line for line in server.logged)
