"""Paying a failed invoice, the alert settings and the alerts over HTTP: the contract's
order of checks (404, then 403, then 422), an idempotent replay answering the first body,
strict bodies and integers, and a limit above 1,000 cut, not refused."""

from __future__ import annotations

import httpx
import pytest

from creditdesk.errors import PaymentDeclined
from creditdesk.server.app import create_app
from tests.server.conftest import OPERATOR, assert_error
from tests.support.alert_pages import raise_1005_alerts

ACME = "/v1/accounts/acme"


class Client:
    def __init__(self, client: httpx.AsyncClient, tokens: dict) -> None:
        self.http, self.tokens = client, tokens

    async def call(self, user: str, method: str, path: str, key: str | None = None,
                   **options) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.http.request(method, path, headers=headers, **options)


@pytest.fixture
async def client(world):
    app = create_app(world.engine, operator_token=OPERATOR, test_clock=world.clock,
                     limits={"rate": None})
    tokens = {user: app.state.tokens.issue(user) for user in ("ann", "bob", "cat", "dan")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as http:
        yield Client(http, tokens)


def failed_purchase(world) -> str:
    """A purchase the card declines: a failed invoice to pay."""
    world.payments.decline("acme", True)
    with pytest.raises(PaymentDeclined):
        world.session("ann").purchase_credits("acme", 400, idempotency_key="buy-1")
    world.payments.decline("acme", False)
    [invoice] = [i for i in world.session("ann").invoices("acme") if i.status == "failed"]
    return invoice.id


async def test_pay_checks_access_before_the_key(world, client):
    invoice = failed_purchase(world)
    pay = f"{ACME}/invoices/{invoice}/pay"
    assert_error(await client.call("dan", "POST", pay), 404, "not_found")
    for user in ("bob", "cat"):
        assert_error(await client.call(user, "POST", pay), 403, "permission_denied",
                     required_role="owner")
        assert_error(await client.call(user, "POST", pay, key="k"), 403,
                     "permission_denied", required_role="owner")
    assert_error(await client.call("ann", "POST", pay), 422, "invalid_request",
                 field="idempotency_key")
    assert world.session("ann").balance("acme").purchased == 0     # nothing was paid


async def test_pay_once_and_a_replay_answers_the_first_body(world, client):
    invoice = failed_purchase(world)
    pay = f"{ACME}/invoices/{invoice}/pay"
    first = await client.call("ann", "POST", pay, key="pay-1")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["id"] == invoice and body["status"] == "paid" and body["paid_at"]
    again = await client.call("ann", "POST", pay, key="pay-1")
    assert again.status_code == 200 and again.content == first.content
    assert world.session("ann").balance("acme").purchased == 400    # credited once
    assert_error(await client.call("ann", "POST", f"{ACME}/invoices/inv_nope/pay",
                                   key="pay-2"), 404, "not_found")


async def test_a_declined_payment_is_402_and_changes_nothing(world, client):
    invoice = failed_purchase(world)
    world.payments.decline("acme", True)
    refused = await client.call("ann", "POST", f"{ACME}/invoices/{invoice}/pay", key="p")
    assert_error(refused, 402, "payment_declined")
    assert world.session("ann").balance("acme").purchased == 0


async def test_alert_settings_roles_and_strict_bodies(client):
    settings = f"{ACME}/alert-settings"
    assert (await client.call("bob", "GET", settings)).json() == {
        "balance_below": [], "member_usage_percent": []}
    assert_error(await client.call("cat", "GET", settings), 403, "permission_denied",
                 required_role="admin")
    assert_error(await client.call("dan", "GET", settings), 404, "not_found")
    bad = {"balance_below": ["10"], "member_usage_percent": []}
    assert_error(await client.call("dan", "PUT", settings, json=bad), 404, "not_found")
    assert_error(await client.call("bob", "PUT", settings, json=bad), 403,
                 "permission_denied", required_role="owner")
    for body, field in ((bad, "balance_below"),
                        ({"balance_below": [True], "member_usage_percent": []},
                         "balance_below"),
                        ({"balance_below": []}, "member_usage_percent"),
                        ({"balance_below": [], "member_usage_percent": [], "x": 1}, "x")):
        assert_error(await client.call("ann", "PUT", settings, json=body), 422,
                     "invalid_request", field=field)
    put = await client.call("ann", "PUT", settings,
                            json={"balance_below": [900, 500], "member_usage_percent": [80]})
    assert put.status_code == 200, put.text
    assert put.json() == {"balance_below": [500, 900], "member_usage_percent": [80]}
    assert (await client.call("bob", "GET", settings)).json() == put.json()


async def test_alerts_page_newest_first_with_strict_integers(world, client):
    world.session("ann").configure_alerts("acme", balance_below=[900, 500],
                                          member_usage_percent=[])
    world.session("cat").record_usage("acme", 600, campaign="c", idempotency_key="u1")
    listed = await client.call("bob", "GET", f"{ACME}/alerts")
    assert listed.status_code == 200
    alerts = listed.json()
    assert [a["threshold"] for a in alerts] == [900, 500]
    assert alerts[0]["id"] > alerts[1]["id"]
    older = await client.call("bob", "GET", f"{ACME}/alerts",
                              params={"before": alerts[0]["id"]})
    assert older.json() == alerts[1:]
    for user, status, code in (("dan", 404, "not_found"), ("cat", 403, "permission_denied")):
        error = assert_error(await client.call(user, "GET", f"{ACME}/alerts",
                                               params={"limit": "x"}), status, code,
                             required_role="admin" if status == 403 else None)
        assert error
    for params, field in (({"limit": "x"}, "limit"), ({"limit": "+5"}, "limit"),
                          ({"limit": "1.5"}, "limit"), ({"before": "true"}, "before")):
        assert_error(await client.call("bob", "GET", f"{ACME}/alerts", params=params),
                     422, "invalid_request", field=field)


async def test_a_limit_above_the_cap_is_cut_to_1000(world, client):
    owner = world.session("ann")
    raise_1005_alerts(world)
    cut = await client.call("bob", "GET", f"{ACME}/alerts", params={"limit": "5000"})
    assert cut.status_code == 200, cut.text
    assert len(cut.json()) == 1000
    assert len((await client.call("bob", "GET", f"{ACME}/alerts")).json()) == 100
