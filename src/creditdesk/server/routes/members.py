"""The members of an org and their limits."""

from fastapi import FastAPI, Query, Request

from ...engine import BillingSession as S
from ...errors import InvalidRequest
from ...models import MemberUsage
from .. import bodies
from ..gate import Gate, answer, body_doc
from .tagged import TaggedRoutes

MAX_MEMBERS_PAGE = 10_000
PAGED = {200: {"description": "one page, in order", "headers": {"X-Total-Count": {
    "description": "how many items there are in all", "schema": {"type": "integer"}}}}}


def add_routes(app: FastAPI, gate: Gate) -> None:
    routes = TaggedRoutes(app, "members")

    @routes.get("/v1/accounts/{account_id}/members", response_model=list[MemberUsage],
                responses=PAGED)
    async def members(account_id: str, request: Request,
                      offset: str | None = Query(None, description="first member, from 0"),
                      limit: str | None = Query(None, description=f"at most {MAX_MEMBERS_PAGE}")):
        return await gate.paged(await gate.user(request), account_id, "view_members", S.members,
                                offset, limit, MAX_MEMBERS_PAGE)

    @routes.put("/v1/accounts/{account_id}/members/{user_id}/limit", response_model=MemberUsage,
                openapi_extra=body_doc(bodies.LimitBody))
    async def set_member_limit(account_id: str, user_id: str, request: Request):
        user = await gate.user(request)
        body = await gate.parse(request, bodies.LimitBody)
        if isinstance(body, InvalidRequest):
            await gate.refuse_after_access(user, account_id, "set_member_limit", body,
                                           member=user_id)
        return answer(await gate.call(user, S.set_member_limit, account_id=account_id,
                                      user_id=user_id, limit=body.limit))

