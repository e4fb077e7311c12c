"""Audit (session 6) of design/contract.md's "The remote backend raises the same exception the
engine would have", for the values a caller passes as query parameters (ledger, alerts,
usage_history). HEAD's RemoteBackend sent `limit="10"` as `limit=10` (accepted), dropped a
`None` limit or granularity for the server's default (accepted), and sent a string `start`
as it was (accepted), where the engine refuses each, naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from creditdesk.errors import BillingError
from tests.contract.conftest import backend_for, backend_kind  # noqa: F401 - fixtures

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
RANGE = dict(start=START, end=END)

# (user, method, keyword arguments): each refused by the engine.
BAD = [
    *(("ann", "ledger", {name: value}) for name in ("limit", "before")
      for value in ("10", 10.0, True)),
    ("ann", "ledger", dict(limit=None)),
    *(("ann", "ledger", {name: 5}) for name in ("kind", "user_id", "campaign", "invoice_id")),
    ("ann", "ledger", dict(user_id="")),
    *(("ann", "alerts", {name: "5"}) for name in ("limit", "before")),
    ("ann", "alerts", dict(limit=None)),
    ("ann", "usage_history", dict(start=START.isoformat(), end=END)),
    ("ann", "usage_history", dict(start=START, end=END.isoformat())),
    ("ann", "usage_history", dict(start=None, end=END)),
    ("ann", "usage_history", dict(RANGE, granularity=None)),
    ("ann", "usage_history", dict(RANGE, group_by=None)),
    ("ann", "usage_history", dict(RANGE, granularity=1)),
    *(("ann", "usage_history", dict(RANGE, group_by="member", top=top))
      for top in ("5", True, 5.0)),
    # The engine's order holds: the account first, then the role, then the input.
    ("dan", "ledger", dict(limit="10")),
    ("cat", "ledger", dict(limit="10")),
    ("dan", "usage_history", dict(start="2026-01-01", end=END)),
    ("cat", "alerts", dict(limit=None)),
]


def outcome(call) -> tuple:
    try:
        call()
    except BillingError as refusal:
        return type(refusal), refusal.code, refusal.field, refusal.required_role
    return ("accepted",)


@pytest.mark.parametrize(("user", "method", "kwargs"), BAD,
                         ids=[f"{u}-{m}-{k!r}"[:70] for u, m, k in BAD])
async def test_a_bad_query_value_is_refused_as_the_engine_refuses_it(world, backend_for,
                                                                     user, method, kwargs):
    expected = outcome(lambda: getattr(world.session(user), method)("acme", **kwargs))
    assert expected != ("accepted",)        # the engine refuses each
    try:
        await getattr(backend_for(user), method)("acme", **kwargs)
        got: tuple = ("accepted",)
    except BillingError as refusal:
        got = type(refusal), refusal.code, refusal.field, refusal.required_role
    assert got == expected


async def test_good_query_values_still_reach_the_engine(world, backend_for):
    owner = world.session("ann")
    owner.record_usage("acme", 5, campaign="c", idempotency_key="k")
    backend = backend_for("ann")
    newest = owner.ledger("acme", limit=1)[0]
    assert await backend.ledger("acme", limit=1, kind="usage", user_id="ann",
                                campaign="c") == [newest]
    assert await backend.ledger("acme", before=newest.id) == owner.ledger(
        "acme", before=newest.id)
    series = await backend.usage_history("acme", **RANGE, group_by="campaign", top=1)
    assert series == owner.usage_history("acme", **RANGE, group_by="campaign", top=1)
