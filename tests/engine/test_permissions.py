"""Who can do what: the roles table, personal accounts, outsiders, and the check order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from creditdesk.errors import InvalidRequest, NotFound, PermissionDenied

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, tzinfo=UTC)

# method: (least org role, call). `target` is a member the call may name (limits).
CALLS = {
    "balance": ("admin", lambda s, a, target: s.balance(a)),
    "my_usage": ("member", lambda s, a, target: s.my_usage(a)),
    "record_usage": ("member", lambda s, a, target: s.record_usage(
        a, 10, campaign="c", idempotency_key="perm")),
    "usage_history": ("admin", lambda s, a, target: s.usage_history(
        a, start=START, end=END, granularity="week", group_by="member")),
    "members": ("admin", lambda s, a, target: s.members(a)),
    "set_member_limit": ("owner", lambda s, a, target: s.set_member_limit(a, target, 50)),
    "subscription": ("admin", lambda s, a, target: s.subscription(a)),
    "change_plan": ("owner", lambda s, a, target: s.change_plan(a, "pro")),
    "cancel_plan_change": ("owner", lambda s, a, target: s.cancel_plan_change(a)),
    "purchase_credits": ("owner", lambda s, a, target: s.purchase_credits(
        a, 200, idempotency_key="perm-buy")),
    "auto_recharge": ("admin", lambda s, a, target: s.auto_recharge(a)),
    "configure_auto_recharge": ("owner", lambda s, a, target: s.configure_auto_recharge(
        a, enabled=True, threshold=100, amount=200)),
    "invoices": ("owner", lambda s, a, target: s.invoices(a)),
    "ledger": ("admin", lambda s, a, target: s.ledger(a, limit=5)),
    "portal_url": ("owner", lambda s, a, target: s.portal_url(a)),
}
RANK = {"member": 0, "admin": 1, "owner": 2}
ORG_ROLES = {"ann": "owner", "bob": "admin", "cat": "member"}


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("user", ["ann", "bob", "cat"])
def test_org_roles_table(world, method, user):
    needed, call = CALLS[method]
    session = world.session(user)
    if method == "cancel_plan_change":
        world.session("ann").change_plan("acme", "pro")
    if RANK[ORG_ROLES[user]] >= RANK[needed]:
        call(session, "acme", "cat")
        return
    mutations = world.engine.mutations
    with pytest.raises(PermissionDenied) as refused:
        call(session, "acme", "cat")
    assert refused.value.required_role == needed
    assert refused.value.code == "permission_denied"
    assert needed in str(refused.value).lower()
    assert world.engine.mutations == mutations


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("user", ["ann", "cat", "dan"])
def test_in_a_personal_account_the_user_may_do_everything(world, method, user):
    _, call = CALLS[method]
    account = world.personal[user]
    if method == "cancel_plan_change":
        world.session(user).change_plan(account, "pro")
    call(world.session(user), account, user)


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize(("user", "account"), [
    ("dan", "acme"),               # not a member of the org
    ("bob", "personal:ann"),       # someone else's personal account
    ("ann", "nope"),               # no such account at all
])
def test_outsiders_get_not_found_and_change_nothing(world, method, user, account):
    _, call = CALLS[method]
    mutations = world.engine.mutations
    with pytest.raises(NotFound) as refused:
        call(world.session(user), account, "cat")
    assert refused.value.code == "not_found"
    assert refused.value.required_role is None
    assert world.engine.mutations == mutations


def test_an_org_you_are_not_in_looks_exactly_like_no_org(world):
    dan = world.session("dan")
    with pytest.raises(NotFound) as hidden:
        dan.balance("acme")
    with pytest.raises(NotFound) as missing:
        dan.balance("zzzz")
    assert str(hidden.value).replace("acme", "?") == str(missing.value).replace("zzzz", "?")
    assert "Acme" not in str(hidden.value)


# (method, bad call): every call is invalid input, so only the role/visibility decide first.
BAD_CALLS = {
    "purchase_credits": ("owner", "credits",
                         lambda s: s.purchase_credits("acme", "10", idempotency_key="k")),
    "set_member_limit": ("owner", "limit", lambda s: s.set_member_limit("acme", "cat", -1)),
    "configure_auto_recharge": ("owner", "enabled", lambda s: s.configure_auto_recharge(
        "acme", enabled="yes", threshold=100, amount=200)),
    "change_plan": ("owner", "plan_id", lambda s: s.change_plan("acme", "no-such-plan")),
    "record_usage": ("member", "credits", lambda s: s.record_usage(
        "acme", 10.0, campaign="c", idempotency_key="k")),
    "ledger": ("admin", "limit", lambda s: s.ledger("acme", limit=0)),
    "usage_history": ("admin", "start", lambda s: s.usage_history(
        "acme", start=datetime(2026, 1, 1), end=END)),
}


@pytest.mark.parametrize("method", sorted(BAD_CALLS))
@pytest.mark.parametrize("user", ["ann", "bob", "cat", "dan"])
def test_checks_run_not_found_then_permission_then_input(world, method, user):
    needed, field, call = BAD_CALLS[method]
    mutations = world.engine.mutations
    role = ORG_ROLES.get(user)
    if role is None:
        expected = NotFound
    elif RANK[role] < RANK[needed]:
        expected = PermissionDenied
    else:
        expected = InvalidRequest
    with pytest.raises(expected) as refused:
        call(world.session(user))
    if expected is InvalidRequest:
        assert refused.value.field == field
    assert world.engine.mutations == mutations


@pytest.mark.parametrize(("user", "contexts"), [
    ("ann", [("personal:ann", "personal", "owner"), ("acme", "org", "owner")]),
    ("bob", [("personal:bob", "personal", "owner"), ("acme", "org", "admin")]),
    ("cat", [("personal:cat", "personal", "owner"), ("acme", "org", "member")]),
    ("dan", [("personal:dan", "personal", "owner")]),
])
def test_whoami_lists_each_context_with_its_role(world, user, contexts):
    me = world.session(user).whoami()
    assert me.user_id == user
    assert me.email == f"{user}@example.com"
    assert [(c.account_id, c.kind, c.role) for c in me.contexts] == contexts
    org = [c for c in me.contexts if c.kind == "org"]
    assert all(c.name == "Acme Robotics" for c in org)


def test_a_role_change_takes_effect_at_once(world, keys):
    world.engine.add_member("acme", "cat", role="owner")
    world.session("cat").purchase_credits("acme", 200, idempotency_key=keys())
    world.engine.add_member("acme", "cat", role="member")
    with pytest.raises(PermissionDenied):
        world.session("cat").purchase_credits("acme", 200, idempotency_key=keys())


def test_an_org_always_keeps_an_owner(world):
    with pytest.raises(InvalidRequest) as refused:
        world.engine.add_member("acme", "ann", role="admin")
    assert refused.value.field == "role"
    assert [c.role for c in world.session("ann").whoami().contexts] == ["owner", "owner"]


def test_ownership_can_move_once_another_owner_exists(world, keys):
    world.engine.add_member("acme", "bob", role="owner")
    world.engine.add_member("acme", "ann", role="member")
    world.session("bob").purchase_credits("acme", 200, idempotency_key=keys())
    with pytest.raises(PermissionDenied):
        world.session("ann").invoices("acme")
    with pytest.raises(InvalidRequest):
        world.engine.add_member("acme", "bob", role="admin")


def test_portal_url_is_for_the_account(world):
    url = world.session("ann").portal_url("acme")
    assert isinstance(url, str) and url.startswith(("https://", "http://"))
    assert url != world.session("ann").portal_url(world.personal["ann"])
