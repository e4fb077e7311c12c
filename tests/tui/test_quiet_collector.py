"""QuietCollector: full passes of the cycle collector wait for a quiet moment."""

from __future__ import annotations

import gc

import pytest

from creditdesk.tui.quiet_collector import (
    FULL_PASS_AFTER,
    NEVER,
    QUIET_SECONDS,
    QuietCollector,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def collector():
    saved = gc.get_threshold()
    clock = FakeClock()
    quiet = QuietCollector(clock)
    yield quiet, clock
    quiet.stop()
    assert gc.get_threshold() == saved  # Python's own thresholds are given back


def pile_up_young_passes() -> None:
    for _ in range(FULL_PASS_AFTER):
        gc.collect(1)  # each one counts towards the next full pass, as automatic ones do


def test_takes_over_full_passes_and_gives_them_back(collector) -> None:
    quiet, _ = collector
    young, middle, _ = gc.get_threshold()
    quiet.start()
    assert gc.get_threshold() == (young, middle, NEVER)
    quiet.stop()
    assert gc.get_threshold()[2] != NEVER


def test_a_full_pass_waits_for_quiet_and_for_enough_garbage(collector) -> None:
    quiet, clock = collector
    quiet.start()
    gc.collect()  # a fresh count of young passes
    clock.now += QUIET_SECONDS + 1
    assert not quiet.tick()  # quiet, but too little piled up to be worth a pass
    pile_up_young_passes()
    quiet.touched()
    clock.now += QUIET_SECONDS / 2
    assert not quiet.tick()  # someone pressed a key a moment ago
    clock.now += QUIET_SECONDS
    assert quiet.tick() and quiet.passes == 1
    assert not quiet.due()  # the pass reset the count


def test_nothing_runs_when_stopped_or_while_collection_is_paused(collector) -> None:
    quiet, clock = collector
    pile_up_young_passes()
    clock.now += QUIET_SECONDS + 1
    assert not quiet.due()  # not started
    quiet.start()
    gc.disable()
    try:
        assert not quiet.due()
    finally:
        gc.enable()
