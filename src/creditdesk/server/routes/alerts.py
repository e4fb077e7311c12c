"""Paying a failed invoice, the alert settings and the alerts."""

from fastapi import FastAPI, Header, Query, Request
from pydantic import BaseModel, ConfigDict

from ...engine import BillingSession as S
from ...errors import InvalidRequest
from ...models import Alert, AlertSettings, Invoice
from ..gate import (
    Gate,
    answer,
    answer_off_loop,
    body_doc,
    first_problem,
    missing_key,
    parse_int,
)
from .tagged import TaggedRoutes

# The contract's cap on one page of alerts: a larger limit is cut to it, not refused.
MAX_ALERTS_PAGE = 1_000


class AlertSettingsBody(BaseModel):
    """`PUT .../alert-settings`: strict, so `"10"` or `true` is not a threshold."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    balance_below: list[int]
    member_usage_percent: list[int]


def add_routes(app: FastAPI, gate: Gate) -> None:
    routes = TaggedRoutes(app, "alerts")

    @routes.post("/v1/accounts/{account_id}/invoices/{invoice_id}/pay",
                 response_model=Invoice)
    async def pay_invoice(account_id: str, invoice_id: str, request: Request,
                          idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
        user = await gate.user(request)
        problem = missing_key(idempotency_key)
        if problem is not None:
            await gate.refuse_after_access(user, account_id, "pay_invoice", problem)
        # The engine keeps the key with the payment: a replay answers the first Invoice.
        return answer(await gate.call(user, S.pay_invoice, account_id=account_id,
                                      invoice_id=invoice_id, idempotency_key=idempotency_key))

    @routes.get("/v1/accounts/{account_id}/alert-settings", response_model=AlertSettings)
    async def alert_settings(account_id: str, request: Request):
        return answer(await gate.call(await gate.user(request), S.alert_settings,
                                      account_id=account_id))

    @routes.put("/v1/accounts/{account_id}/alert-settings", response_model=AlertSettings,
                openapi_extra=body_doc(AlertSettingsBody))
    async def configure_alerts(account_id: str, request: Request):
        user = await gate.user(request)
        body = await gate.parse(request, AlertSettingsBody)
        if isinstance(body, InvalidRequest):
            await gate.refuse_after_access(user, account_id, "set_alerts", body)
        return answer(await gate.call(
            user, S.configure_alerts, account_id=account_id,
            balance_below=list(body.balance_below),
            member_usage_percent=list(body.member_usage_percent)))

    @routes.get("/v1/accounts/{account_id}/alerts", response_model=list[Alert])
    async def alerts(account_id: str, request: Request,
                     limit: str | None = Query(None, description=(
                         f"alerts per page, default 100; more than {MAX_ALERTS_PAGE} is cut "
                         f"to {MAX_ALERTS_PAGE}")),
                     before: str | None = Query(None, description="an alert id: older ones")):
        user = await gate.user(request)
        size, older = parse_int(limit, "limit", 100), parse_int(before, "before", None)
        problem = first_problem(size, older)
        if problem is not None:
            await gate.refuse_after_access(user, account_id, "view_alerts", problem)
        size = min(size, MAX_ALERTS_PAGE)
        return await answer_off_loop(await gate.call(user, S.alerts, account_id=account_id,
                                                     limit=size, before=older))

