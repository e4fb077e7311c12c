"""Plans and the account's subscription."""

from fastapi import FastAPI, Request

from ...engine import BillingSession as S
from ...errors import InvalidRequest
from ...models import Plan, Subscription
from .. import bodies
from ..gate import Gate, answer, body_doc
from .tagged import TaggedRoutes


def add_routes(app: FastAPI, gate: Gate) -> None:
    routes = TaggedRoutes(app, "plan")

    @routes.get("/v1/accounts/{account_id}/subscription", response_model=Subscription)
    async def subscription(account_id: str, request: Request):
        return answer(await gate.call(await gate.user(request), S.subscription,
                                      account_id=account_id))

    @routes.put("/v1/accounts/{account_id}/subscription", response_model=Subscription,
                openapi_extra=body_doc(bodies.PlanChangeBody))
    async def change_plan(account_id: str, request: Request):
        user = await gate.user(request)
        body = await gate.parse(request, bodies.PlanChangeBody)
        if isinstance(body, InvalidRequest):
            await gate.refuse_after_access(user, account_id, "change_plan", body)
        return answer(await gate.call(user, S.change_plan, account_id=account_id,
                                      plan_id=body.plan_id))

    @routes.delete("/v1/accounts/{account_id}/subscription/pending",
                   response_model=Subscription)
    async def cancel_plan_change(account_id: str, request: Request):
        return answer(await gate.call(await gate.user(request), S.cancel_plan_change,
                                      account_id=account_id))

    @routes.get("/v1/plans", response_model=list[Plan])
    async def plans(request: Request):
        return answer(await gate.call(await gate.user(request), S.plans))

