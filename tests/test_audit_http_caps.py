"""Audit (session 6) of design/contract.md's usage-history cap over HTTP: "an answer of more
than 100,000 points is refused with 422 (field `top`) saying how to narrow it (`top`, a
coarser granularity, a shorter range)". tests/server/test_hardening.py checks the refusal
with the cap patched down; this checks the figure itself, at 100,000 and one day past it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from creditdesk.engine.bulk_usage import record_usage_in_bulk
from tests.server.conftest import assert_error
from tests.test_audit_contract import auth, http  # noqa: F401 - fixture

CAMPAIGNS = 40
DAYS = 2_500                    # 40 campaigns x 2,500 days = 100,000 points
FIRST_DAY = datetime(2026, 1, 16, tzinfo=UTC)       # the day after the world's start


def daily_debits(world, days: int):
    """One credit per campaign per day, each day at noon: one point per (day, campaign)."""
    owner = world.session("ann")
    keys = itertools.count()
    for day in range(days):
        world.clock.set(FIRST_DAY + timedelta(days=day, hours=12))
        for campaign in range(CAMPAIGNS):
            yield owner, 1, f"c{campaign:02}", f"k{next(keys)}"


def query(days: int) -> dict:
    return {"start": FIRST_DAY.isoformat(), "end": (FIRST_DAY + timedelta(days=days)).isoformat(),
            "group_by": "campaign"}


async def test_100000_points_are_served_and_one_day_more_is_refused_on_top(http, world):
    world.session("ann").purchase_credits("acme", 101_000, idempotency_key="stock")
    assert record_usage_in_bulk(world.engine, "acme", daily_debits(world, DAYS + 1)) == 0
    path, headers = "/v1/accounts/acme/usage-history", auth(http, "ann")
    whole = await http.get(path, params=query(DAYS), headers=headers)
    assert whole.status_code == 200
    assert len(whole.json()["points"]) == CAMPAIGNS * DAYS == 100_000
    error = assert_error(await http.get(path, params=query(DAYS + 1), headers=headers),
                         422, "invalid_request", field="top")
    for way in ("top=", "granularity", "shorter range"):
        assert way in error["message"], error["message"]
    narrowed = await http.get(path, params={**query(DAYS + 1), "granularity": "month"},
                              headers=headers)
    assert narrowed.status_code == 200
