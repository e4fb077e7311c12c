"""Engine fixtures: fresh idempotency keys, and an org holding credits in all three buckets."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest


@pytest.fixture
def keys():
    """Call it for a fresh idempotency key: k1, k2, ..."""
    counter = itertools.count(1)
    return lambda: f"k{next(counter)}"


@pytest.fixture
def stocked(world, keys):
    """acme with base 1,000, rollover 500 and purchased 400 at the start of its 2nd period.

    Period 1 used 200 of its 1,000 (800 unused, cap 500: 300 forfeited), then ann bought 400.
    """
    ann = world.session("ann")
    ann.record_usage("acme", 200, campaign="setup", idempotency_key=keys())
    world.clock.advance(timedelta(days=31))
    ann.purchase_credits("acme", 400, idempotency_key=keys())
    balance = ann.balance("acme")
    assert (balance.base, balance.rollover, balance.purchased) == (1_000, 500, 400)
    return world



# Every engine test runs on each store: the rules are the same code over both.
from tests.store.stores import store_factory  # noqa: F401
