"""The webhook paths over HTTP: who may use them (404, 403, then 422), registration's URL
checks (no server-side request forgery, checked on the resolved addresses), listing without
the secret, removal, the attempts, and 503 on a server whose books are in memory.

No test here opens a connection: registration only resolves (through an injected resolver),
and the deliverers get a transport that fails the test if it is ever called.
"""

from __future__ import annotations

import httpx
import pytest

from creditdesk.server.app import create_app
from creditdesk.server.webhook_service import WebhookSettings
from creditdesk.server.webhook_urls import WebhookPolicy
from tests.server.conftest import OPERATOR, assert_error
from tests.server.test_webhooks import NeverConnect, no_system_dns

PUBLIC = "93.184.215.14"    # a public address: answered by the resolver, never connected to


@pytest.fixture
def store_factory(tmp_path):
    from creditdesk.store import SqlStore
    opened = []

    def make():
        store = SqlStore(f"sqlite:///{tmp_path}/books-{len(opened)}.db")
        store.migrate()
        opened.append(store)
        return store
    yield make
    for store in opened:
        store.close()


def issue(app, user_id: str) -> str:
    return app.state.tokens.issue(user_id)


class Names:
    """An injected resolver: what each name answers (a DNS query would be traffic)."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): value for name, value in answers.items()}

    def __call__(self, name: str) -> list[str]:
        if name not in self.answers:
            return no_system_dns(name)
        return self.answers[name]


async def client_for(world, settings: WebhookSettings):
    app = create_app(world.engine, operator_token=OPERATOR, test_clock=world.clock,
                     limits={"rate": None}, webhooks=settings)
    tokens = {user: issue(app, user) for user in ("ann", "bob", "cat", "dan")}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    return app, client, tokens


@pytest.fixture
async def hooks_api(world):
    resolver = Names(hooks_example_com=[PUBLIC], inside_example_com=["127.0.0.1"],
                     mixed_example_com=[PUBLIC, "10.1.2.3"])
    app, client, tokens = await client_for(world, WebhookSettings(
        resolver=resolver, transport=NeverConnect()))
    client.tokens = tokens
    client.app = app
    client.resolver = resolver
    yield client
    await client.aclose()


def as_(client, user: str) -> dict:
    return {"Authorization": f"Bearer {client.tokens[user]}"}


WEBHOOKS = "/v1/accounts/acme/webhooks"


async def test_owner_registers_lists_and_removes(hooks_api):
    made = await hooks_api.post(WEBHOOKS, json={"url": "https://hooks.example.com/in"},
                                headers=as_(hooks_api, "ann"))
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"id", "url", "secret"}
    assert body["url"] == "https://hooks.example.com/in"
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    listed = await hooks_api.get(WEBHOOKS, headers=as_(hooks_api, "ann"))
    assert listed.status_code == 200
    [shown] = listed.json()
    assert set(shown) == {"id", "url", "created_at"}          # never the secret again
    assert shown["id"] == body["id"]
    assert (await hooks_api.get(f"{WEBHOOKS}/{body['id']}/deliveries",
                                headers=as_(hooks_api, "ann"))).json() == []
    gone = await hooks_api.delete(f"{WEBHOOKS}/{body['id']}", headers=as_(hooks_api, "ann"))
    assert gone.status_code == 204
    assert (await hooks_api.get(WEBHOOKS, headers=as_(hooks_api, "ann"))).json() == []
    assert_error(await hooks_api.delete(f"{WEBHOOKS}/{body['id']}",
                                        headers=as_(hooks_api, "ann")), 404, "not_found")
    assert_error(await hooks_api.get(f"{WEBHOOKS}/{body['id']}/deliveries",
                                     headers=as_(hooks_api, "ann")), 404, "not_found")


@pytest.mark.parametrize("user, status, code, role", [
    ("dan", 404, "not_found", None),                 # not a member: the account is unseen
    ("bob", 403, "permission_denied", "owner"),      # admin
    ("cat", 403, "permission_denied", "owner"),      # member
])
async def test_access_comes_before_the_body(hooks_api, user, status, code, role):
    for method, path, body in (("POST", WEBHOOKS, {"url": 5}), ("GET", WEBHOOKS, None),
                               ("DELETE", f"{WEBHOOKS}/wh_nope", None),
                               ("GET", f"{WEBHOOKS}/wh_nope/deliveries", None)):
        response = await hooks_api.request(method, path, json=body,
                                           headers=as_(hooks_api, user))
        assert_error(response, status, code, required_role=role)


async def test_no_token_is_401_and_a_bad_body_is_422_for_the_owner(hooks_api):
    assert_error(await hooks_api.get(WEBHOOKS), 401, "unauthenticated")
    for body, field in (({"url": 5}, "url"), ({}, "url"), ({"url": "x", "more": 1}, "more")):
        assert_error(await hooks_api.post(WEBHOOKS, json=body, headers=as_(hooks_api, "ann")),
                     422, "invalid_request", field=field)
    assert (await hooks_api.get(WEBHOOKS, headers=as_(hooks_api, "ann"))).json() == []


FORBIDDEN = (
    "http://hooks.example.com/in",                # http without --allow-http-webhooks
    "https://10.0.0.7/in",                        # private
    "https://169.254.169.254/latest/meta-data",   # link-local (cloud metadata)
    "https://[::1]/in",                           # loopback, IPv6
    "https://127.0.0.1/in",
    "https://0x7f.1/in",                          # loopback spelled in hex
    "https://inside.example.com/in",              # a name the resolver answers 127.0.0.1
    "https://mixed.example.com/in",               # one public and one private answer
    "ftp://hooks.example.com/in",
)


async def test_forbidden_urls_are_refused_at_registration(hooks_api):
    for url in FORBIDDEN:
        refused = await hooks_api.post(WEBHOOKS, json={"url": url},
                                       headers=as_(hooks_api, "ann"))
        assert_error(refused, 422, "invalid_request", field="url")
    assert (await hooks_api.get(WEBHOOKS, headers=as_(hooks_api, "ann"))).json() == []


async def test_the_flags_allow_http_and_private_addresses(world):
    _, client, tokens = await client_for(world, WebhookSettings(
        policy=WebhookPolicy(allow_http=True, allow_private=True),
        resolver=Names(inside_example_com=["127.0.0.1"]), transport=NeverConnect()))
    async with client:
        for url in ("http://127.0.0.1:9/in", "http://inside.example.com/in",
                    "https://10.0.0.7/in"):
            made = await client.post(WEBHOOKS, json={"url": url},
                                     headers={"Authorization": f"Bearer {tokens['ann']}"})
            assert made.status_code == 201, made.text


async def test_at_most_ten_endpoints(hooks_api):
    for n in range(10):
        made = await hooks_api.post(WEBHOOKS, json={"url": f"https://hooks.example.com/{n}"},
                                    headers=as_(hooks_api, "ann"))
        assert made.status_code == 201
    assert_error(await hooks_api.post(WEBHOOKS, json={"url": "https://hooks.example.com/x"},
                                      headers=as_(hooks_api, "ann")),
                 422, "invalid_request", field="url")


async def test_a_server_with_books_in_memory_answers_503():
    from creditdesk.engine import BillingEngine
    from creditdesk.models import Plan

    engine = BillingEngine()
    engine.add_plan(Plan(id="free", name="Free", base_credits_per_month=1_000,
                         rollover_cap=0, billing_period="monthly", price_cents=0))
    for user in ("ann", "bob"):
        engine.add_user(user, name=user, email=f"{user}@example.com", plan="free")
    engine.create_org("acme", name="Acme", owner="ann", plan="free")
    engine.add_member("acme", "bob", role="admin")
    app = create_app(engine, operator_token=OPERATOR, limits={"rate": None})
    assert app.state.service.engine.store.kind == "memory"
    token = issue(app, "ann")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        for method, path in (("POST", WEBHOOKS), ("GET", WEBHOOKS),
                             ("DELETE", f"{WEBHOOKS}/wh_1"),
                             ("GET", f"{WEBHOOKS}/wh_1/deliveries")):
            response = await client.request(method, path, json={"url": "https://a.example/"},
                                            headers={"Authorization": f"Bearer {token}"})
            error = assert_error(response, 503, "unavailable")
            assert "memory" in error["message"]
            # Only an owner learns it: an admin is refused for the role first.
            admin = await client.request(method, path, json={"url": "https://a.example/"},
                                         headers={"Authorization": f"Bearer {issue(app, 'bob')}"})
            assert_error(admin, 403, "permission_denied", required_role="owner")


async def test_the_paths_are_in_the_openapi_document(hooks_api):
    paths = (await hooks_api.get("/openapi.json")).json()["paths"]
    assert set(paths[WEBHOOKS.replace("acme", "{account_id}")]) == {"get", "post"}
    assert "delete" in paths["/v1/accounts/{account_id}/webhooks/{webhook_id}"]
    assert "get" in paths["/v1/accounts/{account_id}/webhooks/{webhook_id}/deliveries"]
