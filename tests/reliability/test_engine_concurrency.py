"""The concurrency scenarios against the in-process engine, many threads on one engine."""

from __future__ import annotations

import pytest

from . import scenarios
from .worlds import EMPTY, TEAM, EngineWorld


@pytest.fixture
def world() -> EngineWorld:
    world = EngineWorld()
    world.add_plan(TEAM)
    world.add_plan(EMPTY)
    return world


@pytest.mark.parametrize("seed", [1, 2])
def test_contention_keeps_every_invariant(world, seed):
    figures = scenarios.contention(world, "e", threads=16, debits=200, seed=seed)
    world.engine.verify("e-crowd")
    print(f"engine contention seed={seed}: {figures}")


def test_exact_overdraft_race_has_one_winner(world):
    scenarios.overdraft_race(world, "e", rounds=10, racers=20)


def test_idempotency_under_concurrency(world):
    scenarios.idempotency_storm(world, "e", callers=20)


def test_recharge_buys_once_per_crossing(world):
    scenarios.recharge_contention(world, "e")


def test_declining_gateway_is_tried_once_and_switches_recharge_off(world):
    scenarios.recharge_declined(world, "e")
    attempts = [c for c in world.payments.charges if c[0] == "e-declined" and not c[3]]
    assert len(attempts) == 1


def test_monthly_recharge_cap_holds_under_contention(world):
    scenarios.recharge_cap(world, "e")
