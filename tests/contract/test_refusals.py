"""Every backend refuses exactly as the engine does: same class, code, field, required role."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from creditdesk.errors import (
    BillingError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    MemberLimitReached,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
)
from creditdesk.models import MAX_CENTS, MAX_CREDITS

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
RECHARGE = dict(enabled=True, threshold=100, amount=200, monthly_cap_cents=None)

# (user, method, args, kwargs, expected class, expected field or required role)
REFUSALS = [
    ("dan", "balance", ("acme",), {}, NotFound, None),
    ("ann", "balance", ("personal:bob",), {}, NotFound, None),
    ("ann", "balance", ("no such/account",), {}, NotFound, None),
    ("dan", "my_usage", ("acme",), {}, NotFound, None),
    ("cat", "balance", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "members", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "subscription", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "auto_recharge", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "ledger", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "usage_history", ("acme",), dict(start=START, end=END), PermissionDenied,
     "admin"),
    ("bob", "invoices", ("acme",), {}, PermissionDenied, "owner"),
    ("bob", "portal_url", ("acme",), {}, PermissionDenied, "owner"),
    ("bob", "change_plan", ("acme", "pro"), {}, PermissionDenied, "owner"),
    ("bob", "cancel_plan_change", ("acme",), {}, PermissionDenied, "owner"),
    ("bob", "purchase_credits", ("acme", 200), dict(idempotency_key="k"), PermissionDenied,
     "owner"),
    ("cat", "set_member_limit", ("acme", "cat", 5), {}, PermissionDenied, "owner"),
    ("bob", "configure_auto_recharge", ("acme",), RECHARGE, PermissionDenied, "owner"),
    # The check order: not_found, then permission_denied, then invalid_request.
    ("dan", "record_usage", ("acme", "10"), dict(campaign="c", idempotency_key="k"),
     NotFound, None),
    ("cat", "purchase_credits", ("acme", "10"), dict(idempotency_key="k"), PermissionDenied,
     "owner"),
    ("bob", "set_member_limit", ("acme", "cat", -1), {}, PermissionDenied, "owner"),
    # Bad input, named by field.
    *(("ann", "record_usage", ("acme", bad), dict(campaign="c", idempotency_key="k"),
       InvalidRequest, "credits") for bad in ["10", 10.0, True, None, 0, -5, MAX_CREDITS + 1]),
    ("ann", "record_usage", ("acme", 5), dict(campaign="", idempotency_key="k"),
     InvalidRequest, "campaign"),
    ("ann", "record_usage", ("acme", 5), dict(campaign="c", idempotency_key=""),
     InvalidRequest, "idempotency_key"),
    *(("ann", "purchase_credits", ("acme", bad), dict(idempotency_key="k"), InvalidRequest,
       "credits") for bad in ["200", 200.0, True, None, 0, -200, 100, 201,
                              MAX_CREDITS + 200]),
    ("ann", "set_member_limit", ("acme", "cat", -5), {}, InvalidRequest, "limit"),
    ("ann", "set_member_limit", ("acme", "cat", "5"), {}, InvalidRequest, "limit"),
    ("ann", "set_member_limit", ("acme", "dan", 5), {}, NotFound, None),
    ("ann", "change_plan", ("acme", "nope"), {}, InvalidRequest, "plan_id"),
    ("ann", "configure_auto_recharge", ("acme",), {**RECHARGE, "enabled": "yes"},
     InvalidRequest, "enabled"),
    ("ann", "configure_auto_recharge", ("acme",), {**RECHARGE, "threshold": -1},
     InvalidRequest, "threshold"),
    ("ann", "configure_auto_recharge", ("acme",), {**RECHARGE, "threshold": "100"},
     InvalidRequest, "threshold"),
    ("ann", "configure_auto_recharge", ("acme",), {**RECHARGE, "amount": 100},
     InvalidRequest, "amount"),
    ("ann", "configure_auto_recharge", ("acme",), {**RECHARGE, "amount": MAX_CREDITS + 200},
     InvalidRequest, "amount"),
    ("ann", "configure_auto_recharge", ("acme",), {**RECHARGE, "monthly_cap_cents": 0},
     InvalidRequest, "monthly_cap_cents"),
    ("ann", "configure_auto_recharge", ("acme",),
     {**RECHARGE, "monthly_cap_cents": MAX_CENTS + 1}, InvalidRequest, "monthly_cap_cents"),
    ("ann", "ledger", ("acme",), dict(limit=0), InvalidRequest, "limit"),
    ("ann", "ledger", ("acme",), dict(limit=True), InvalidRequest, "limit"),
    ("ann", "ledger", ("acme",), dict(before=0), InvalidRequest, "before"),
    ("ann", "usage_history", ("acme",), dict(start=datetime(2026, 1, 1), end=END),
     InvalidRequest, "start"),
    ("ann", "usage_history", ("acme",), dict(start=START, end=datetime(2026, 2, 1)),
     InvalidRequest, "end"),
    ("ann", "usage_history", ("acme",), dict(start=START, end=END, granularity="year"),
     InvalidRequest, "granularity"),
    ("ann", "usage_history", ("acme",), dict(start=START, end=END, group_by="bucket"),
     InvalidRequest, "group_by"),
    ("ann", "record_usage", ("acme", 5_000), dict(campaign="c", idempotency_key="k"),
     InsufficientCredits, None),
]


def engine_refusal(world, user, method, args, kwargs) -> BillingError:
    with pytest.raises(BillingError) as refused:
        getattr(world.session(user), method)(*args, **kwargs)
    return refused.value


def same_refusal(got: BillingError, reference: BillingError) -> None:
    assert type(got) is type(reference)
    assert (got.code, got.field, got.required_role) == (
        reference.code, reference.field, reference.required_role)
    assert got.message


@pytest.mark.parametrize(("user", "method", "args", "kwargs", "expected", "detail"), REFUSALS,
                         ids=[f"{u}-{m}-{a[1:]!r}-{sorted(k.items())!r}"[:90]
                              for u, m, a, k, _, _ in REFUSALS])
async def test_refusals_match_the_engine(world, backend_for, user, method, args, kwargs,
                                         expected, detail):
    reference = engine_refusal(world, user, method, args, kwargs)
    assert type(reference) is expected
    if expected is PermissionDenied:
        assert reference.required_role == detail
    elif expected is InvalidRequest:
        assert reference.field == detail
    mutations = world.engine.mutations
    entries = {a: world.engine.ledger_entries(a) for a in world.engine.account_ids()}
    backend = backend_for(user)
    with pytest.raises(BillingError) as refused:
        await getattr(backend, method)(*args, **kwargs)
    same_refusal(refused.value, reference)
    assert {a: world.engine.ledger_entries(a) for a in world.engine.account_ids()} == entries
    if expected is not InsufficientCredits:     # that one pauses autopilot, as it must
        assert world.engine.mutations == mutations


async def test_idempotency_conflict(world, backend_for):
    backend = backend_for("cat")
    await backend.record_usage("acme", 10, campaign="c", idempotency_key="dup")
    reference = engine_refusal(world, "cat", "record_usage", ("acme", 11),
                               dict(campaign="c", idempotency_key="dup"))
    assert isinstance(reference, IdempotencyConflict)
    with pytest.raises(IdempotencyConflict) as refused:
        await backend.record_usage("acme", 11, campaign="c", idempotency_key="dup")
    same_refusal(refused.value, reference)


async def test_member_limit_reached(world, backend_for):
    await backend_for("ann").set_member_limit("acme", "cat", 10)
    backend = backend_for("cat")
    with pytest.raises(MemberLimitReached) as refused:
        await backend.record_usage("acme", 11, campaign="c", idempotency_key="k")
    same_refusal(refused.value, engine_refusal(world, "cat", "record_usage", ("acme", 11),
                                               dict(campaign="c", idempotency_key="k")))


async def test_payment_declined(world, backend_for):
    world.payments.decline("acme", True)
    backend = backend_for("ann")
    with pytest.raises(PaymentDeclined) as refused:
        await backend.purchase_credits("acme", 400, idempotency_key="k")
    assert refused.value.code == "payment_declined"
    assert world.session("ann").balance("acme").purchased == 0
    failed = (await backend.invoices("acme"))[0]
    assert (failed.kind, failed.status, failed.credits) == ("purchase", "failed", 400)
