"""`kill -9` of one of two workers on one SQLite file during a burst (issue 8, part 5).

`creditdesk serve --db FILE --workers 2`, as test_workers_postgres.py does it on PostgreSQL:
clients debit with retries under one key each; one worker is killed mid-burst. No
acknowledged debit may be lost, no retried key applied twice, and the other worker must go
on serving (the supervisor also starts a replacement, which must not be mistaken for it)."""

from __future__ import annotations

import pytest

from tests.support.worker_cluster import Cluster, burst_killing_one_worker

CLIENTS, DEBITS, KILL_AT = 8, 40, 10


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(str(tmp_path / "books.db"), workers=2)
    yield running
    running.stop()


def test_kill_9_of_one_of_two_sqlite_workers_loses_no_acknowledged_debit(cluster):
    outcome = burst_killing_one_worker(cluster, CLIENTS, DEBITS, KILL_AT)
    assert outcome.ledger_faults == []
    assert all(count == 1 for count in outcome.applied.values()), outcome.applied
    assert set(outcome.acknowledged) <= set(outcome.applied)    # nothing acknowledged lost
    # The burst went on after the kill, and the worker that was not killed is still the
    # same process, serving: the supervisor's replacement is another pid.
    assert len(outcome.after_kill) > CLIENTS * (DEBITS - KILL_AT) // 2, len(outcome.after_kill)
    workers = cluster.worker_pids()
    assert set(outcome.survivors) <= set(workers) and outcome.victim not in workers
