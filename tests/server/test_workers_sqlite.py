"""`kill -9` of one of two workers on one SQLite file during a burst (issue 8, part 5).

`creditdesk serve --db FILE --workers 2`, as test_workers_postgres.py does it on PostgreSQL:
clients debit with retries under one key each; one worker is killed mid-burst. No
acknowledged debit may be lost, no retried key applied twice, and the other worker must go
on serving (the supervisor also starts a replacement, which must not be mistaken for it)."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.reliability.ledger_checks import check_ledger
from tests.server.test_workers_postgres import Cluster, debit, ledger

CLIENTS, DEBITS, KILL_AT = 8, 40, 10


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(str(tmp_path / "books.db"), workers=2)
    yield running
    running.stop()


def test_kill_9_of_one_of_two_sqlite_workers_loses_no_acknowledged_debit(cluster):
    victim, survivor = cluster.worker_pids()
    acknowledged: dict[str, int] = {}
    after_kill: list[str] = []
    killed = threading.Event()
    lock = threading.Lock()

    def burst(n: int) -> None:
        for i in range(DEBITS):
            key = f"k9-{n}-{i}"
            for _ in range(5):                  # a client retries with the same key
                try:
                    with cluster.client("bob") as client:
                        response = debit(client, cluster.org, 3, key)
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    with lock:
                        acknowledged[key] = response.json()["credits"]
                        if killed.is_set():
                            after_kill.append(key)
                break
            if n == 0 and i == KILL_AT:
                os.kill(victim, signal.SIGKILL)
                killed.set()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(burst, range(CLIENTS)))

    with cluster.client("ann") as owner:
        entries = ledger(owner, cluster.org)
    assert check_ledger(entries) == []
    applied: dict[str, int] = {}
    for entry in entries:
        if entry.kind == "usage" and (entry.idempotency_key or "").startswith("k9-"):
            applied[entry.idempotency_key] = applied.get(entry.idempotency_key, 0) + 1
    assert all(count == 1 for count in applied.values()), applied   # retries at most once
    assert set(acknowledged) <= set(applied)                        # nothing acknowledged lost
    # The burst went on after the kill, and the worker that was not killed is still the
    # same process, serving: the supervisor's replacement is another pid.
    assert len(after_kill) > CLIENTS * (DEBITS - KILL_AT) // 2, len(after_kill)
    workers = cluster.worker_pids()
    assert survivor in workers and victim not in workers, (victim, survivor, workers)
