"""Shared fixtures: a small billing world on a manual clock, and the Hypothesis profiles.

HYPOTHESIS_PROFILE=ci (the default) keeps property tests quick; HYPOTHESIS_PROFILE=long runs
them much longer by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings

from creditdesk.models import Plan
from tests.support.postgres import (  # noqa: F401 - fixtures
    close_shared_cluster,
    postgres_cluster,
    postgres_url,
)

# print_blob: a failure found in CI prints the line that replays it exactly on a laptop.
settings.register_profile("ci", max_examples=60, stateful_step_count=40, deadline=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=1_000, stateful_step_count=80,
                          deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionfinish(session, exitstatus):
    """Stop this process's PostgreSQL however it was started: the store suites and served.py
    take it through shared_cluster(), not the session fixture that would stop it."""
    close_shared_cluster()


START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

# Small allowances so that a handful of debits crosses every interesting line.
PLANS = {
    "team": Plan(id="team", name="Team", base_credits_per_month=1_000, rollover_cap=500,
                 billing_period="monthly", price_cents=4_900),
    "starter": Plan(id="starter", name="Starter", base_credits_per_month=300, rollover_cap=0,
                    billing_period="monthly", price_cents=900),
    "pro": Plan(id="pro", name="Pro (annual)", base_credits_per_month=5_000,
                rollover_cap=2_000, billing_period="annual", price_cents=99_000),
}


@dataclass
class BillingWorld:
    """ann owns org `acme` (bob admin, cat member); dan belongs to no org."""

    engine: object
    clock: object
    payments: object
    org: str = "acme"
    plans: dict = field(default_factory=lambda: dict(PLANS))
    personal: dict = field(default_factory=dict)

    def session(self, user_id: str):
        return self.engine.session(user_id)

    def advance(self, **delta: float) -> datetime:
        return self.clock.advance(timedelta(**delta))

    def now(self) -> datetime:
        return self.clock()


@pytest.fixture
def store_factory():
    """Makes the store each world keeps its books in: memory here; tests/engine and
    tests/contract override it to run on every store (tests/store/stores.py)."""
    from creditdesk.store import MemoryStore
    return MemoryStore


@pytest.fixture
def make_world(store_factory):
    """Build a fresh world; the org (and each personal account) starts its plan at `start`."""
    from creditdesk.engine import BillingEngine, ManualClock, TestPaymentGateway

    def build(start: datetime = START, *, org_plan: str = "team",
              personal_plan: str = "starter") -> BillingWorld:
        clock = ManualClock(start)
        payments = TestPaymentGateway()
        engine = BillingEngine(clock=clock, payments=payments, store=store_factory())
        for plan in PLANS.values():
            engine.add_plan(plan)
        world = BillingWorld(engine=engine, clock=clock, payments=payments)
        for user_id, name in (("ann", "Ann Lee"), ("bob", "Bob Ray"), ("cat", "Cat Diaz"),
                              ("dan", "Dan Ode")):
            user = engine.add_user(user_id, name=name, email=f"{user_id}@example.com",
                                   plan=personal_plan)
            world.personal[user_id] = user.personal_account_id
        engine.create_org("acme", name="Acme Robotics", owner="ann", plan=org_plan)
        engine.add_member("acme", "bob", role="admin")
        engine.add_member("acme", "cat", role="member")
        return world

    return build


@pytest.fixture
def world(make_world) -> BillingWorld:
    return make_world()
