"""The demo world: the same seed gives the same world, every promised feature is in it, its
size follows the arguments, and bad arguments are refused before anything is built."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from creditdesk.demo import build_demo
from creditdesk.errors import InvalidRequest, MemberLimitReached
from creditdesk.rules import add_months

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world():
    # Read-only tests share one world; a test that changes state builds its own.
    return build_demo(NOW)


def observable(world) -> dict:
    """Everything the dashboard and an operator can read, as JSON text."""
    engine = world.engine
    owner = engine.session(world.owner)
    org = world.org_id
    seen = {account_id: [entry.model_dump_json() for entry in engine.ledger_entries(account_id)]
            for account_id in engine.account_ids()}
    for account_id in (org, world.personal_account_id):
        seen[f"{account_id} balance"] = owner.balance(account_id).model_dump_json()
        seen[f"{account_id} invoices"] = [i.model_dump_json() for i in owner.invoices(account_id)]
        seen[f"{account_id} plan"] = owner.subscription(account_id).model_dump_json()
        seen[f"{account_id} recharge"] = owner.auto_recharge(account_id).model_dump_json()
    seen["members"] = [m.model_dump_json() for m in owner.members(org)]
    return seen


def org_ledger(world):
    return world.engine.ledger_entries(world.org_id)


# --- determinism ------------------------------------------------------------------------

def test_same_seed_and_now_give_the_same_world_byte_for_byte(world):
    again = build_demo(NOW)
    assert observable(again) == observable(world)
    assert again.member_ids == world.member_ids


def test_the_world_is_the_same_in_another_process(world):
    # Snapshots and the server's journal rebuild the world in other processes, where string
    # hashing (and so set order) differs: nothing in the build may depend on it.
    script = ("import hashlib, sys; from datetime import datetime; "
              "from creditdesk.demo import build_demo; "
              "w = build_demo(datetime.fromisoformat(sys.argv[1])); "
              "print(hashlib.sha256(repr([w.engine.ledger_entries(a) for a in "
              "w.engine.account_ids()]).encode()).hexdigest())")
    here = hashlib.sha256(repr([world.engine.ledger_entries(a)
                                for a in world.engine.account_ids()]).encode()).hexdigest()
    there = subprocess.run([sys.executable, "-c", script, NOW.isoformat()], check=True,
                           capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert there == here


def test_another_seed_gives_another_world(world):
    other = build_demo(NOW, seed=8)
    assert [e.model_dump() for e in org_ledger(other)] != [e.model_dump()
                                                           for e in org_ledger(world)]


def test_a_now_with_another_offset_is_the_same_instant():
    shifted = NOW.astimezone(timezone(timedelta(hours=-5)))
    a, b = build_demo(shifted, members=6, months=2), build_demo(NOW, members=6, months=2)
    assert observable(a) == observable(b)
    assert a.clock() == NOW


# --- the package writes the world the one-file builder wrote --------------------------------

def _builder_before():
    from tests.support.demo_reference import NoHistory, demo_before

    try:
        return demo_before()
    except NoHistory as missing:
        pytest.skip(f"the old builder is read from git history: {missing}")


@pytest.mark.parametrize("kwargs", [
    {},
    {"members": 400, "months": 4},              # the enterprise plan, recharges, refusals
    {"now": datetime(2030, 12, 1, 12, tzinfo=UTC), "seed": 42445, "members": 5, "months": 2},
    # `now` just after midnight, with microseconds: history ends the day before.
    {"now": datetime(2027, 3, 31, 2, 30, 15, 123456, tzinfo=UTC), "seed": 3, "members": 40,
     "months": 4},
    {"now": datetime(2027, 1, 1, 23, 59, 59, tzinfo=UTC), "seed": 11, "members": 31,
     "months": 13},
])
def test_every_table_is_the_one_the_builder_before_the_split_wrote(kwargs):
    from tests.support.demo_reference import books

    args = {"now": NOW, **kwargs}
    before = _builder_before().build_demo(**args)
    assert books(build_demo(**args)) == books(before)


def test_the_table_comparison_sees_one_debit_more():
    from tests.support.demo_reference import books

    args = {"now": NOW, "members": 5, "months": 1}
    world = build_demo(**args)
    same = books(world)
    world.engine.session(world.member).record_usage(world.org_id, 5, campaign="bug-bash",
                                                    idempotency_key="one-more")
    assert books(build_demo(**args)) == same != books(world)


# --- the story the demo promises --------------------------------------------------------

def test_clock_is_pinned_at_now_and_history_lies_before_it(world):
    assert world.clock() == NOW
    usage = [e for e in org_ledger(world) if e.kind == "usage"]
    assert len(usage) > 500
    assert all(world.started_at < e.at < NOW for e in usage)
    # Months of history, not a burst at the end.
    assert usage[0].at < add_months(NOW, -5)
    assert world.started_at <= add_months(NOW, -6)


def test_one_grant_per_period_stamped_at_its_start(world):
    grants = [e.at for e in org_ledger(world) if e.kind == "grant"]
    assert grants == [add_months(world.started_at, k) for k in range(7)]


def test_a_slow_first_month_rolls_over_and_forfeits_the_excess(world):
    kinds = Counter(e.kind for e in org_ledger(world))
    assert kinds["rollover"] >= 1 and kinds["forfeit"] >= 1


def test_the_org_bought_credits_and_auto_recharge_fired(world):
    owner = world.engine.session(world.owner)
    invoices = owner.invoices(world.org_id)
    kinds = Counter((i.kind, i.status) for i in invoices)
    assert kinds[("recharge", "paid")] >= 1
    assert kinds[("purchase", "paid")] >= 1
    # Seven periods began; the last renewal was declined (see the next tests).
    assert kinds[("subscription", "paid")] == 6
    assert kinds[("subscription", "failed")] == 1
    assert owner.auto_recharge(world.org_id).enabled
    assert any(e.kind == "recharge" for e in org_ledger(world))


def test_one_purchase_was_declined_then_retried_and_paid(world):
    invoices = world.engine.session(world.owner).invoices(world.org_id)[::-1]  # oldest first
    failed = [i for i in invoices if i.status == "failed" and i.kind == "purchase"]
    assert len(failed) == 1
    retry = invoices[invoices.index(failed[0]) + 1]
    assert (retry.kind, retry.status, retry.credits) == ("purchase", "paid", failed[0].credits)


def test_the_last_renewal_was_declined_so_the_owner_has_an_invoice_to_pay():
    world = build_demo(NOW)          # its own: this test pays the invoice
    owner = world.engine.session(world.owner)
    latest = owner.invoices(world.org_id)[0]
    subscription = owner.subscription(world.org_id)
    assert (latest.kind, latest.status) == ("subscription", "failed")
    assert latest.created_at == subscription.period_start
    assert subscription.status == "past_due"
    kinds = [a.kind for a in owner.alerts(world.org_id, limit=1000)]
    assert kinds.count("payment_failed") == 1
    assert {"balance_below", "member_usage", "member_limit_reached"} <= set(kinds)
    # The card works again: paying it now clears past due.
    paid = owner.pay_invoice(world.org_id, latest.id, idempotency_key="pay-renewal")
    assert paid.status == "paid"
    assert owner.subscription(world.org_id).status == "active"


def test_the_declined_card_fails_only_the_purchase_even_right_after_a_quiet_close():
    # Here nobody worked over the weekend the period closed, so the close is still due when
    # the owner's card is declined: its subscription must be billed before, and paid.
    world = build_demo(datetime(2030, 12, 1, 12, tzinfo=UTC), seed=42445, members=5, months=2)
    invoices = world.engine.session(world.owner).invoices(world.org_id)
    assert [(i.kind, i.status) for i in invoices if i.status == "failed"] == [
        ("subscription", "failed"), ("purchase", "failed")]   # the renewal at `now` - 19 days


def test_a_plan_change_waits_for_the_next_period(world):
    plan = world.engine.session(world.owner).subscription(world.org_id)
    assert plan.pending_plan is not None and plan.pending_plan.id != plan.plan.id
    assert plan.pending_from == plan.period_end > NOW


def test_balance_is_positive_and_autopilot_running(world):
    balance = world.engine.session(world.owner).balance(world.org_id)
    assert balance.total > 0 and balance.autopilot == "running"
    assert balance.used_this_period > 0 and balance.period_start < NOW < balance.period_end


def test_stopped_member_is_at_the_limit_and_refused(world):
    org = world.org_id
    stopped = world.engine.session(world.stopped_member)
    usage = stopped.my_usage(org)
    assert usage.limit is not None and usage.used_this_period == usage.limit
    with pytest.raises(MemberLimitReached):
        stopped.record_usage(org, 5, campaign="lead-research", idempotency_key="test-stopped")


def test_near_limit_members_are_close_but_not_stopped(world):
    for user_id in world.members_near_limit:
        usage = world.engine.session(user_id).my_usage(world.org_id)
        assert usage.limit is not None
        assert 0.75 * usage.limit <= usage.used_this_period < usage.limit


def test_near_limit_member_can_still_work_until_the_limit():
    world = build_demo(NOW, members=6, months=2)
    near = world.engine.session(world.members_near_limit[0])
    usage = near.my_usage(world.org_id)
    room = usage.limit - usage.used_this_period
    near.record_usage(world.org_id, room, campaign="lead-research", idempotency_key="t-1")
    with pytest.raises(MemberLimitReached):
        near.record_usage(world.org_id, 1, campaign="lead-research", idempotency_key="t-2")


def test_owner_admin_and_member_hold_those_roles(world):
    for user_id, role in ((world.owner, "owner"), (world.admin, "admin"),
                          (world.member, "member")):
        contexts = world.engine.session(user_id).whoami().contexts
        assert [(c.account_id, c.role) for c in contexts if c.kind == "org"] == [
            (world.org_id, role)]
    assert len({world.owner, world.admin, world.member, world.stopped_member,
                *world.members_near_limit}) == 5


def test_members_have_different_habits(world):
    owner = world.engine.session(world.owner)
    org = world.org_id
    series = owner.usage_history(org, start=world.started_at, end=NOW, granularity="month",
                                 group_by="member")
    per_member = Counter()
    for point in series.points:
        per_member[point.key] += point.credits
    assert len(per_member) >= 0.8 * len(world.member_ids)
    assert max(per_member.values()) > 5 * min(per_member.values())
    campaigns = owner.usage_history(org, start=world.started_at, end=NOW, granularity="month",
                                    group_by="campaign")
    assert {p.key for p in campaigns.points} <= set(world.campaigns)
    assert len({p.key for p in campaigns.points}) >= 4
    days = owner.usage_history(org, start=world.started_at, end=NOW, granularity="day")
    weekday = sum(p.credits for p in days.points if p.start.weekday() < 5) / 5
    weekend = sum(p.credits for p in days.points if p.start.weekday() >= 5) / 2
    assert weekend < weekday  # the team mostly works in the week


def test_owner_has_a_personal_account_with_its_own_plan_and_usage(world):
    owner = world.engine.session(world.owner)
    personal = world.personal_account_id
    assert owner.subscription(personal).plan.id != owner.subscription(world.org_id).plan.id
    assert owner.subscription(personal).plan.billing_period == "annual"
    usage = [e for e in world.engine.ledger_entries(personal) if e.kind == "usage"]
    assert len(usage) > 20
    assert {e.ref for e in usage} <= set(world.personal_campaigns)
    assert owner.balance(personal).total > 0


def test_next_activity_draws_debits_like_the_history_without_touching_the_world(world):
    import random

    before = world.engine.mutations
    draws = [world.next_activity(random.Random(3)) for _ in range(2)]
    assert draws[0] == draws[1]  # the caller's Random decides, nothing global
    rng = random.Random(5)
    many = [world.next_activity(rng) for _ in range(400)]
    assert {user for user, _, _ in many} <= set(world.member_ids)
    assert len({user for user, _, _ in many}) > 5
    assert all(type(credits) is int and credits > 0 and credits % 5 == 0
               for _, credits, _ in many)
    assert {campaign for _, _, campaign in many} <= set(world.campaigns)
    assert world.engine.mutations == before


def test_every_bucket_is_the_sum_of_its_ledger_changes(world):
    owner = world.engine.session(world.owner)
    for account_id in (world.org_id, world.personal_account_id):
        entries = world.engine.ledger_entries(account_id)
        balance = owner.balance(account_id)
        assert (sum(e.base for e in entries), sum(e.rollover for e in entries),
                sum(e.purchased for e in entries)) == (balance.base, balance.rollover,
                                                       balance.purchased)
        assert entries[-1].balance_after == balance.total
        assert [e.at for e in entries] == sorted(e.at for e in entries)


# --- scale ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("members", "months", "plan"), [(6, 1, "team"), (40, 2, "business"),
                                                          (150, 1, "enterprise")])
def test_members_and_months_scale_the_world(members, months, plan):
    world = build_demo(NOW, members=members, months=months)
    owner = world.engine.session(world.owner)
    assert len(owner.members(world.org_id)) == members == len(world.member_ids)
    assert len(set(world.member_ids)) == members
    grants = [e for e in org_ledger(world) if e.kind == "grant"]
    assert len(grants) == months + 1
    assert owner.subscription(world.org_id).plan.id == plan
    balance = owner.balance(world.org_id)
    assert balance.total > 0 and balance.autopilot == "running"


def test_debits_grow_with_members_not_with_time_resolution():
    small = build_demo(NOW, members=10, months=2)
    large = build_demo(NOW, members=80, months=2)
    count = lambda w: sum(e.kind == "usage" for e in org_ledger(w))  # noqa: E731
    # A few debits per member per week, whatever the size: 8x the people, several times the
    # debits (the small org's fixed cast includes two heavy users, so not quite 8x).
    assert 3 * count(small) < count(large) < 10 * count(small)
    for world, members in ((small, 10), (large, 80)):
        weeks = (NOW - world.started_at).days / 7
        assert 0.5 < count(world) / (members * weeks) < 6


# --- bad arguments --------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"now": datetime(2026, 11, 15)}, "now"),
    ({"now": "2026-11-15T00:00:00+00:00"}, "now"),
    ({"members": 0}, "members"),
    ({"members": 4}, "members"),
    ({"members": -3}, "members"),
    ({"members": "24"}, "members"),
    ({"members": 10**9}, "members"),
    ({"months": 0}, "months"),
    ({"months": True}, "months"),
    ({"months": 2.5}, "months"),
    ({"seed": "seven"}, "seed"),
])
def test_bad_arguments_are_refused_naming_the_field(kwargs, field):
    args = {"now": NOW, **kwargs}
    with pytest.raises(InvalidRequest) as refused:
        build_demo(**args)
    assert refused.value.field == field
    assert field in refused.value.message


def test_a_build_reports_members_then_each_month():
    seen = []
    build_demo(now=NOW, seed=7, members=40, months=3,
               progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen[0] == ("members", 40, 40)
    assert [entry for entry in seen if entry[0] == "months"] == [
        ("months", k, 4) for k in range(1, 5)]


def test_the_cli_progress_line_names_members_and_months():
    import io

    from creditdesk.cli.demo import BuildProgress

    out = io.StringIO()
    progress = BuildProgress(10_000, 12, stream=out)
    progress("members", 10_000, 10_000)
    progress("months", 13, 13)
    text = out.getvalue()
    assert "10,000 members ready" in text and "month 13 of 13" in text
    assert text.endswith("\n")  # the last line is left for the dashboard to replace


def test_version_and_the_demo_commands_own_usage(capsys):
    from creditdesk.cli import main

    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("creditdesk ")
    with pytest.raises(SystemExit) as bogus:
        main(["demo", "--bogus"])
    err = capsys.readouterr().err
    assert bogus.value.code == 2
    assert "usage: creditdesk demo" in err and "--bogus" in err
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "made-up organization" in capsys.readouterr().out


def test_admin_decline_prints_words_not_json(capsys):
    import argparse

    from creditdesk.cli.admin import _report

    _report(argparse.Namespace(admin_command="decline", account="acme", off=False),
            {"account_id": "acme", "decline": True})
    _report(argparse.Namespace(admin_command="decline", account="acme", off=True),
            {"account_id": "acme", "decline": False})
    out = capsys.readouterr().out
    assert "declines every payment of acme" in out and "approves the payments of acme" in out
    assert "{" not in out
