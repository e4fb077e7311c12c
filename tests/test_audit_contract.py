"""Audit of design/contract.md against the code: what the other suites left unasserted.

- "The remote backend raises the same exception the engine would have": the refusals that
  tests/contract/test_refusals.py does not list (alert settings, alert pages, ledger filters,
  history folding, invoice payments, idempotency keys), on each kind of backend.
- The HTTP error body names the request's field, as the engine does, also for a list entry.
- The operator endpoints' answers for a role change, and the operator token on user paths.
- Webhook deliveries as a receiver sees them on the wire: the header names as written, and a
  signature checked by hand (not by the module's own verify_signature).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime

import httpx
import pytest

from creditdesk.errors import BillingError, InvalidRequest, NotFound, PermissionDenied
from creditdesk.models import Alert
from creditdesk.server.app import create_app
from tests.contract.conftest import backend_for, backend_kind  # noqa: F401 - fixtures
from tests.contract.test_refusals import engine_refusal, same_refusal
from tests.server.conftest import OPERATOR, assert_error
from tests.server.test_webhooks import (  # noqa: F401 - fixtures
    LOCAL,
    Clock,
    MemoryOutbox,
    alert,
    make_deliverer,
    receiver_factory,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
ALERTS = dict(balance_below=[], member_usage_percent=[])

# (user, method, args, kwargs, expected class, expected field or required role)
REFUSALS = [
    # Alert settings: owner only to set, admin+ to read; each list named as a whole.
    ("cat", "alert_settings", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "alerts", ("acme",), {}, PermissionDenied, "admin"),
    ("bob", "configure_alerts", ("acme",), {**ALERTS, "balance_below": ["x"]},
     PermissionDenied, "owner"),
    ("dan", "configure_alerts", ("acme",), {**ALERTS, "balance_below": ["x"]}, NotFound, None),
    *(("ann", "configure_alerts", ("acme",), {**ALERTS, "balance_below": bad}, InvalidRequest,
       "balance_below") for bad in (["10"], [True], [1.5], [0], [10**12 + 1], None,
                                    [1, 2, 3, 4, 5, 6])),
    *(("ann", "configure_alerts", ("acme",), {**ALERTS, "member_usage_percent": bad},
       InvalidRequest, "member_usage_percent") for bad in (["5"], [0], [101], [1, 2, 3, 4])),
    # Pages: under one is refused (over the cap is cut, below).
    ("ann", "alerts", ("acme",), dict(limit=0), InvalidRequest, "limit"),
    ("ann", "alerts", ("acme",), dict(before=0), InvalidRequest, "before"),
    ("ann", "ledger", ("acme",), dict(kind="refund"), InvalidRequest, "kind"),
    ("ann", "usage_history", ("acme",), dict(start=START, end=END, group_by="member", top=0),
     InvalidRequest, "top"),
    ("ann", "usage_history", ("acme",), dict(start=END, end=START), InvalidRequest, "end"),
    # Paying an invoice: owner only, then the invoice must exist.
    ("bob", "pay_invoice", ("acme", "in_nope"), dict(idempotency_key="p"), PermissionDenied,
     "owner"),
    ("ann", "pay_invoice", ("acme", "in_nope"), dict(idempotency_key="p"), NotFound, None),
    ("ann", "pay_invoice", ("acme", "in_nope"), dict(idempotency_key=""), InvalidRequest,
     "idempotency_key"),
    ("ann", "purchase_credits", ("acme", 200), dict(idempotency_key="k" * 256),
     InvalidRequest, "idempotency_key"),
    ("ann", "set_member_limit", ("personal:ann", "bob", 5), {}, NotFound, None),
    ("ann", "set_member_limit", ("acme", "cat", True), {}, InvalidRequest, "limit"),
    # A key an HTTP header cannot carry as it is (RFC 9110: visible ASCII; a parser strips
    # the spaces around it) is refused by every backend, instead of crashing the remote one
    # or meeting another key on the server.
    *(("cat", "record_usage", ("acme", 5), dict(campaign="c", idempotency_key=key),
       InvalidRequest, "idempotency_key") for key in ("ключ", " k", "k ", "a\nb", "tab\t")),
    ("ann", "purchase_credits", ("acme", 200), dict(idempotency_key="clé"), InvalidRequest,
     "idempotency_key"),
    ("dan", "purchase_credits", ("acme", 200), dict(idempotency_key="clé"), NotFound, None),
    ("bob", "purchase_credits", ("acme", 200), dict(idempotency_key="clé"), PermissionDenied,
     "owner"),
]


@pytest.mark.parametrize(("user", "method", "args", "kwargs", "expected", "detail"), REFUSALS,
                         ids=[f"{u}-{m}-{sorted(k.items())!r}"[:80]
                              for u, m, _, k, _, _ in REFUSALS])
async def test_every_backend_refuses_as_the_engine(world, backend_for, user, method, args,
                                                   kwargs, expected, detail):
    reference = engine_refusal(world, user, method, args, kwargs)
    assert type(reference) is expected
    assert detail == (reference.required_role if expected is PermissionDenied
                      else reference.field if expected is InvalidRequest else None)
    entries = {a: world.engine.ledger_entries(a) for a in world.engine.account_ids()}
    with pytest.raises(BillingError) as refused:
        await getattr(backend_for(user), method)(*args, **kwargs)
    same_refusal(refused.value, reference)
    assert {a: world.engine.ledger_entries(a) for a in world.engine.account_ids()} == entries


async def test_keys_a_header_carries_work_on_every_backend(world, backend_for):
    """The rule above refuses no key a client could send: inner spaces and punctuation."""
    backend = backend_for("cat")
    for n, key in enumerate(("a b", "order:42/retry#1", "~!@$%^&*()_+={}[]|;'<>,.?`", "9" * 255)):
        receipt = await backend.record_usage("acme", 1, campaign="c", idempotency_key=key)
        again = await backend.record_usage("acme", 1, campaign="c", idempotency_key=key)
        assert again == receipt and receipt.member_used_this_period == n + 1


async def test_pages_over_the_cap_are_cut_on_every_backend(world, backend_for):
    """ledger's and alerts' limit: a larger one is cut to 1,000, not refused."""
    owner = world.session("ann")
    owner.purchase_credits("acme", 2_000, idempotency_key="stock")
    for n in range(1_001):
        owner.record_usage("acme", 1, campaign="c", idempotency_key=f"u{n}")
    backend = backend_for("bob")
    page = await backend.ledger("acme", limit=5_000)
    assert len(page) == 1_000 and page == await backend.ledger("acme", limit=1_000)
    assert (await backend.alerts("acme", limit=10**9)) == await backend.alerts("acme")


# --- HTTP: the field of a refusal is the request's, as the engine names it ----------------

@pytest.fixture
async def http(world):
    app = create_app(world.engine, operator_token=OPERATOR, test_clock=world.clock,
                     limits={"rate": None})
    tokens = {user: app.state.tokens.issue(user) for user in ("ann", "bob", "cat")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        client.tokens = tokens
        yield client


def auth(client, user: str) -> dict:
    token = OPERATOR if user == "operator" else client.tokens[user]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("body", "field"), [
    ({"balance_below": ["10"], "member_usage_percent": []}, "balance_below"),
    ({"balance_below": [5, True], "member_usage_percent": []}, "balance_below"),
    ({"balance_below": [], "member_usage_percent": [50, 1.5]}, "member_usage_percent"),
])
async def test_a_bad_list_entry_names_the_list_as_the_engine_does(http, world, body, field):
    with pytest.raises(InvalidRequest) as engine_says:
        world.session("ann").configure_alerts("acme", **body)
    error = assert_error(await http.put("/v1/accounts/acme/alert-settings",
                                        headers=auth(http, "ann"), json=body),
                         422, "invalid_request", field=field)
    assert engine_says.value.field == field
    assert field in error["message"]


# --- the operator endpoints ------------------------------------------------------------

async def test_a_role_change_answers_201_and_takes_effect(http):
    changed = await http.post("/v1/admin/orgs/acme/members", headers=auth(http, "operator"),
                              json={"user_id": "cat", "role": "admin"})
    assert (changed.status_code, changed.json()) == (
        201, {"org_id": "acme", "user_id": "cat", "role": "admin"})
    assert (await http.get("/v1/accounts/acme/balance", headers=auth(http, "cat"))
            ).status_code == 200
    assert_error(await http.post("/v1/admin/orgs/acme/members", headers=auth(http, "operator"),
                                 json={"user_id": "ann", "role": "member"}),
                 422, "invalid_request", field="role")       # the org keeps its owner


@pytest.mark.parametrize("path", ["/v1/me", "/v1/accounts/acme/balance",
                                  "/v1/accounts/acme/ledger"])
async def test_the_operator_token_is_not_a_user(http, path):
    assert_error(await http.get(path, headers=auth(http, "operator")), 401, "unauthenticated")


async def test_a_user_token_on_every_operator_path_needs_the_operator(http):
    for method, path in (("POST", "/v1/admin/demo"), ("PUT", "/v1/admin/payments/acme")):
        assert_error(await http.request(method, path, headers=auth(http, "ann"), json={}),
                     403, "permission_denied", required_role="operator")


# --- webhooks on the wire --------------------------------------------------------------

SIGNED = re.compile(r"t=(\d+),v1=([0-9a-f]{64})")


def by_name(headers: dict) -> dict:
    return {name.lower(): value for name, value in headers.items()}


async def test_a_delivery_as_the_receiver_sees_it(receiver_factory, make_deliverer):
    """Headers `CreditDesk-Delivery` and `CreditDesk-Signature: t=<unix seconds>,v1=<hex
    HMAC-SHA256 of "<t>.<body>">`, each attempt signed with its own t, one delivery id."""
    receiver, outbox, clock = receiver_factory([503]), MemoryOutbox(), Clock()
    secret = "whsec_audit"
    outbox.enqueue(endpoint_id="wh_1", url=receiver.url, secret=secret, alert=alert(7),
                   account_id="acme", now=clock())
    deliverer = make_deliverer(outbox, policy=LOCAL, clock=clock, retry_seconds=30)
    await deliverer.deliver_due()
    clock.advance(30)
    assert await deliverer.deliver_due() == 1
    assert len(receiver.received) == 2
    stamps = []
    for headers, body in receiver.received:
        named = by_name(headers)
        assert named["content-type"] == "application/json"
        found = SIGNED.fullmatch(named["creditdesk-signature"])
        assert found, named["creditdesk-signature"]
        t, mac = found.groups()
        assert mac == hmac.new(secret.encode(), t.encode() + b"." + body,
                               hashlib.sha256).hexdigest()
        stamps.append(int(t))
        sent = json.loads(body)
        assert sent.pop("account_id") == "acme"
        assert Alert.model_validate_json(json.dumps(sent)) == alert(7)
    assert stamps[1] - stamps[0] == 30       # its own t: the clock of that attempt
    assert len({by_name(h)["creditdesk-delivery"] for h, _ in receiver.received}) == 1
