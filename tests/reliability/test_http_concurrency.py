"""The concurrency scenarios over HTTP, against `creditdesk serve` on a real SQLite file (and
on PostgreSQL with CREDITDESK_SERVED_STORES=sqlite,postgresql: see served.py).

One server process per store serves every scenario of this module (each its own ids); the same
assertions as the in-process engine's, plus: no client ever sees a 5xx or an error body
outside the contract (a "database is locked" would surface as one of those).
"""

from __future__ import annotations

import pytest

from . import scenarios
from .served import SERVED_STORES, ServedProcess, books
from .worlds import EMPTY, TEAM, HttpWorld


@pytest.fixture(scope="module", params=SERVED_STORES)
def world(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("served")
    with books(request.param, workdir) as db, \
            ServedProcess(workdir, db=db, env={"CREDITDESK_RATE_LIMIT": "off"}) as served:
        world = HttpWorld(served.url, served.operator_token)
        world.add_plan(TEAM)
        world.add_plan(EMPTY)
        yield world
        world.close()


def test_contention_over_http(world):
    figures = scenarios.contention(world, "h0", threads=16, debits=200, seed=1)
    print(f"http contention: {figures}")


def test_exact_overdraft_race_over_http(world):
    scenarios.overdraft_race(world, "h1", rounds=3, racers=20)


def test_idempotency_under_concurrency_over_http(world):
    scenarios.idempotency_storm(world, "h2", callers=20)


def test_recharge_buys_once_per_crossing_over_http(world):
    scenarios.recharge_contention(world, "h3")


def test_declining_gateway_over_http(world):
    scenarios.recharge_declined(world, "h4")


def test_monthly_recharge_cap_over_http(world):
    scenarios.recharge_cap(world, "h5")
