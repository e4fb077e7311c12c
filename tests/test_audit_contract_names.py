"""Audit (session 6) of design/contract.md's names, as written there: the acceptance tests call
these, so a parameter renamed, made positional or given another default breaks them even when
every behaviour test still passes (those call with the names the code has today)."""

from __future__ import annotations

import inspect

import pytest

from creditdesk import errors
from creditdesk.backends import BACKEND_METHODS, BillingBackend, MemoryBackend, RemoteBackend
from creditdesk.engine import BillingEngine, BillingSession, TestPaymentGateway
from creditdesk.models import (
    Alert,
    AlertSettings,
    AutoRecharge,
    Balance,
    Context,
    CreditPack,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Plan,
    Subscription,
    UsagePoint,
    UsageReceipt,
    UsageSeries,
)

# The contract's table, method by method: (positional parameters after self, keyword-only
# parameters with the default the contract gives, or REQUIRED).
REQUIRED = inspect.Parameter.empty
SIGNATURES = {
    "whoami": ((), {}),
    "balance": (("account_id",), {}),
    "my_usage": (("account_id",), {}),
    "record_usage": (("account_id", "credits"),
                     {"campaign": REQUIRED, "idempotency_key": REQUIRED}),
    "usage_history": (("account_id",), {"start": REQUIRED, "end": REQUIRED,
                                        "granularity": "day", "group_by": "source",
                                        "top": None}),
    "members": (("account_id",), {}),
    "set_member_limit": (("account_id", "user_id", "limit"), {}),
    "subscription": (("account_id",), {}),
    "plans": ((), {}),
    "change_plan": (("account_id", "plan_id"), {}),
    "cancel_plan_change": (("account_id",), {}),
    "credit_packs": ((), {}),
    "purchase_credits": (("account_id", "credits"), {"idempotency_key": REQUIRED}),
    "auto_recharge": (("account_id",), {}),
    "configure_auto_recharge": (("account_id",), {"enabled": REQUIRED, "threshold": REQUIRED,
                                                  "amount": REQUIRED,
                                                  "monthly_cap_cents": None}),
    "invoices": (("account_id",), {}),
    "ledger": (("account_id",), {"limit": 100, "before": None, "kind": None, "user_id": None,
                                 "campaign": None, "invoice_id": None}),
    "portal_url": (("account_id",), {}),
    "pay_invoice": (("account_id", "invoice_id"), {"idempotency_key": REQUIRED}),
    "alert_settings": (("account_id",), {}),
    "configure_alerts": (("account_id",), {"balance_below": REQUIRED,
                                           "member_usage_percent": REQUIRED}),
    "alerts": (("account_id",), {"limit": 100, "before": None}),
}


def test_the_table_is_the_protocols_method_list():
    assert set(SIGNATURES) == set(BACKEND_METHODS)


@pytest.mark.parametrize("holder", [BillingBackend, BillingSession, MemoryBackend,
                                    RemoteBackend], ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", sorted(SIGNATURES))
def test_each_method_takes_the_contracts_parameters(holder, method):
    positional, keywords = SIGNATURES[method]
    parameters = list(inspect.signature(getattr(holder, method)).parameters.values())[1:]
    named = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert named == list(positional)
    assert all(p.default is REQUIRED for p in parameters if p.name in positional)
    # A holder may take more keywords (BillingSession pages members and invoices), each with
    # a default, so the contract's calls still work.
    given = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
    assert {name: given.get(name, "missing") for name in keywords} == keywords
    assert all(given[name] is not REQUIRED for name in set(given) - set(keywords))
    if holder is not BillingSession:
        assert inspect.iscoroutinefunction(getattr(holder, method))


def test_the_engine_calls_as_the_contract_writes_them_bind():
    """Each operator call exactly as contract.md writes it (bind checks names and kinds)."""
    calls = [
        (BillingEngine, (), dict(clock=None, payments=None)),
        (BillingEngine, (), {}),
        (BillingEngine.add_plan, ("engine", "plan"), {}),
        (BillingEngine.add_user, ("engine", "ann"),
         dict(name="Ann Lee", email="ann@example.com", plan="team")),
        (BillingEngine.create_org, ("engine", "acme"),
         dict(name="Acme Robotics", owner="ann", plan="team")),
        (BillingEngine.add_member, ("engine", "acme", "bob"), dict(role="admin")),
        (BillingEngine.session, ("engine", "bob"), {}),
        (TestPaymentGateway.decline, ("gateway", "acme", True), {}),
        (MemoryBackend, ("engine", "bob"), {}),
        (RemoteBackend, ("http://127.0.0.1:8000", "token"), {}),
    ]
    for call, args, kwargs in calls:
        inspect.signature(call).bind(*args, **kwargs)
    assert inspect.signature(BillingEngine).parameters["clock"].default is None
    assert inspect.signature(BillingEngine).parameters["payments"].default is None
    assert {"aclose", "__aenter__", "__aexit__"} <= set(dir(RemoteBackend))


# Every field the contract names, per model (a model may have more).
FIELDS = {
    Identity: "user_id name contexts", Context: "account_id kind name role",
    Balance: "base rollover purchased total used_this_period period_start period_end autopilot",
    MemberUsage: "user_id name role used_this_period limit",
    UsageReceipt: "from_base from_rollover from_purchased recharged member_used_this_period "
                  "balance",
    UsageSeries: "points", UsagePoint: "start key credits",
    Subscription: "plan pending_plan pending_from period_start period_end renews_at status",
    CreditPack: "id credits price_cents",
    AutoRecharge: "enabled threshold amount monthly_cap_cents spent_this_period_cents "
                  "last_failure",
    Invoice: "id number created_at kind credits amount_cents status description paid_at",
    LedgerEntry: "id at kind actor base rollover purchased balance_after ref",
    AlertSettings: "balance_below member_usage_percent",
    Alert: "id at kind user_id threshold balance_after message",
    Plan: "id name base_credits_per_month rollover_cap billing_period price_cents",
}


@pytest.mark.parametrize("model", list(FIELDS), ids=lambda m: m.__name__)
def test_each_model_has_the_contracts_fields_and_is_frozen(model):
    assert set(FIELDS[model].split()) <= set(model.model_fields)
    assert model.model_config.get("frozen") is True
    # "every money field an `int` of cents named `*_cents`"
    for name, field in model.model_fields.items():
        if "cents" in name or "price" in name:
            assert name.endswith("_cents") and int in (field.annotation, *getattr(
                field.annotation, "__args__", ())), name


# "The HTTP API answers 403, 404, 422, 402, 402, 409, 402 and 401 for the first eight", then
# 409, 503, 413 and 429 for the codes only HTTP has.
CODES = [
    ("PermissionDenied", "permission_denied", 403), ("NotFound", "not_found", 404),
    ("InvalidRequest", "invalid_request", 422),
    ("InsufficientCredits", "insufficient_credits", 402),
    ("MemberLimitReached", "member_limit_reached", 402),
    ("IdempotencyConflict", "idempotency_conflict", 409),
    ("PaymentDeclined", "payment_declined", 402), ("Unauthenticated", "unauthenticated", 401),
    (None, "already_exists", 409), (None, "unavailable", 503),
    (None, "payload_too_large", 413), (None, "rate_limited", 429),
]


@pytest.mark.parametrize(("name", "code", "status"), CODES)
def test_each_error_has_its_code_status_and_fields(name, code, status):
    cls = getattr(errors, name) if name else errors.ERROR_CLASSES[code]
    assert issubclass(cls, errors.BillingError)
    refusal = cls("words", required_role="owner", field="credits")
    assert (refusal.code, refusal.http_status, refusal.message) == (code, status, "words")
    assert (refusal.required_role, refusal.field) == ("owner", "credits")
    rebuilt = errors.error_from_dict(refusal.to_dict())
    assert type(rebuilt) is cls and rebuilt.to_dict() == refusal.to_dict()


@pytest.mark.parametrize(("body", "code"), [
    ({"code": "method_not_allowed", "message": "PATCH is not allowed"}, "method_not_allowed"),
    ({"code": "some_newer_code", "message": "m", "field": "x"}, "some_newer_code"),
    ({"message": "no code at all"}, "billing_error"),
    ({"code": 5, "message": "not a code"}, "billing_error"),
])
def test_a_code_the_client_has_no_class_for_is_kept(body, code):
    """"BillingError carries `code` (a stable snake_case string)": clients dispatch on it, so
    a refusal rebuilt from an answer keeps the server's code even without a class for it."""
    rebuilt = errors.error_from_dict(body)
    assert type(rebuilt) is errors.BillingError
    assert (rebuilt.code, rebuilt.message) == (code, body["message"])
    assert rebuilt.to_dict()["code"] == code
    assert errors.BillingError.code == "billing_error"      # the class is left as it was
