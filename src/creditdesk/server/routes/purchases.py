"""Credit packs, purchases, auto-recharge, invoices and the payment portal."""

from fastapi import FastAPI, Query, Request

from ...engine import BillingSession as S
from ...errors import InvalidRequest
from ...models import AutoRecharge, CreditPack, Invoice
from .. import bodies
from ..gate import (
    Gate,
    answer,
    body_doc,
    first_problem,
    idempotency_key,
    missing_key,
    path_value,
)
from .members import PAGED
from .tagged import TaggedRoutes

MAX_INVOICES_PAGE = 1_000


def add_routes(app: FastAPI, gate: Gate) -> None:
    routes = TaggedRoutes(app, "purchases")

    @routes.get("/v1/credit-packs", response_model=list[CreditPack])
    async def credit_packs(request: Request):
        return answer(await gate.call(await gate.user(request), S.credit_packs))

    @routes.post("/v1/accounts/{account_id}/purchases", response_model=Invoice,
                 openapi_extra=body_doc(bodies.PurchaseBody, path=("account_id",),
                                        keyed=True))
    async def purchase_credits(request: Request):
        account_id, key = path_value(request, "account_id"), idempotency_key(request)
        user = await gate.user(request)
        body = await gate.parse(request, bodies.PurchaseBody)
        problem = first_problem(body) or missing_key(key)
        if problem is not None:
            await gate.refuse_after_access(user, account_id, "purchase_credits", problem)
        return answer(await gate.call(user, S.purchase_credits, account_id=account_id,
                                      credits=body.credits, idempotency_key=key))

    @routes.get("/v1/accounts/{account_id}/auto-recharge", response_model=AutoRecharge)
    async def auto_recharge(account_id: str, request: Request):
        return answer(await gate.call(await gate.user(request), S.auto_recharge,
                                      account_id=account_id))

    @routes.put("/v1/accounts/{account_id}/auto-recharge", response_model=AutoRecharge,
                openapi_extra=body_doc(bodies.AutoRechargeBody))
    async def configure_auto_recharge(account_id: str, request: Request):
        user = await gate.user(request)
        body = await gate.parse(request, bodies.AutoRechargeBody)
        if isinstance(body, InvalidRequest):
            await gate.refuse_after_access(user, account_id, "manage_auto_recharge", body)
        return answer(await gate.call(
            user, S.configure_auto_recharge, account_id=account_id, enabled=body.enabled,
            threshold=body.threshold, amount=body.amount,
            monthly_cap_cents=body.monthly_cap_cents))

    @routes.get("/v1/accounts/{account_id}/invoices", response_model=list[Invoice],
                responses=PAGED)
    async def invoices(account_id: str, request: Request,
                       offset: str | None = Query(None, description="first invoice, from 0"),
                       limit: str | None = Query(None,
                                                 description=f"at most {MAX_INVOICES_PAGE}")):
        user = await gate.user(request)
        return await gate.paged(user, account_id, "view_invoices", S.invoices,
                                offset, limit, MAX_INVOICES_PAGE)

    @routes.get("/v1/accounts/{account_id}/portal-url", response_model=bodies.PortalUrl)
    async def portal_url(account_id: str, request: Request):
        url = await gate.call(await gate.user(request), S.portal_url, account_id=account_id)
        return answer({"url": url})

