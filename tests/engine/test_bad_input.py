"""Bad input at every entry point: InvalidRequest naming the field, and nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditdesk.engine import ManualClock
from creditdesk.errors import InvalidRequest, NotFound
from creditdesk.models import MAX_CENTS, MAX_CREDITS, Plan

WRONG_TYPES = ["10", 10.0, True, None]
NOT_POSITIVE = [0, -1, -200]
ABSURD = [MAX_CREDITS + 1, MAX_CREDITS + 200, 10**30]
NOT_WHOLE_DOLLARS = [1, 100, 199, 201, 1_001]
BAD_TEXT = [None, 5, "", "   "]
NAIVE = datetime(2026, 1, 1)

# A valid call of each session method that takes input (as ann, owner of acme).
GOOD = {
    "record_usage": dict(account_id="acme", credits=10, campaign="c", idempotency_key="k"),
    "purchase_credits": dict(account_id="acme", credits=200, idempotency_key="k"),
    "set_member_limit": dict(account_id="acme", user_id="cat", limit=10),
    "configure_auto_recharge": dict(account_id="acme", enabled=True, threshold=100,
                                    amount=200, monthly_cap_cents=500),
    "usage_history": dict(account_id="acme", start=datetime(2026, 1, 1, tzinfo=UTC),
                          end=datetime(2026, 2, 1, tzinfo=UTC), granularity="day",
                          group_by="source"),
    "ledger": dict(account_id="acme", limit=10, before=None),
    "change_plan": dict(account_id="acme", plan_id="pro"),
}

BAD = [
    *(("record_usage", "credits", v) for v in [*WRONG_TYPES, *NOT_POSITIVE, *ABSURD]),
    *(("record_usage", "campaign", v) for v in BAD_TEXT),
    *(("record_usage", "idempotency_key", v) for v in BAD_TEXT),
    *(("purchase_credits", "credits", v)
      for v in [*WRONG_TYPES, *NOT_POSITIVE, *ABSURD, *NOT_WHOLE_DOLLARS]),
    *(("purchase_credits", "idempotency_key", v) for v in BAD_TEXT),
    *(("set_member_limit", "limit", v) for v in ["10", 10.0, True, -1, *ABSURD]),
    *(("configure_auto_recharge", "enabled", v) for v in ["yes", "true", 1, 0, None]),
    *(("configure_auto_recharge", "threshold", v) for v in [*WRONG_TYPES, -1, *ABSURD]),
    *(("configure_auto_recharge", "amount", v)
      for v in [*WRONG_TYPES, *NOT_POSITIVE, *ABSURD, *NOT_WHOLE_DOLLARS]),
    *(("configure_auto_recharge", "monthly_cap_cents", v)
      for v in ["500", 500.0, True, 0, -1, MAX_CENTS + 1]),
    *(("usage_history", "start", v) for v in [NAIVE, "2026-01-01T00:00:00+00:00", None]),
    *(("usage_history", "end", v) for v in [NAIVE, "2026-02-01T00:00:00+00:00", None]),
    *(("usage_history", "granularity", v) for v in ["year", "Day", None, 1]),
    *(("usage_history", "group_by", v) for v in ["bucket", None, 1]),
    # (a limit above the page cap is cut to it, not refused: see test_ledger.py)
    *(("ledger", "limit", v) for v in ["10", 10.0, True, None, 0, -1]),
    *(("ledger", "before", v) for v in ["5", 5.0, True, 0, -1]),
    *(("change_plan", "plan_id", v) for v in [None, 5, "", "nope"]),
]


def snapshot(world):
    """Everything a refused call must leave as it was."""
    ann = world.session("ann")
    engine = world.engine
    return (engine.mutations,
            {a: engine.ledger_entries(a) for a in engine.account_ids()},
            ann.balance("acme"), ann.members("acme"), ann.auto_recharge("acme"),
            ann.subscription("acme"), ann.invoices("acme"), engine.mutations)


@pytest.mark.parametrize("method", sorted(GOOD))
def test_the_good_calls_are_accepted(world, method):
    getattr(world.session("ann"), method)(**GOOD[method])


@pytest.mark.parametrize(("method", "field", "value"), BAD,
                         ids=[f"{m}-{f}-{v!r}" for m, f, v in BAD])
def test_bad_input_is_refused_naming_the_field(world, method, field, value):
    before = snapshot(world)
    args = {**GOOD[method], field: value}
    with pytest.raises(InvalidRequest) as refused:
        getattr(world.session("ann"), method)(**args)
    assert refused.value.field == field
    assert refused.value.code == "invalid_request"
    assert refused.value.message
    assert snapshot(world) == before


def test_a_range_that_ends_before_it_starts_is_refused(world):
    before = snapshot(world)
    with pytest.raises(InvalidRequest) as refused:
        world.session("ann").usage_history(
            "acme", start=datetime(2026, 2, 1, tzinfo=UTC),
            end=datetime(2026, 1, 1, tzinfo=UTC))
    assert refused.value.field in ("start", "end")
    assert snapshot(world) == before


def test_max_credits_is_accepted_at_the_boundary(world):
    ann = world.session("ann")
    ann.purchase_credits("acme", MAX_CREDITS, idempotency_key="max")
    ann.set_member_limit("acme", "cat", MAX_CREDITS)
    ann.configure_auto_recharge("acme", enabled=True, threshold=MAX_CREDITS,
                                amount=MAX_CREDITS, monthly_cap_cents=MAX_CENTS)
    receipt = world.session("cat").record_usage("acme", MAX_CREDITS, campaign="c",
                                                idempotency_key="all")
    assert receipt.credits == MAX_CREDITS
    assert (receipt.from_base, receipt.from_purchased) == (1_000, MAX_CREDITS - 1_000)


ACCOUNT_METHODS = {
    "balance": {}, "my_usage": {}, "members": {}, "subscription": {},
    "cancel_plan_change": {}, "auto_recharge": {}, "invoices": {}, "portal_url": {},
    **{m: {k: v for k, v in args.items() if k != "account_id"} for m, args in GOOD.items()},
}


@pytest.mark.parametrize("method", sorted(ACCOUNT_METHODS))
@pytest.mark.parametrize("account_id", [None, 5, True, "", "ACME"])
def test_a_wrong_account_id_is_not_found_and_changes_nothing(world, method, account_id):
    before = snapshot(world)
    with pytest.raises((NotFound, InvalidRequest)):
        getattr(world.session("ann"), method)(account_id, **ACCOUNT_METHODS[method])
    assert snapshot(world) == before


# --- operator calls ------------------------------------------------------------------------

USER = dict(user_id="eve", name="Eve Ng", email="eve@example.com", plan="team")
ORG = dict(org_id="beta", name="Beta", owner="dan", plan="team")

OPERATOR_BAD = [
    *(("add_user", "user_id", "id", v) for v in [None, 5, "", "a b", "x" * 65, "a/b"]),
    *(("add_user", "name", "name", v) for v in BAD_TEXT),
    *(("add_user", "email", "email", v) for v in [None, 5]),
    *(("add_user", "plan", "plan", v) for v in [None, 5, "", "nope"]),
    *(("create_org", "org_id", "id", v) for v in [None, 5, "", "a b", "personal:x"]),
    *(("create_org", "name", "name", v) for v in BAD_TEXT),
    *(("create_org", "plan", "plan", v) for v in [None, 5, "nope"]),
]


@pytest.mark.parametrize(("call", "arg", "field", "value"), OPERATOR_BAD,
                         ids=[f"{c}-{a}-{v!r}" for c, a, _, v in OPERATOR_BAD])
def test_operator_calls_refuse_bad_input(world, call, arg, field, value):
    before = snapshot(world)
    args = {**(USER if call == "add_user" else ORG), arg: value}
    positional = args.pop("user_id" if call == "add_user" else "org_id")
    with pytest.raises(InvalidRequest) as refused:
        getattr(world.engine, call)(positional, **args)
    assert refused.value.field == field
    assert snapshot(world) == before
    assert {u.id for u in world.engine.users()} == {"ann", "bob", "cat", "dan"}


@pytest.mark.parametrize("role", ["boss", "Owner", None, 1])
def test_add_member_refuses_an_unknown_role(world, role):
    before = snapshot(world)
    with pytest.raises(InvalidRequest) as refused:
        world.engine.add_member("acme", "dan", role=role)
    assert refused.value.field == "role"
    assert snapshot(world) == before


@pytest.mark.parametrize("plan", [{"id": "x"}, "team", None])
def test_add_plan_takes_a_plan(world, plan):
    before = snapshot(world)
    with pytest.raises(InvalidRequest) as refused:
        world.engine.add_plan(plan)
    assert refused.value.field == "plan"
    assert snapshot(world) == before


def test_operator_good_calls_are_accepted(world):
    user = world.engine.add_user("eve", name="Eve Ng", email="eve@example.com", plan="team")
    assert user.personal_account_id in world.engine.account_ids()
    world.engine.create_org("beta", name="Beta", owner="eve", plan="pro")
    world.engine.add_member("beta", "dan", role="admin")
    assert world.session("dan").subscription("beta").plan.id == "pro"
    world.engine.add_plan(Plan(id="max", name="Max", base_credits_per_month=MAX_CREDITS,
                               rollover_cap=MAX_CREDITS, billing_period="monthly",
                               price_cents=MAX_CENTS))


@pytest.mark.parametrize("moment", [datetime(2026, 1, 16), "2026-01-16T00:00:00+00:00"])
def test_the_manual_clock_refuses_naive_times(moment):
    clock = ManualClock(datetime(2026, 1, 15, tzinfo=UTC))
    with pytest.raises(InvalidRequest) as refused:
        clock.set(moment)
    assert refused.value.field == "now"
    assert clock() == datetime(2026, 1, 15, tzinfo=UTC)


def test_the_manual_clock_never_goes_back():
    clock = ManualClock(datetime(2026, 1, 15, tzinfo=UTC))
    with pytest.raises(InvalidRequest):
        clock.advance(timedelta(seconds=-1))
    assert clock.advance(timedelta(days=1)) == datetime(2026, 1, 16, tzinfo=UTC)


@pytest.mark.parametrize("user_id", [None, 5, "", "nobody"])
def test_a_session_for_an_unknown_user_is_refused(world, user_id):
    mutations = world.engine.mutations
    with pytest.raises((NotFound, InvalidRequest)):
        world.engine.session(user_id)
    assert world.engine.mutations == mutations
