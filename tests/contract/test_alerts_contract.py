"""pay_invoice, alert_settings, configure_alerts and alerts on every kind of backend: the
same answers and the same refusals as the engine (the remote backend needs the server's
routes for them)."""

from __future__ import annotations

import pytest

from creditdesk.errors import (
    BillingError,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
)
from creditdesk.models import Alert, AlertSettings, Invoice


def engine_refusal(world, user, method, args, kwargs) -> BillingError:
    with pytest.raises(BillingError) as refused:
        getattr(world.session(user), method)(*args, **kwargs)
    return refused.value


REFUSALS = [
    ("dan", "alerts", ("acme",), {}, NotFound, None),
    ("dan", "alert_settings", ("acme",), {}, NotFound, None),
    ("dan", "pay_invoice", ("acme", "in_000001"), dict(idempotency_key="k"), NotFound, None),
    ("cat", "alerts", ("acme",), {}, PermissionDenied, "admin"),
    ("cat", "alert_settings", ("acme",), {}, PermissionDenied, "admin"),
    ("bob", "configure_alerts", ("acme",), dict(balance_below=[5], member_usage_percent=[]),
     PermissionDenied, "owner"),
    ("bob", "configure_alerts", ("acme",), dict(balance_below=[-5], member_usage_percent=[]),
     PermissionDenied, "owner"),
    ("bob", "pay_invoice", ("acme", "in_nope"), dict(idempotency_key="k"), PermissionDenied,
     "owner"),
    ("ann", "alerts", ("acme",), dict(limit=0), InvalidRequest, "limit"),
    ("ann", "alerts", ("acme",), dict(before=0), InvalidRequest, "before"),
    ("ann", "configure_alerts", ("acme",), dict(balance_below=[0], member_usage_percent=[]),
     InvalidRequest, "balance_below"),
    ("ann", "configure_alerts", ("acme",),
     dict(balance_below=[], member_usage_percent=[10, 20, 30, 40]), InvalidRequest,
     "member_usage_percent"),
    ("ann", "pay_invoice", ("acme", "in_nope"), dict(idempotency_key="k"), NotFound, None),
    ("ann", "pay_invoice", ("acme", "in_nope"), dict(idempotency_key=""), InvalidRequest,
     "idempotency_key"),
]


@pytest.mark.parametrize(("user", "method", "args", "kwargs", "expected", "detail"), REFUSALS,
                         ids=[f"{u}-{m}-{sorted(k.items())!r}"[:80]
                              for u, m, _, k, _, _ in REFUSALS])
async def test_refusals_match_the_engine(world, backend_for, user, method, args, kwargs,
                                         expected, detail):
    reference = engine_refusal(world, user, method, args, kwargs)
    assert type(reference) is expected
    assert detail == (reference.required_role if expected is PermissionDenied
                      else reference.field)
    mutations = world.engine.mutations
    with pytest.raises(BillingError) as refused:
        await getattr(backend_for(user), method)(*args, **kwargs)
    got = refused.value
    assert type(got) is expected
    assert (got.code, got.field, got.required_role) == (
        reference.code, reference.field, reference.required_role)
    assert world.engine.mutations == mutations


async def test_settings_round_trip(world, backend_for):
    shown = await backend_for("ann").configure_alerts(
        "acme", balance_below=[900, 300, 900], member_usage_percent=[80])
    assert isinstance(shown, AlertSettings)
    assert (shown.balance_below, shown.member_usage_percent) == ([300, 900], [80])
    assert await backend_for("bob").alert_settings("acme") == shown
    assert world.session("ann").alert_settings("acme") == shown


async def test_alerts_match_the_engine(world, backend_for):
    owner = backend_for("ann")
    await owner.configure_alerts("acme", balance_below=[900], member_usage_percent=[50])
    await owner.set_member_limit("acme", "cat", 200)
    await backend_for("cat").record_usage("acme", 150, campaign="c", idempotency_key="k1")
    alerts = await backend_for("bob").alerts("acme")
    assert all(isinstance(a, Alert) for a in alerts)
    # Newest first; one debit raised both, the balance's first.
    assert [(a.kind, a.threshold, a.user_id, a.balance_after) for a in alerts] == [
        ("member_usage", 50, "cat", 850), ("balance_below", 900, None, 850)]
    assert alerts == world.session("ann").alerts("acme")
    page = await owner.alerts("acme", limit=1)
    assert page == alerts[:1]
    assert await owner.alerts("acme", limit=1, before=page[0].id) == alerts[1:2]


async def test_pay_a_failed_purchase(world, backend_for):
    owner = backend_for("ann")
    world.payments.decline("acme", True)
    with pytest.raises(PaymentDeclined):
        await owner.purchase_credits("acme", 400, idempotency_key="buy")
    failed = (await owner.invoices("acme"))[0]
    with pytest.raises(PaymentDeclined):
        await owner.pay_invoice("acme", failed.id, idempotency_key="pay")
    world.payments.decline("acme", False)
    paid = await owner.pay_invoice("acme", failed.id, idempotency_key="pay")
    assert isinstance(paid, Invoice)
    assert (paid.id, paid.status, paid.paid_at) == (failed.id, "paid", world.now())
    assert await owner.pay_invoice("acme", failed.id, idempotency_key="pay") == paid
    assert world.session("ann").balance("acme").purchased == 400
    with pytest.raises(IdempotencyConflict):
        await owner.record_usage("acme", 5, campaign="c", idempotency_key="pay")
    with pytest.raises(InvalidRequest) as refused:
        await owner.pay_invoice("acme", failed.id, idempotency_key="pay-again")
    assert refused.value.field == "invoice_id"
