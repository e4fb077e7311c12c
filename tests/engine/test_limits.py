"""Per-member credit limits: set by owners, refuse without pausing, reset at each close."""

from __future__ import annotations

import pytest

from creditdesk.errors import MemberLimitReached, NotFound, PermissionDenied


@pytest.mark.parametrize(("limit", "debits", "refused_at"), [
    (300, [200, 100], None),            # exactly at the limit is fine
    (300, [200, 101], 1),
    (300, [301], 0),
    (0, [1], 0),
    (None, [1_000], None),
])
def test_member_limit_table(world, keys, limit, debits, refused_at):
    world.session("ann").set_member_limit("acme", "cat", limit)
    cat = world.session("cat")
    used = 0
    for index, credits in enumerate(debits):
        if index == refused_at:
            with pytest.raises(MemberLimitReached) as refused:
                cat.record_usage("acme", credits, campaign="c", idempotency_key=keys())
            assert refused.value.code == "member_limit_reached"
            assert "member limit reached" in str(refused.value).lower()
        else:
            receipt = cat.record_usage("acme", credits, campaign="c", idempotency_key=keys())
            used += credits
            assert receipt.member_used_this_period == used
    mine = cat.my_usage("acme")
    assert (mine.used_this_period, mine.limit) == (used, limit)


def test_a_limit_refusal_changes_nothing_and_does_not_pause(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=200)
    ann.set_member_limit("acme", "cat", 100)
    engine = world.engine
    before = ann.balance("acme")
    # The first refusal of the period writes its member_limit_reached alert and nothing
    # else; a repeated one changes nothing at all.
    with pytest.raises(MemberLimitReached):
        world.session("cat").record_usage("acme", 150, campaign="c", idempotency_key=keys())
    assert [a.kind for a in ann.alerts("acme")] == ["member_limit_reached"]
    mutations = engine.mutations
    with pytest.raises(MemberLimitReached):
        world.session("cat").record_usage("acme", 150, campaign="c", idempotency_key=keys())
    assert engine.mutations == mutations
    after = ann.balance("acme")
    assert after == before
    assert after.autopilot == "running"
    assert [i for i in ann.invoices("acme") if i.kind == "recharge"] == []


def test_a_limit_below_current_use_is_allowed_and_stops_the_member(world, keys):
    cat = world.session("cat")
    cat.record_usage("acme", 250, campaign="c", idempotency_key=keys())
    shown = world.session("ann").set_member_limit("acme", "cat", 100)
    assert (shown.user_id, shown.used_this_period, shown.limit) == ("cat", 250, 100)
    with pytest.raises(MemberLimitReached):
        cat.record_usage("acme", 1, campaign="c", idempotency_key=keys())
    # Others keep working.
    world.session("bob").record_usage("acme", 1, campaign="c", idempotency_key=keys())


def test_the_limit_applies_per_period(world, keys):
    world.session("ann").set_member_limit("acme", "cat", 100)
    cat = world.session("cat")
    cat.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    world.clock.set(world.session("ann").balance("acme").period_end)
    receipt = cat.record_usage("acme", 100, campaign="c", idempotency_key=keys())
    assert receipt.member_used_this_period == 100
    assert cat.my_usage("acme").limit == 100


def test_removing_a_limit(world, keys):
    ann = world.session("ann")
    ann.set_member_limit("acme", "cat", 10)
    cleared = ann.set_member_limit("acme", "cat", None)
    assert cleared.limit is None
    world.session("cat").record_usage("acme", 500, campaign="c", idempotency_key=keys())


def test_members_show_limits_and_usage(world, keys):
    ann = world.session("ann")
    ann.set_member_limit("acme", "cat", 400)
    world.session("cat").record_usage("acme", 300, campaign="c", idempotency_key=keys())
    rows = {m.user_id: m for m in ann.members("acme")}
    assert set(rows) == {"ann", "bob", "cat"}
    assert (rows["cat"].role, rows["cat"].used_this_period, rows["cat"].limit) == (
        "member", 300, 400)
    assert (rows["bob"].role, rows["bob"].limit) == ("admin", None)
    assert rows["ann"].role == "owner"
    assert rows["cat"].name == "Cat Diaz"


@pytest.mark.parametrize("user", ["bob", "cat"])
def test_only_owners_set_limits(world, user):
    mutations = world.engine.mutations
    with pytest.raises(PermissionDenied) as refused:
        world.session(user).set_member_limit("acme", "cat", 10)
    assert refused.value.required_role == "owner"
    assert world.engine.mutations == mutations
    assert world.session("cat").my_usage("acme").limit is None


def test_a_limit_for_someone_outside_the_org_is_refused(world):
    mutations = world.engine.mutations
    with pytest.raises(NotFound):
        world.session("ann").set_member_limit("acme", "dan", 10)
    assert world.engine.mutations == mutations


def test_owners_may_limit_themselves_and_admins(world, keys):
    ann = world.session("ann")
    ann.set_member_limit("acme", "bob", 5)
    ann.set_member_limit("acme", "ann", 5)
    with pytest.raises(MemberLimitReached):
        world.session("bob").record_usage("acme", 6, campaign="c", idempotency_key=keys())
    with pytest.raises(MemberLimitReached):
        ann.record_usage("acme", 6, campaign="c", idempotency_key=keys())
