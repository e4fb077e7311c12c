"""Every operation of the server's own OpenAPI document x every kind of caller.

The table below says who may call each operation; the test fails when the document has an
operation the table lacks (deny by default: a new route must be placed in it on purpose).
Allowed calls answer 2xx; the rest 401 (no or unknown token, or the operator token on a
user path), 404 (an owner of another org: it does not exist for them) or 403 naming the role
needed, and a refused call changes nothing in the engine. No answer carries a token or a
hash, except the token endpoint's own `{token}` to the operator.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest

from creditdesk.rules import ROLE_RANK

from .inprocess import ORG, OTHER_ORG, served_in_process
from .worlds import START

OPERATOR = "@operator"
CALLERS = (None, "bad", "mia", "adam", "olga", "otto", OPERATOR)
ROLE_OF = {"mia": "member", "adam": "admin", "olga": "owner"}
_n = itertools.count()


def _key() -> dict:
    return {"Idempotency-Key": f"matrix-{next(_n)}"}


def _day(hours: int) -> str:
    return (START + timedelta(hours=hours)).isoformat()


# (method, path) -> (who may call it, request maker, answers an allowed call may give).
# Who: "user" (any signed-in user), a role in the org, or "operator".
TABLE = {
    ("get", "/v1/me"): ("user", lambda: {}),
    ("get", "/v1/plans"): ("user", lambda: {}),
    ("get", "/v1/credit-packs"): ("user", lambda: {}),
    ("get", "/v1/accounts/{account_id}/balance"): ("admin", lambda: {}),
    ("get", "/v1/accounts/{account_id}/my-usage"): ("member", lambda: {}),
    ("post", "/v1/accounts/{account_id}/usage"): (
        "member", lambda: {"json": {"credits": 1, "campaign": "matrix"}, "headers": _key()}),
    ("get", "/v1/accounts/{account_id}/usage-history"): (
        "admin", lambda: {"params": {"start": _day(0), "end": _day(48)}}),
    ("get", "/v1/accounts/{account_id}/members"): ("admin", lambda: {"params": {"limit": 10}}),
    ("put", "/v1/accounts/{account_id}/members/{user_id}/limit"): (
        "owner", lambda: {"json": {"limit": 50_000}}),
    ("get", "/v1/accounts/{account_id}/subscription"): ("admin", lambda: {}),
    ("put", "/v1/accounts/{account_id}/subscription"): ("owner", lambda: {"json": {"plan_id": "pro"}}),
    ("delete", "/v1/accounts/{account_id}/subscription/pending"): ("owner", lambda: {}),
    ("post", "/v1/accounts/{account_id}/purchases"): (
        "owner", lambda: {"json": {"credits": 200}, "headers": _key()}),
    ("get", "/v1/accounts/{account_id}/auto-recharge"): ("admin", lambda: {}),
    ("put", "/v1/accounts/{account_id}/auto-recharge"): (
        "owner", lambda: {"json": {"enabled": False, "threshold": 1_000, "amount": 2_000,
                                   "monthly_cap_cents": None}}),
    ("get", "/v1/accounts/{account_id}/invoices"): ("owner", lambda: {"params": {"offset": 0}}),
    ("get", "/v1/accounts/{account_id}/ledger"): ("admin", lambda: {"params": {"limit": 5}}),
    ("get", "/v1/accounts/{account_id}/portal-url"): ("owner", lambda: {}),
    # The invoice is paid already: the owner gets past authorization and is refused for
    # what was asked (422 on invoice_id).
    ("post", "/v1/accounts/{account_id}/invoices/{invoice_id}/pay"): (
        "owner", lambda: {"headers": _key()}, {422}),
    ("get", "/v1/accounts/{account_id}/alert-settings"): ("admin", lambda: {}),
    ("put", "/v1/accounts/{account_id}/alert-settings"): (
        "owner", lambda: {"json": {"balance_below": [1_000], "member_usage_percent": [80]}}),
    ("get", "/v1/accounts/{account_id}/alerts"): ("admin", lambda: {"params": {"limit": 5}}),
    # Webhooks live in the server's database; this app's books are in memory, so the owner
    # gets past authorization to a 503 saying so, and everyone else is refused first.
    ("post", "/v1/accounts/{account_id}/webhooks"): (
        "owner", lambda: {"json": {"url": "https://hooks.example/creditdesk"}}, {503}),
    ("get", "/v1/accounts/{account_id}/webhooks"): ("owner", lambda: {}, {503}),
    ("delete", "/v1/accounts/{account_id}/webhooks/{webhook_id}"): (
        "owner", lambda: {}, {503}),
    ("get", "/v1/accounts/{account_id}/webhooks/{webhook_id}/deliveries"): (
        "owner", lambda: {}, {503}),
    ("post", "/v1/admin/plans"): (
        "operator", lambda: {"json": {"id": f"plan-{next(_n)}", "name": "Matrix",
                                      "base_credits_per_month": 1_000, "rollover_cap": 0,
                                      "billing_period": "monthly", "price_cents": 0}}),
    ("post", "/v1/admin/users"): (
        "operator", lambda: {"json": {"id": f"user-{next(_n)}", "name": "New",
                                      "email": "new@example.com", "plan": "team"}}),
    ("post", "/v1/admin/orgs"): (
        "operator", lambda: {"json": {"id": f"org-{next(_n)}", "name": "New Org",
                                      "owner": "otto", "plan": "team"}}),
    ("post", "/v1/admin/orgs/{org_id}/members"): (
        "operator", lambda: {"json": {"user_id": "mia", "role": "member"}}),
    ("post", "/v1/admin/users/{user_id}/tokens"): ("operator", lambda: {"json": {}}),
    ("put", "/v1/admin/payments/{account_id}"): ("operator", lambda: {"json": {"decline": False}}),
    ("put", "/v1/admin/clock"): ("operator", lambda: {"json": {"now": START.isoformat()}}),
    # The demo loads only into an empty server; this one is not, so the operator gets past
    # authorization and is refused for what it asked (409), which is what this proves.
    ("post", "/v1/admin/demo"): ("operator", lambda: {"json": {"members": 5, "months": 1}},
                                 {409}),
}
PATH_VALUES = {"account_id": ORG, "org_id": ORG, "user_id": "mia", "webhook_id": "wh_1"}


def expected(who: str, caller: str | None) -> int | None:
    """The status a caller must get; None where the call is allowed."""
    if caller in (None, "bad"):
        return 401
    if who == "operator":
        return None if caller == OPERATOR else 403
    if caller == OPERATOR:
        return 401          # the operator token is not a user
    if who == "user":
        return None
    if caller == "otto":
        return 404          # acme does not exist for an outsider
    return None if ROLE_RANK[ROLE_OF[caller]] >= ROLE_RANK[who] else 403


@pytest.fixture(scope="module")
def served():
    with served_in_process() as served:
        paid = [i for i in served.world.engine.session("olga").invoices(ORG)
                if i.status == "paid"]
        PATH_VALUES["invoice_id"] = paid[0].id
        yield served


def _operations(served) -> set[tuple[str, str]]:
    document = served.client.get("/openapi.json")
    assert document.status_code == 200     # the one path that needs no token
    return {(method, path) for path, item in document.json()["paths"].items()
            for method in item if method in ("get", "put", "post", "delete", "patch")}


def test_every_documented_operation_is_in_the_table(served):
    operations = _operations(served)
    assert operations - TABLE.keys() == set(), "operations nobody decided access for"
    assert TABLE.keys() - operations == set(), "the table names operations that are gone"


def _call(served, method, path, caller, request):
    url = path.format(**PATH_VALUES)
    headers = dict(request.get("headers", {}))
    if caller == "bad":
        headers["Authorization"] = "Bearer not-a-real-token"
    else:
        headers.update(served.headers(caller))
    return served.client.request(method.upper(), url, params=request.get("params"),
                                 json=request.get("json"), headers=headers)


def test_matrix(served):
    engine = served.world.engine
    secrets = [served.operator_token, *served.tokens.values()]
    failures, calls = [], 0
    for (method, path), (who, make, *allowed) in sorted(TABLE.items()):
        for caller in CALLERS:
            if path.endswith("/subscription/pending"):
                # Something to cancel, so the owner's allowed call can succeed.
                engine.session("olga").change_plan(ORG, "pro")
            before = engine.mutations, len(served.world.payments.charges)
            response = _call(served, method, path, caller, make())
            calls += 1
            status, want = response.status_code, expected(who, caller)
            where = f"{method.upper()} {path} as {caller}: {status} {response.text[:200]}"
            if want is None:
                ok = allowed[0] if allowed else range(200, 300)
                if status not in ok:
                    failures.append(f"allowed, but {where}")
            else:
                error = response.json().get("error", {}) if response.headers.get(
                    "content-type", "").startswith("application/json") else {}
                if status != want:
                    failures.append(f"expected {want}, got {where}")
                elif want == 403 and error.get("required_role") != who:
                    failures.append(f"403 must name the role {who}: {where}")
                elif error.get("code") != {401: "unauthenticated", 403: "permission_denied",
                                           404: "not_found"}[want]:
                    failures.append(f"wrong error body: {where}")
                if (engine.mutations, len(served.world.payments.charges)) != before:
                    failures.append(f"a refused call changed state or charged: {where}")
            issued_here = path.endswith("/tokens") and caller == OPERATOR
            leaked = [s for s in secrets if s in response.text]
            if leaked or (not issued_here and _looks_secret(response.text)):
                failures.append(f"the answer carries a token or hash: {where}")
    print(f"authorization matrix: {calls} calls, {len(TABLE)} operations x {len(CALLERS)} "
          f"callers")
    assert failures == []


_HASH = re.compile(r"\b[0-9a-f]{40,}\b")


def _looks_secret(text: str) -> bool:
    return bool(_HASH.search(text)) or '"token' in text or "hash" in text.lower()


def test_fields_a_role_may_not_set_are_refused_or_ignored(served):
    engine, client = served.world.engine, served.client
    boss = engine.session("olga")
    other_before = engine.session("otto").balance(OTHER_ORG)
    acme_before = boss.balance(ORG)
    sneaky = client.post(f"/v1/accounts/{ORG}/usage", headers={
        **served.headers("mia"), "Idempotency-Key": "sneaky"}, json={
        "credits": 5, "campaign": "x", "account_id": OTHER_ORG, "balance": 10**9,
        "role": "owner", "actor": "olga"})
    assert sneaky.status_code in (200, 422), sneaky.text
    spent = 5 if sneaky.status_code == 200 else 0
    assert boss.balance(ORG).total == acme_before.total - spent
    if spent:
        entry = engine.ledger_entries(ORG)[-1]
        assert (entry.actor, entry.idempotency_key) == ("mia", "sneaky")
    limit = client.put(f"/v1/accounts/{ORG}/members/mia/limit", headers=served.headers("olga"),
                       json={"limit": 9_000, "role": "owner"})
    assert limit.status_code in (200, 422), limit.text
    purchase = client.post(f"/v1/accounts/{ORG}/purchases", headers={
        **served.headers("olga"), "Idempotency-Key": "sneaky-buy"}, json={
        "credits": 200, "amount_cents": 1, "account_id": OTHER_ORG, "balance": 10**9})
    assert purchase.status_code in (200, 422), purchase.text
    if purchase.status_code == 200:
        assert purchase.json()["amount_cents"] == 100
        assert purchase.json()["account_id"] == ORG
    user = client.post("/v1/admin/users", headers=served.headers(OPERATOR), json={
        "id": "sneaky-user", "name": "S", "email": "", "plan": "team", "role": "owner",
        "balance": 10**9})
    assert user.status_code in (201, 422), user.text
    roles = {c.account_id: c.role for c in engine.session("mia").whoami().contexts}
    assert roles[ORG] == "member"
    assert engine.session("otto").balance(OTHER_ORG) == other_before
    assert max(boss.balance(ORG).total, engine.session("otto").balance(OTHER_ORG).total) < 10**9


@pytest.mark.parametrize("path", ["balance", "my-usage", "invoices", "ledger", "auto-recharge"])
def test_a_personal_account_exists_only_for_its_user(served, path):
    url = f"/v1/accounts/personal%3Amia/{path}"
    own = served.client.get(url, headers=served.headers("mia"))
    assert own.status_code == 200, own.text
    for caller, status in (("olga", 404), ("adam", 404), ("otto", 404), (OPERATOR, 401),
                           (None, 401)):
        answer = served.client.get(url, headers=served.headers(caller))
        assert answer.status_code == status, (caller, answer.text)
