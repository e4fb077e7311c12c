"""Resource limits over HTTP: oversized bodies, capped pages, a flood from one token."""

from __future__ import annotations

import httpx
import pytest

from .inprocess import ORG, served_in_process
from .served import ServedProcess
from .worlds import EMPTY, TEAM, HttpWorld

MAX_BODY = 4_096


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("limits")
    env = {"CREDITDESK_RATE_LIMIT": "0.5/10", "CREDITDESK_MAX_BODY_BYTES": str(MAX_BODY)}
    with ServedProcess(workdir, env=env) as served:
        world = HttpWorld(served.url, served.operator_token)
        world.add_plan(TEAM)
        world.add_plan(EMPTY)
        world.add_user("lena", plan="team")
        world.create_org("bigco", "lena", "team")
        yield served, world
        world.close()


def _error(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def test_oversized_bodies_get_413_whether_declared_or_streamed(server):
    served, world = server
    token = world.token_for("lena")
    url = f"{served.url}/v1/accounts/bigco/usage"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "huge",
               "Content-Type": "application/json"}
    padding = "x" * (MAX_BODY * 4)
    body = f'{{"credits": 5, "campaign": "{padding}"}}'.encode()
    declared = httpx.post(url, content=body, headers=headers)
    assert declared.status_code == 413
    assert _error(declared)["code"] == "payload_too_large"

    def chunks():
        for start in range(0, len(body), 1_000):
            yield body[start:start + 1_000]

    streamed = httpx.post(url, content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert _error(streamed)["code"] == "payload_too_large"
    # Nothing was debited, and the server still answers normally.
    session = world.session("lena")
    assert session.balance("bigco").used_this_period == 0
    assert session.record_usage("bigco", 5, campaign="small", idempotency_key="huge").credits == 5


def test_a_flood_from_one_token_gets_429_with_retry_after_and_spares_others(server):
    served, world = server
    world.add_user("flo", plan="team")
    world.add_user("calm", plan="team")
    flood = {"Authorization": f"Bearer {world.token_for('flo')}"}
    calm = {"Authorization": f"Bearer {world.token_for('calm')}"}
    with httpx.Client(base_url=served.url) as client:
        answers = [client.get("/v1/me", headers=flood) for _ in range(25)]
        other = client.get("/v1/me", headers=calm)
    statuses = [a.status_code for a in answers]
    # The bucket starts full (burst 10) and refills at one request every two seconds.
    assert statuses[:10] == [200] * 10
    limited = [a for a in answers if a.status_code == 429]
    # 15 more within a few seconds: at most a few can have refilled, even on a slow machine.
    assert len(limited) >= 5
    assert set(statuses) == {200, 429}
    for answer in limited:
        assert int(answer.headers["retry-after"]) >= 1
        assert _error(answer)["code"] == "rate_limited"
    assert other.status_code == 200


@pytest.mark.parametrize("path, cap", [("ledger", 1_000), ("invoices", 1_000),
                                       ("members", 10_000)])
def test_page_sizes_are_capped(path, cap):
    with served_in_process() as served:
        engine, headers = served.world.engine, served.headers("olga")
        owner = engine.session("olga")
        for n in range(cap // 200 + 1 if path == "invoices" else 0):
            owner.purchase_credits(ORG, 200, idempotency_key=f"page-{n}")
        answer = served.client.get(f"/v1/accounts/{ORG}/{path}",
                                   params={"limit": cap * 100}, headers=headers)
        if answer.status_code == 422:
            assert _error(answer)["field"] == "limit"
        else:
            assert answer.status_code == 200 and len(answer.json()) <= cap
        default = served.client.get(f"/v1/accounts/{ORG}/{path}", headers=headers)
        assert default.status_code == 200 and len(default.json()) <= cap
        for bad in ("0", "-1", "ten", "1e3"):
            refused = served.client.get(f"/v1/accounts/{ORG}/{path}", params={"limit": bad},
                                        headers=headers)
            assert refused.status_code == 422 and _error(refused)["field"] == "limit", bad


def test_rate_limit_uses_the_injected_clock_in_process():
    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()
    # Burst 4: the set-up issues four tokens with the operator's own bucket.
    with served_in_process(limits={"rate": 1.0, "burst": 4, "clock": clock}) as served:
        headers = served.headers("mia")
        statuses = [served.client.get("/v1/me", headers=headers).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        clock.now += 1.0
        assert served.client.get("/v1/me", headers=headers).status_code == 200


def test_the_document_lists_the_guards_answers(server):
    served, _ = server
    document = httpx.get(f"{served.url}/openapi.json").json()
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            wanted = {"429"} | ({"413"} if "requestBody" in operation else set())
            if not wanted <= set(operation.get("responses", {})):
                missing.append(f"{method.upper()} {path}")
    assert missing == [], "operations whose 413/429 answers are undocumented"
