"""The user-facing HTTP API: every path, its answers, and the contract's checks in order."""

from __future__ import annotations

import pytest

from creditdesk.models import (
    AutoRecharge,
    Balance,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Subscription,
    UsageReceipt,
    UsageSeries,
)

# The tests that read or write books run on memory, SQLite and PostgreSQL (@on_every_store);
# the checks the HTTP layer makes before the books (tokens, roles, bodies) on memory only.
from tests.store.stores import on_every_store, store_factory_memory_unless_asked  # noqa: F401

from .conftest import assert_error, parse_list

KEY = {"Idempotency-Key": "k-1"}
HISTORY = "?start=2026-01-01T00:00:00%2B00:00&end=2026-03-01T00:00:00%2B00:00"
# (method, path under /v1/accounts/acme, body, extra headers, role the action needs)
ENDPOINTS = [
    ("GET", "balance", None, {}, "admin"),
    ("GET", "my-usage", None, {}, "member"),
    ("POST", "usage", {"credits": 5, "campaign": "c"}, KEY, "member"),
    ("GET", "usage-history" + HISTORY, None, {}, "admin"),
    ("GET", "members", None, {}, "admin"),
    ("PUT", "members/cat/limit", {"limit": 50}, {}, "owner"),
    ("GET", "subscription", None, {}, "admin"),
    ("PUT", "subscription", {"plan_id": "starter"}, {}, "owner"),
    ("DELETE", "subscription/pending", None, {}, "owner"),
    ("POST", "purchases", {"credits": 200}, KEY, "owner"),
    ("GET", "auto-recharge", None, {}, "admin"),
    ("PUT", "auto-recharge", {"enabled": True, "threshold": 100, "amount": 400,
                              "monthly_cap_cents": None}, {}, "owner"),
    ("GET", "invoices", None, {}, "owner"),
    ("GET", "ledger", None, {}, "admin"),
    ("GET", "portal-url", None, {}, "owner"),
]
BODY_ENDPOINTS = [e for e in ENDPOINTS if e[2] is not None]
ROLE_OF = {"ann": "owner", "bob": "admin", "cat": "member"}
RANK = {"member": 0, "admin": 1, "owner": 2}


def ids(endpoint) -> str:
    return f"{endpoint[0]} {endpoint[1].split('?')[0]}"


async def call(api, user, endpoint, *, body=..., account="acme", headers=None):
    method, path, default_body, extra, _ = endpoint
    body = default_body if body is ... else body
    kwargs = {"headers": api.auth(user, **(extra if headers is None else headers))}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = body
    return await api.client.request(method, f"/v1/accounts/{account}/{path}", **kwargs)


async def snapshot(api) -> tuple:
    """Everything a refused request must leave alone."""
    engine = api.world.engine
    return (engine.mutations, [e.id for e in engine.ledger_entries("acme")],
            api.world.session("ann").balance("acme"))


@on_every_store
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
async def test_the_owner_gets_each_answer_as_json(api, endpoint):
    response = await call(api, "ann", endpoint)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"


@on_every_store
async def test_answers_are_the_contract_models(api):
    c, auth = api.client, api.auth("ann")
    Identity.model_validate_json((await c.get("/v1/me", headers=auth)).content)
    balance = Balance.model_validate_json(
        (await c.get("/v1/accounts/acme/balance", headers=auth)).content)
    assert balance == api.world.session("ann").balance("acme")
    receipt = UsageReceipt.model_validate_json((await c.post(
        "/v1/accounts/acme/usage", headers=api.auth("ann", **KEY),
        json={"credits": 30, "campaign": "launch"})).content)
    assert (receipt.credits, receipt.from_base, receipt.campaign) == (30, 30, "launch")
    series = UsageSeries.model_validate_json(
        (await c.get("/v1/accounts/acme/usage-history" + HISTORY + "&group_by=campaign",
                     headers=auth)).content)
    assert [(p.key, p.credits) for p in series.points] == [("launch", 30)]
    members = parse_list(MemberUsage, await c.get("/v1/accounts/acme/members", headers=auth))
    assert {m.user_id for m in members} == {"ann", "bob", "cat"}
    Subscription.model_validate_json(
        (await c.get("/v1/accounts/acme/subscription", headers=auth)).content)
    AutoRecharge.model_validate_json(
        (await c.get("/v1/accounts/acme/auto-recharge", headers=auth)).content)
    invoices = parse_list(Invoice, await c.get("/v1/accounts/acme/invoices", headers=auth))
    assert invoices and invoices[0].kind == "subscription"
    ledger = parse_list(LedgerEntry, await c.get("/v1/accounts/acme/ledger", headers=auth))
    assert ledger[0].kind == "usage" and ledger[0].idempotency_key == "k-1"
    portal = (await c.get("/v1/accounts/acme/portal-url", headers=auth)).json()
    assert set(portal) == {"url"} and portal["url"].startswith("https://")
    plans = (await c.get("/v1/plans", headers=auth)).json()
    assert {p["id"] for p in plans} == {"team", "starter", "pro"}
    packs = (await c.get("/v1/credit-packs", headers=auth)).json()
    assert all(p["credits"] % 200 == 0 for p in packs)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
async def test_an_outsider_learns_nothing_even_with_a_bad_body(api, endpoint):
    before = await snapshot(api)
    assert_error(await call(api, "dan", endpoint), 404, "not_found")
    if endpoint[2] is not None:
        assert_error(await call(api, "dan", endpoint, body=b"{not json", headers={}),
                     404, "not_found")
    assert_error(await call(api, "ann", endpoint, account="nowhere"), 404, "not_found")
    assert_error(await call(api, "ann", endpoint, account="personal:dan"), 404, "not_found")
    assert await snapshot(api) == before


@on_every_store
async def test_a_limit_for_someone_outside_the_org_is_404(api):
    response = await api.client.put("/v1/accounts/acme/members/dan/limit",
                                    headers=api.auth("ann"), json={"limit": 5})
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
@pytest.mark.parametrize("user", ["bob", "cat"])
async def test_a_role_too_low_is_403_naming_the_role_before_any_body_check(api, endpoint,
                                                                          user):
    needed = endpoint[4]
    if RANK[ROLE_OF[user]] >= RANK[needed]:
        return
    before = await snapshot(api)
    assert_error(await call(api, user, endpoint), 403, "permission_denied",
                 required_role=needed)
    if endpoint[2] is not None:
        assert_error(await call(api, user, endpoint, body={"credits": "10"}, headers={}),
                     403, "permission_denied", required_role=needed)
    assert await snapshot(api) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
async def test_no_token_a_wrong_one_or_the_operators_is_401(api, endpoint):
    method, path = endpoint[0], f"/v1/accounts/acme/{endpoint[1]}"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    api.auth("operator")):
        assert_error(await api.client.request(method, path, headers=headers), 401,
                     "unauthenticated")
    assert_error(await api.client.get("/v1/me"), 401, "unauthenticated")
    assert_error(await api.client.get("/v1/plans", headers=api.auth("operator")), 401,
                 "unauthenticated")


@pytest.mark.parametrize("body, field", [
    ({"credits": "10", "campaign": "c"}, "credits"),
    ({"credits": True, "campaign": "c"}, "credits"),
    ({"credits": 10.0, "campaign": "c"}, "credits"),
    ({"credits": 10}, "campaign"),
    ({"credits": 10, "campaign": "c", "extra": 1}, "extra"),
    ({"credits": -5, "campaign": "c"}, "credits"),
    ({"credits": 10**13, "campaign": "c"}, "credits"),
    ({"credits": 10, "campaign": ""}, "campaign"),
    (b"{not json", None),
    (b"[1, 2]", None),
])
async def test_a_debit_body_is_checked_strictly_and_changes_nothing(api, body, field):
    before = await snapshot(api)
    endpoint = ENDPOINTS[2]
    assert_error(await call(api, "cat", endpoint, body=body), 422, "invalid_request",
                 field=field)
    assert await snapshot(api) == before


async def test_a_missing_idempotency_key_is_422_naming_it(api):
    for endpoint in (ENDPOINTS[2], ENDPOINTS[9]):
        assert_error(await call(api, "ann", endpoint, headers={}), 422, "invalid_request",
                     field="idempotency_key")


@pytest.mark.parametrize("endpoint, body, field", [
    (ENDPOINTS[5], {"limit": "50"}, "limit"),
    (ENDPOINTS[5], {}, "limit"),
    (ENDPOINTS[7], {"plan_id": 3}, "plan_id"),
    (ENDPOINTS[7], {"plan_id": "gold"}, "plan_id"),
    (ENDPOINTS[9], {"credits": 300}, "credits"),
    (ENDPOINTS[9], {"credits": True}, "credits"),
    (ENDPOINTS[11], {"enabled": "yes", "threshold": 1, "amount": 200}, "enabled"),
    (ENDPOINTS[11], {"enabled": True, "threshold": 1, "amount": 250}, "amount"),
    (ENDPOINTS[11], {"enabled": True, "threshold": 1.5, "amount": 200}, "threshold"),
])
async def test_owner_bodies_are_checked_after_the_role(api, endpoint, body, field):
    before = await snapshot(api)
    assert_error(await call(api, "ann", endpoint, body=body), 422, "invalid_request",
                 field=field)
    assert await snapshot(api) == before


@pytest.mark.parametrize("query, field", [
    ("?start=2026-01-01T00:00:00&end=2026-03-01T00:00:00%2B00:00", "start"),
    ("?start=2026-01-01T00:00:00%2B00:00", "end"),
    ("?start=yesterday&end=2026-03-01T00:00:00%2B00:00", "start"),
])
async def test_usage_history_needs_two_instants_with_offsets(api, query, field):
    response = await api.client.get(f"/v1/accounts/acme/usage-history{query}",
                                    headers=api.auth("bob"))
    assert_error(response, 422, "invalid_request", field=field)


@on_every_store
async def test_usage_history_accepts_any_offset_and_checks_its_options(api):
    auth = api.auth("bob")
    ok = await api.client.get("/v1/accounts/acme/usage-history?start=2026-01-01T01:00:00%2B01:00"
                              "&end=2026-02-01T00:00:00Z&granularity=week&group_by=member",
                              headers=auth)
    assert ok.status_code == 200 and ok.json()["granularity"] == "week"
    bad = await api.client.get(f"/v1/accounts/acme/usage-history{HISTORY}&granularity=hour",
                               headers=auth)
    assert_error(bad, 422, "invalid_request", field="granularity")


@on_every_store
async def test_ledger_pages_newest_first_with_a_capped_limit(api):
    session = api.world.session("ann")
    for n in range(5):
        session.record_usage("acme", 1, campaign="c", idempotency_key=f"l{n}")
    auth = api.auth("bob")
    first = (await api.client.get("/v1/accounts/acme/ledger?limit=2", headers=auth)).json()
    assert [e["idempotency_key"] for e in first] == ["l4", "l3"]
    after = (await api.client.get(f"/v1/accounts/acme/ledger?limit=2&before={first[-1]['id']}",
                                  headers=auth)).json()
    assert [e["idempotency_key"] for e in after] == ["l2", "l1"]
    # Over the cap is cut to it (the contract), not refused; under 1 is still refused.
    cut = await api.client.get("/v1/accounts/acme/ledger?limit=5000", headers=auth)
    assert cut.status_code == 200 and len(cut.json()) == 6
    for query, field in (("limit=abc", "limit"), ("limit=0", "limit"), ("before=x", "before")):
        assert_error(await api.client.get(f"/v1/accounts/acme/ledger?{query}", headers=auth),
                     422, "invalid_request", field=field)


@on_every_store
async def test_members_and_invoices_page_with_a_total(api):
    auth = api.auth("ann")
    page = await api.client.get("/v1/accounts/acme/members?offset=1&limit=1", headers=auth)
    assert page.headers["X-Total-Count"] == "3" and len(page.json()) == 1
    everyone = (await api.client.get("/v1/accounts/acme/members", headers=auth)).json()
    assert page.json() == everyone[1:2]
    for query, field in (("limit=0", "limit"), ("limit=20000", "limit"),
                         ("offset=-1", "offset"), ("offset=x", "offset")):
        assert_error(await api.client.get(f"/v1/accounts/acme/members?{query}", headers=auth),
                     422, "invalid_request", field=field)
    invoices = await api.client.get("/v1/accounts/acme/invoices?limit=1", headers=auth)
    assert invoices.headers["X-Total-Count"] == "1"


@on_every_store
async def test_an_idempotent_replay_returns_the_first_body_and_a_conflict_is_409(api):
    headers = api.auth("cat", **{"Idempotency-Key": "once"})
    first = await api.client.post("/v1/accounts/acme/usage", headers=headers,
                                  json={"credits": 40, "campaign": "c"})
    again = await api.client.post("/v1/accounts/acme/usage", headers=headers,
                                  json={"credits": 40, "campaign": "c"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert api.world.session("ann").balance("acme").used_this_period == 40
    assert_error(await api.client.post("/v1/accounts/acme/usage", headers=headers,
                                       json={"credits": 41, "campaign": "c"}),
                 409, "idempotency_conflict", field="idempotency_key")


@on_every_store
async def test_refusals_that_cost_money_share_402_and_differ_by_code(api):
    owner = api.auth("ann")
    limit = await api.client.put("/v1/accounts/acme/members/cat/limit", headers=owner,
                                 json={"limit": 10})
    assert limit.json()["limit"] == 10
    assert_error(await api.client.post("/v1/accounts/acme/usage",
                                       headers=api.auth("cat", **KEY),
                                       json={"credits": 11, "campaign": "c"}),
                 402, "member_limit_reached")
    cleared = await api.client.put("/v1/accounts/acme/members/cat/limit", headers=owner,
                                   json={"limit": None})
    assert cleared.json()["limit"] is None
    assert_error(await api.client.post("/v1/accounts/acme/usage",
                                       headers=api.auth("cat", **KEY),
                                       json={"credits": 10**9, "campaign": "c"}),
                 402, "insufficient_credits")
    api.world.payments.decline("acme", True)
    assert_error(await api.client.post("/v1/accounts/acme/purchases",
                                       headers=api.auth("ann", **KEY), json={"credits": 200}),
                 402, "payment_declined")


@on_every_store
async def test_auto_recharge_put_replaces_settings_and_a_missing_cap_means_none(api):
    owner = api.auth("ann")
    body = {"enabled": True, "threshold": 100, "amount": 400, "monthly_cap_cents": 1000}
    set_ = await api.client.put("/v1/accounts/acme/auto-recharge", headers=owner, json=body)
    assert set_.json()["monthly_cap_cents"] == 1000
    body.pop("monthly_cap_cents")
    replaced = await api.client.put("/v1/accounts/acme/auto-recharge", headers=owner, json=body)
    assert replaced.json()["monthly_cap_cents"] is None


@on_every_store
async def test_plan_change_is_pending_until_cancelled(api):
    owner = api.auth("ann")
    changed = (await api.client.put("/v1/accounts/acme/subscription", headers=owner,
                                    json={"plan_id": "starter"})).json()
    assert changed["pending_plan"]["id"] == "starter" and changed["pending_from"]
    cancelled = (await api.client.delete("/v1/accounts/acme/subscription/pending",
                                         headers=owner)).json()
    assert cancelled["pending_plan"] is None


async def test_unknown_paths_and_methods_use_the_contract_error_shape(api):
    assert_error(await api.client.get("/v1/nothing", headers=api.auth("ann")), 404,
                 "not_found")
    assert_error(await api.client.patch("/v1/accounts/acme/balance", headers=api.auth("ann")),
                 405, "method_not_allowed")


async def test_the_openapi_document_needs_no_token_and_lists_every_path(api):
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for _, path, *_ in ENDPOINTS:
        template = path.split("?")[0].replace("members/cat", "members/{user_id}")
        assert f"/v1/accounts/{{account_id}}/{template}" in paths, template
    for path in ("/v1/me", "/v1/plans", "/v1/credit-packs", "/v1/admin/plans",
                 "/v1/admin/users", "/v1/admin/orgs", "/v1/admin/orgs/{org_id}/members",
                 "/v1/admin/users/{user_id}/tokens", "/v1/admin/payments/{account_id}",
                 "/v1/admin/clock"):
        assert path in paths, path
    usage = paths["/v1/accounts/{account_id}/usage"]["post"]
    ref = usage["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schemas = response.json()["components"]["schemas"]
    assert "credits" in schemas[ref.rsplit("/", 1)[-1]]["properties"]
