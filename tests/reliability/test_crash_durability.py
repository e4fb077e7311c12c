"""Crash durability: kill -9 the real server mid-traffic and audit the books after restart."""

from __future__ import annotations

import pytest

from .crash_harness import run_trial, run_two_servers_trial

SEEDS = range(1, 11)


@pytest.mark.parametrize("seed", SEEDS)
def test_acknowledged_requests_survive_kill_9_exactly_once(seed, tmp_path):
    trial = run_trial(seed, tmp_path)
    print(trial.summary())
    assert trial.problems == []
    # A trial that acknowledged nothing before the kill would prove nothing.
    assert trial.acknowledged


def test_two_servers_on_one_file_never_fork_the_books(tmp_path):
    trial = run_two_servers_trial(1, tmp_path)
    print(trial.summary())
    assert trial.problems == []
    assert trial.acknowledged
