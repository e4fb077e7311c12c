"""A `creditdesk serve --workers N` process tree for the several-worker tests (PostgreSQL
and SQLite), the calls they make, and the burst that kills one worker half-way."""

from __future__ import annotations

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from creditdesk.models import LedgerEntry
from tests.reliability.ledger_checks import check_ledger
from tests.support.serve_process import start_serve

OPERATOR = "operator-token-for-the-workers-tests"
START = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


class ServeTree:
    """One `creditdesk serve --db URL --workers N --test-clock START` process tree, its
    operator token from the environment, stopped with SIGINT (a clean exit is asserted)."""

    def __init__(self, url: str, workers: int, operator_token: str = OPERATOR) -> None:
        environment = {**os.environ, "CREDITDESK_OPERATOR_TOKEN": operator_token,
                       # The tests send bursts from one address on purpose.
                       "CREDITDESK_RATE_LIMIT": "off"}
        self.process, self.base, self.logged = start_serve(
            "--db", url, "--workers", str(workers), "--test-clock", START.isoformat(),
            env=environment)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            assert self.process.wait(30) == 0, "".join(self.logged)[-3000:]
        finally:
            self.process.stderr.close()


class Cluster(ServeTree):
    """A ServeTree holding the demo world, and its users' tokens."""

    def __init__(self, url: str, workers: int) -> None:
        super().__init__(url, workers)
        demo = self.operator("POST", "/v1/admin/demo", {"members": 8, "months": 1})
        self.org = demo["org_id"]
        self.tokens = {user: self.operator("POST", f"/v1/admin/users/{user}/tokens")["token"]
                       for user in ("ann", "bob", "chidi", "dana")}

    def operator(self, method: str, path: str, body: dict | None = None) -> dict:
        response = httpx.request(method, f"{self.base}{path}", json=body, timeout=60,
                                 headers={"Authorization": f"Bearer {OPERATOR}"})
        assert response.status_code < 300, response.text
        return response.json()

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def worker_pids(self) -> list[int]:
        import psutil
        return [child.pid for child in psutil.Process(self.process.pid).children()]


def ledger(client: httpx.Client, account: str) -> list[LedgerEntry]:
    """The whole ledger, oldest first, page by page."""
    entries: list[LedgerEntry] = []
    before = None
    while True:
        params = {"limit": 1000, **({"before": before} if before else {})}
        response = client.get(f"/v1/accounts/{account}/ledger", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page:
            break
        entries.extend(LedgerEntry.model_validate_json(json.dumps(row)) for row in page)
        before = min(row["id"] for row in page)
    return sorted(entries, key=lambda entry: entry.id)


def debit(client, account: str, credits: int, key: str) -> httpx.Response:
    return client.post(f"/v1/accounts/{account}/usage",
                       json={"credits": credits, "campaign": "burst"},
                       headers={"Idempotency-Key": key})


@dataclass
class KilledBurst:
    """What a burst through a `kill -9` of one worker left: keys acknowledged (and those
    acknowledged after the kill), how often each key was applied, the ledger's faults."""

    victim: int
    survivors: list[int]
    acknowledged: dict[str, int] = field(default_factory=dict)
    after_kill: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    ledger_faults: list = field(default_factory=list)


def burst_killing_one_worker(cluster: Cluster, clients: int = 8, debits: int = 40,
                             kill_at: int = 10) -> KilledBurst:
    """`clients` threads debit 3 credits `debits` times each, every debit retried up to 5
    times under its own key; the first client kills a worker with SIGKILL at `kill_at`."""
    victim, *survivors = cluster.worker_pids()
    outcome = KilledBurst(victim, survivors)
    killed, lock = threading.Event(), threading.Lock()

    def burst(n: int) -> None:
        for i in range(debits):
            key = f"k9-{n}-{i}"
            for _ in range(5):                  # a client retries with the same key
                try:
                    with cluster.client("bob") as client:
                        response = debit(client, cluster.org, 3, key)
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    with lock:
                        outcome.acknowledged[key] = response.json()["credits"]
                        if killed.is_set():
                            outcome.after_kill.append(key)
                break
            if n == 0 and i == kill_at:
                os.kill(victim, signal.SIGKILL)
                killed.set()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(burst, range(clients)))
    with cluster.client("ann") as owner:
        entries = ledger(owner, cluster.org)
    outcome.ledger_faults = check_ledger(entries)
    for entry in entries:
        if entry.kind == "usage" and (entry.idempotency_key or "").startswith("k9-"):
            key = entry.idempotency_key
            outcome.applied[key] = outcome.applied.get(key, 0) + 1
    return outcome
