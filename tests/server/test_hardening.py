"""Issue 9 over HTTP, in process: each defect the attacker's tests found, refused in the
contract's error shape (server/limits.py, gate.py, app.py). Real sockets, slow clients and
the serve command are in test_hardening_live.py."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from creditdesk.server.app import create_app
from creditdesk.server.routes import usage as usage_routes

from .conftest import OPERATOR, assert_error, issue

# --- item 10: an id is one path segment ---------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/accounts/acme%2Finvoices",
                                  "/v1%2Faccounts%2Facme%2Fbalance",
                                  "/v1/accounts/acme%2fbalance"])
async def test_an_encoded_slash_is_not_a_separator(api, path):
    answer = await api.client.get(path, headers=api.auth("ann"))
    assert_error(answer, 404, "not_found")


async def test_an_encoded_character_in_an_id_still_works(api):
    # Only the slash is refused: other escapes are ordinary id characters.
    answer = await api.client.get("/v1/accounts/%61cme/balance", headers=api.auth("ann"))
    assert answer.status_code == 200, answer.text


# --- item 11: trailing slash, numbers, duplicated keys -------------------------------------

@pytest.mark.parametrize("path", ["/v1/me/", "/v1/accounts/acme/balance/", "/v1/plans/"])
async def test_a_trailing_slash_is_a_404_not_a_redirect_from_the_host_header(api, path):
    for headers in ({}, api.auth("ann")):
        answer = await api.client.get(path, headers={**headers, "Host": "evil.example"})
        assert_error(answer, 404, "not_found")
        assert "location" not in answer.headers


@pytest.mark.parametrize("text", ["\uff11", "1_0", "+5", " 5", "5 ", "\u0665", "0x10", "1e3"])
async def test_integer_query_parameters_take_ascii_digits_only(api, text):
    auth = api.auth("ann")
    for path, field in (("ledger", "limit"), ("ledger", "before"), ("members", "offset"),
                        ("invoices", "limit")):
        answer = await api.client.get(f"/v1/accounts/acme/{path}", params={field: text},
                                      headers=auth)
        assert_error(answer, 422, "invalid_request", field=field)


async def test_plain_ascii_numbers_still_work(api):
    answer = await api.client.get("/v1/accounts/acme/members", params={"offset": "0",
                                  "limit": "2"}, headers=api.auth("ann"))
    assert answer.status_code == 200 and len(answer.json()) == 2


async def test_a_duplicated_json_key_is_refused_and_changes_nothing(api):
    before = api.world.session("ann").balance("acme").total
    answer = await api.client.post(
        "/v1/accounts/acme/usage", content=b'{"credits": 1, "campaign": "c", "credits": 900}',
        headers=api.auth("ann", **{"Idempotency-Key": "dup", "Content-Type":
                                   "application/json"}))
    error = assert_error(answer, 422, "invalid_request", field="credits")
    assert "twice" in error["message"]
    assert api.world.session("ann").balance("acme").total == before


async def test_a_duplicated_key_still_meets_the_access_checks_first(api):
    # The contract's order: an outsider hears 404 whatever body it sent.
    answer = await api.client.put("/v1/accounts/acme/subscription",
                                  content=b'{"plan_id": "team", "plan_id": "pro"}',
                                  headers=api.auth("dan"))
    assert_error(answer, 404, "not_found")


# --- item 12 over HTTP: a larger page is cut, not refused -----------------------------------

async def test_a_ledger_limit_over_the_cap_is_cut_and_under_one_is_refused(api):
    session = api.world.session("ann")
    for n in range(3):
        session.record_usage("acme", 1, campaign="c", idempotency_key=f"p{n}")
    auth = api.auth("bob")
    everything = await api.client.get("/v1/accounts/acme/ledger?limit=1000", headers=auth)
    for limit in ("1001", "100000", "99999999999999999999"):
        cut = await api.client.get(f"/v1/accounts/acme/ledger?limit={limit}", headers=auth)
        assert cut.status_code == 200, cut.text
        assert cut.json() == everything.json()
    for limit in ("0", "-3"):
        assert_error(await api.client.get(f"/v1/accounts/acme/ledger?limit={limit}",
                                          headers=auth), 422, "invalid_request", field="limit")


# --- item 2: a huge history is refused, and engine calls leave the loop free ---------------

async def test_a_history_over_the_point_cap_is_refused_on_top(api, monkeypatch):
    session = api.world.session("ann")
    for n in range(3):
        session.record_usage("acme", 5, campaign=f"camp{n}", idempotency_key=f"h{n}")
    query = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-02-01T00:00:00+00:00",
             "group_by": "campaign"}
    auth = api.auth("ann")
    whole = await api.client.get("/v1/accounts/acme/usage-history", params=query, headers=auth)
    points = len(whole.json()["points"])
    assert points >= 3
    monkeypatch.setattr(usage_routes, "MAX_HISTORY_POINTS", points - 1)
    error = assert_error(await api.client.get("/v1/accounts/acme/usage-history", params=query,
                                              headers=auth), 422, "invalid_request", field="top")
    assert "top=" in error["message"] and "granularity" in error["message"]
    narrowed = await api.client.get("/v1/accounts/acme/usage-history",
                                    params={**query, "top": "1"}, headers=auth)
    assert narrowed.status_code == 200 and len(narrowed.json()["points"]) <= points - 1


async def test_a_slow_engine_call_does_not_stall_other_requests(api, monkeypatch):
    """HEAD ran every engine call on the event loop: one 9 s history held up every user.
    Here the history call is held until the other requests have been answered; on the
    event loop it would hold them too (until the 10 s safety release)."""
    service = api.app.state.service
    real = service.execute
    release = threading.Event()

    def held(actor, method, kwargs):
        if method.__name__ == "usage_history":
            release.wait(10)
        return real(actor, method, kwargs)

    monkeypatch.setattr(service, "execute", held)
    query = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-02-01T00:00:00+00:00"}
    history = asyncio.create_task(api.client.get("/v1/accounts/acme/usage-history",
                                                 params=query, headers=api.auth("ann")))
    await asyncio.sleep(0.1)
    document = await api.client.get("/openapi.json")
    refused = await api.client.get("/v1/me", headers={"Authorization": "Bearer nobody"})
    assert document.status_code == 200 and refused.status_code == 401
    assert not history.done(), "the other requests waited for the engine call"
    release.set()
    assert (await history).status_code == 200


# --- item 9: the test clock's bounds -------------------------------------------------------

@pytest.mark.parametrize("now", ["0001-01-01T00:00:00+14:00", "9999-12-01T00:00:00+00:00",
                                 "9999-12-31T23:59:59-14:00", "1900-01-01T00:00:00+00:00"])
async def test_setting_the_clock_out_of_bounds_is_422_on_now(api, now):
    before = api.world.clock()
    answer = await api.client.put("/v1/admin/clock", json={"now": now},
                                  headers=api.auth("operator"))
    assert_error(answer, 422, "invalid_request", field="now")
    assert api.world.clock() == before
    assert (await api.client.get("/v1/me", headers=api.auth("ann"))).status_code == 200


# --- item 1: the rate limit keys on the user, and failed tokens on the address -------------

@pytest.fixture
async def limited(world):
    app = create_app(world.engine, operator_token=OPERATOR, limits={"rate": 1.0, "burst": 20})
    tokens = {user: issue(app, user) for user in ("ann", "bob")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        yield client, tokens


def _spellings(token: str) -> list[str]:
    shapes = ["Bearer {}", "bearer {}", "BEARER {}", "Bearer  {}", "Bearer {}\t", "bEaReR {} ",
              "Bearer\t{}", "  Bearer {}"]
    return [shape.format(token) for shape in shapes]


async def test_every_spelling_of_one_token_shares_one_bucket(limited):
    client, tokens = limited
    statuses = []
    for n in range(60):
        header = _spellings(tokens["ann"])[n % 8]
        statuses.append((await client.get("/v1/me", headers={"Authorization": header}))
                        .status_code)
    assert set(statuses) <= {200, 429}
    # 20 at once plus a refill of about 1 a second: far fewer than the 60 sent.
    assert statuses.count(200) <= 25 and statuses.count(429) >= 35
    # Another user is not slowed by ann's flood.
    other = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['bob']}"})
    assert other.status_code == 200


async def test_two_tokens_of_one_user_share_one_bucket(world):
    app = create_app(world.engine, operator_token=OPERATOR, limits={"rate": 1.0, "burst": 10})
    first, second = issue(app, "ann"), issue(app, "ann")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        statuses = [(await client.get("/v1/me", headers={
            "Authorization": f"Bearer {(first, second)[n % 2]}"})).status_code
            for n in range(30)]
    assert statuses.count(429) >= 15


async def test_ever_new_bad_tokens_are_limited_per_address(limited):
    client, tokens = limited
    statuses = [(await client.get("/v1/me", headers={"Authorization": f"Bearer made-up-{n}"})
                 ).status_code for n in range(200)]
    assert set(statuses) == {401, 429}
    assert statuses.count(401) <= 30, statuses.count(401)
    error = (await client.get("/v1/me", headers={"Authorization": "Bearer again"})).json()
    assert error["error"]["code"] == "rate_limited"
    # A real user from the same address is not locked out by someone else's guessing.
    ok = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['ann']}"})
    assert ok.status_code == 200


async def test_a_forwarded_for_header_is_not_an_address_by_itself(limited):
    client, _ = limited
    statuses = [(await client.get("/v1/me", headers={
        "Authorization": f"Bearer bad-{n}", "X-Forwarded-For": f"10.0.{n // 250}.{n % 250}"})
    ).status_code for n in range(100)]
    assert statuses.count(429) >= 60
