"""Operator endpoints on a server that owns its engine: set-up, tokens, gateway, test clock."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
import pytest

from creditdesk.server.app import create_app

from .conftest import OPERATOR, assert_error

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
TEAM = {"id": "team", "name": "Team", "base_credits_per_month": 1000, "rollover_cap": 500,
        "billing_period": "monthly", "price_cents": 4900}
OP = {"Authorization": f"Bearer {OPERATOR}"}


async def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture
async def admin():
    app = create_app(operator_token=OPERATOR, test_clock=START, limits={"rate": None})
    async with await client_for(app) as client:
        yield client


async def set_up(client) -> str:
    """team plan, ann (owner of acme) and bob; returns ann's token."""
    assert (await client.post("/v1/admin/plans", headers=OP, json=TEAM)).status_code == 201
    for user in ("ann", "bob"):
        created = await client.post("/v1/admin/users", headers=OP, json={
            "id": user, "name": user.title(), "email": f"{user}@example.com", "plan": "team"})
        assert created.status_code == 201
        assert created.json() == {"id": user, "name": user.title(),
                                  "email": f"{user}@example.com",
                                  "personal_account_id": f"personal:{user}"}
    org = await client.post("/v1/admin/orgs", headers=OP,
                            json={"id": "acme", "name": "Acme", "owner": "ann", "plan": "team"})
    assert (org.status_code, org.json()) == (201, {"id": "acme", "name": "Acme"})
    member = await client.post("/v1/admin/orgs/acme/members", headers=OP,
                               json={"user_id": "bob", "role": "admin"})
    assert (member.status_code, member.json()) == (201, {"org_id": "acme", "user_id": "bob",
                                                         "role": "admin"})
    issued = await client.post("/v1/admin/users/ann/tokens", headers=OP, json={})
    assert issued.status_code == 201 and set(issued.json()) == {"token"}
    return issued.json()["token"]


async def test_set_up_through_the_api_gives_a_working_user_token(admin):
    token = await set_up(admin)
    me = await admin.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert [c["account_id"] for c in me.json()["contexts"]] == ["personal:ann", "acme"]
    # A token is shown once and stored only as a hash, which no answer ever carries.
    assert hashlib.sha256(token.encode()).hexdigest() not in me.text


async def test_duplicate_ids_are_409(admin):
    await set_up(admin)
    assert_error(await admin.post("/v1/admin/plans", headers=OP, json=TEAM), 409,
                 "already_exists", field="id")
    assert_error(await admin.post("/v1/admin/users", headers=OP, json={
        "id": "ann", "name": "Ann", "plan": "team"}), 409, "already_exists", field="id")
    assert_error(await admin.post("/v1/admin/orgs", headers=OP, json={
        "id": "acme", "name": "X", "owner": "bob", "plan": "team"}), 409, "already_exists",
        field="id")


async def test_operator_paths_refuse_users_and_strangers(admin):
    token = await set_up(admin)
    user = {"Authorization": f"Bearer {token}"}
    for method, path in (("POST", "/v1/admin/plans"), ("POST", "/v1/admin/users"),
                         ("POST", "/v1/admin/orgs"), ("POST", "/v1/admin/orgs/acme/members"),
                         ("POST", "/v1/admin/users/ann/tokens"),
                         ("PUT", "/v1/admin/payments/acme"), ("PUT", "/v1/admin/clock")):
        assert_error(await admin.request(method, path, headers=user, json={}), 403,
                     "permission_denied", required_role="operator")
        assert_error(await admin.request(method, path, json={}), 401, "unauthenticated")


@pytest.mark.parametrize("path, body, field", [
    ("/v1/admin/plans", {**TEAM, "id": "x", "base_credits_per_month": "10"},
     "base_credits_per_month"),
    ("/v1/admin/plans", {**TEAM, "id": "x", "billing_period": "weekly"}, "billing_period"),
    ("/v1/admin/plans", {**TEAM, "id": "x", "price_cents": -1}, "price_cents"),
    ("/v1/admin/users", {"id": "a/b", "name": "A", "plan": "team"}, "id"),
    ("/v1/admin/users", {"id": "zed", "name": "Zed", "plan": "gold"}, "plan"),
    ("/v1/admin/users", {"id": "zed", "plan": "team"}, "name"),
    ("/v1/admin/orgs/acme/members", {"user_id": "bob", "role": "boss"}, "role"),
])
async def test_operator_bodies_are_checked_and_change_nothing(admin, path, body, field):
    await set_up(admin)
    assert_error(await admin.post(path, headers=OP, json=body), 422, "invalid_request",
                 field=field)
    assert_error(await admin.post("/v1/admin/plans", headers=OP, content=b"{"), 422,
                 "invalid_request")


async def test_unknown_org_or_user_is_404(admin):
    await set_up(admin)
    assert_error(await admin.post("/v1/admin/orgs/nope/members", headers=OP,
                                  json={"user_id": "bob"}), 404, "not_found")
    assert_error(await admin.post("/v1/admin/users/nobody/tokens", headers=OP, json={}), 404,
                 "not_found")
    assert_error(await admin.put("/v1/admin/payments/nope", headers=OP,
                                 json={"decline": True}), 404, "not_found")


async def test_the_test_gateway_declines_when_told(admin):
    owner = {"Authorization": f"Bearer {await set_up(admin)}", "Idempotency-Key": "p1"}
    told = await admin.put("/v1/admin/payments/acme", headers=OP, json={"decline": True})
    assert told.json() == {"account_id": "acme", "decline": True}
    assert_error(await admin.post("/v1/accounts/acme/purchases", headers=owner,
                                  json={"credits": 200}), 402, "payment_declined")
    await admin.put("/v1/admin/payments/acme", headers=OP, json={"decline": False})
    paid = await admin.post("/v1/accounts/acme/purchases", headers=owner, json={"credits": 200})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"


async def test_the_test_clock_moves_forward_only_and_periods_follow(admin):
    owner = {"Authorization": f"Bearer {await set_up(admin)}"}
    before = (await admin.get("/v1/accounts/acme/balance", headers=owner)).json()
    assert before["period_start"] == "2026-01-15T09:00:00Z"
    same = await admin.put("/v1/admin/clock", headers=OP, json={"now": START.isoformat()})
    assert same.status_code == 200
    assert_error(await admin.put("/v1/admin/clock", headers=OP,
                                 json={"now": "2026-01-01T00:00:00+00:00"}),
                 422, "invalid_request", field="now")
    assert_error(await admin.put("/v1/admin/clock", headers=OP,
                                 json={"now": "2026-03-01T00:00:00"}),
                 422, "invalid_request", field="now")
    moved = await admin.put("/v1/admin/clock", headers=OP,
                            json={"now": "2026-03-01T00:00:00+01:00"})
    assert moved.json() == {"now": "2026-02-28T23:00:00Z"}
    after = (await admin.get("/v1/accounts/acme/balance", headers=owner)).json()
    assert after["period_start"] == "2026-02-15T09:00:00Z"
    assert after["rollover"] == 500


async def test_without_a_test_clock_the_clock_path_is_404():
    app = create_app(operator_token=OPERATOR, limits={"rate": None})
    async with await client_for(app) as client:
        assert_error(await client.put("/v1/admin/clock", headers=OP,
                                      json={"now": START.isoformat()}), 404, "not_found")


async def test_the_demo_world_loads_once_with_tokens_for_its_people(admin):
    loaded = await admin.post("/v1/admin/demo", headers=OP, json={"members": 8, "months": 2})
    assert loaded.status_code == 201, loaded.text
    demo = loaded.json()
    for role in ("owner", "admin", "member"):
        me = await admin.get("/v1/me", headers={
            "Authorization": f"Bearer {demo['tokens'][role]}"})
        assert me.json()["user_id"] == demo[role]
        assert demo["org_id"] in [c["account_id"] for c in me.json()["contexts"]]
    assert_error(await admin.post("/v1/admin/demo", headers=OP, json={}), 409,
                 "already_exists")


async def test_the_test_clock_refuses_instants_periods_cannot_reach(admin):
    owner = {"Authorization": f"Bearer {await set_up(admin)}"}
    assert_error(await admin.put("/v1/admin/clock", headers=OP,
                                 json={"now": "9999-12-31T23:59:59+00:00"}),
                 422, "invalid_request", field="now")
    assert (await admin.get("/v1/accounts/acme/balance", headers=owner)).status_code == 200
