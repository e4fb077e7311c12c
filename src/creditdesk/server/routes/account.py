"""Who am I, the balance and the ledger."""

from fastapi import FastAPI, Query, Request

from ...engine import BillingSession as S
from ...models import Balance, Identity, LedgerEntry
from ..gate import Gate, answer, answer_off_loop, first_problem, parse_int
from .tagged import TaggedRoutes


def add_routes(app: FastAPI, gate: Gate) -> None:
    routes = TaggedRoutes(app, "account")

    @routes.get("/v1/me", response_model=Identity)
    async def whoami(request: Request):
        return answer(await gate.call(await gate.user(request), S.whoami))

    @routes.get("/v1/accounts/{account_id}/balance", response_model=Balance)
    async def balance(account_id: str, request: Request):
        user = await gate.user(request)
        return answer(await gate.call(user, S.balance, account_id=account_id))

    @routes.get("/v1/accounts/{account_id}/ledger", response_model=list[LedgerEntry])
    async def ledger(account_id: str, request: Request,
                     limit: str | None = Query(None, description=(
                         "entries per page, default 100; more than 1000 is cut to 1000")),
                     before: str | None = Query(None, description="an entry id"),
                     kind: str | None = Query(None, description="only entries of this kind"),
                     user_id: str | None = Query(None, description="only this member's"),
                     campaign: str | None = Query(None, description="only this campaign's"),
                     invoice_id: str | None = Query(
                         None, description="only entries referring to this invoice")):
        user = await gate.user(request)
        size, first = parse_int(limit, "limit", 100), parse_int(before, "before", None)
        problem = first_problem(size, first)
        if problem is not None:
            await gate.refuse_after_access(user, account_id, "view_ledger", problem)
        return await answer_off_loop(await gate.call(user, S.ledger, account_id=account_id,
                                                     limit=size, before=first, kind=kind,
                                                     user_id=user_id, campaign=campaign,
                                                     invoice_id=invoice_id))

