"""Recording usage, the caller's own use and the usage history."""

from fastapi import FastAPI, Query, Request

from ...engine import BillingSession as S
from ...errors import InvalidRequest
from ...models import MemberUsage, UsageReceipt, UsageSeries
from .. import bodies
from ..gate import (
    Gate,
    answer,
    answer_off_loop,
    body_doc,
    first_problem,
    idempotency_key,
    missing_key,
    parse_instant,
    parse_int,
    path_value,
)
from .tagged import TaggedRoutes

# Larger history answers (tens of MB) are refused: one could hold the process for seconds.
MAX_HISTORY_POINTS = 100_000


def add_routes(app: FastAPI, gate: Gate) -> None:
    routes = TaggedRoutes(app, "usage")

    @routes.get("/v1/accounts/{account_id}/my-usage", response_model=MemberUsage)
    async def my_usage(account_id: str, request: Request):
        user = await gate.user(request)
        return answer(await gate.call(user, S.my_usage, account_id=account_id))

    # The hot path: it reads its path and header itself (see gate.body_doc).
    @routes.post("/v1/accounts/{account_id}/usage", response_model=UsageReceipt,
                 openapi_extra=body_doc(bodies.UsageBody, path=("account_id",), keyed=True))
    async def record_usage(request: Request):
        account_id, key = path_value(request, "account_id"), idempotency_key(request)
        user = await gate.user(request)
        body = await gate.parse(request, bodies.UsageBody)
        problem = first_problem(body) or missing_key(key)
        if problem is not None:
            await gate.refuse_after_access(user, account_id, "record_usage", problem)
        return answer(await gate.call(user, S.record_usage, account_id=account_id,
                                      credits=body.credits, campaign=body.campaign,
                                      idempotency_key=key))

    @routes.get("/v1/accounts/{account_id}/usage-history", response_model=UsageSeries)
    async def usage_history(account_id: str, request: Request,
                            start: str | None = Query(None, description="ISO 8601 with offset"),
                            end: str | None = Query(None, description="ISO 8601 with offset"),
                            granularity: str = Query("day", description="day, week or month"),
                            group_by: str = Query("source",
                                                  description="source, member or campaign"),
                            top: str | None = Query(None, description=(
                                "member/campaign splits: keep the N biggest keys, sum the "
                                "rest under '(other)'"))):
        user = await gate.user(request)
        first, last = parse_instant(start, "start"), parse_instant(end, "end")
        most = parse_int(top, "top", None)
        problem = first_problem(first, last, most)
        if problem is not None:
            await gate.refuse_after_access(user, account_id, "view_usage_history", problem)
        series = await gate.call(user, S.usage_history, account_id=account_id, start=first,
                                 end=last, granularity=granularity, group_by=group_by,
                                 top=most)
        if len(series.points) > MAX_HISTORY_POINTS:
            raise InvalidRequest(
                f"the answer would hold {len(series.points):,} points, more than "
                f"{MAX_HISTORY_POINTS:,}: narrow it with top=N (the N biggest keys and "
                f"'(other)'), a coarser granularity or a shorter range", field="top")
        return await answer_off_loop(series)

