"""The FastAPI app: the user paths of the contract's HTTP API, over a BillingService
(operator paths are in operator_routes.py, the checks every route shares in gate.py).

Routes declare no body or typed parameter that FastAPI would validate on its own, because
FastAPI validates before the route runs, and the contract's order is 401, 404, 403, then
422. Each route authenticates, parses its body strictly (bodies.py), and when the body or a
parameter is unusable first checks that the caller may act on the account at all, so an
outsider gets 404 and a plain member 403 whatever they sent. Answers are serialised
straight from the engine's frozen models; `response_model` is there for /openapi.json.
"""

from datetime import datetime

from fastapi import FastAPI, Header, Query, Request

from ..engine import BillingEngine, ManualClock
from ..errors import InvalidRequest
from ..models import (AutoRecharge, Balance, CreditPack, Identity, Invoice, LedgerEntry,
                      MemberUsage, Plan, Subscription, UsageReceipt, UsageSeries)
from . import bodies, refusals
from .gate import Gate, answer, body_doc, first_problem, missing_key, parse_instant, parse_int
from .operator_routes import add_operator_routes
from .service import BillingService
from .store import Store
from .tokens import TokenStore

ERROR_RESPONSES = {
    status: {"model": bodies.ErrorBody, "description": words} for status, words in (
        (401, "no valid token (`unauthenticated`)"),
        (402, "`insufficient_credits`, `member_limit_reached` or `payment_declined`"),
        (403, "the role is too low (`permission_denied`, see `required_role`)"),
        (404, "no such account for this caller, or no such path (`not_found`)"),
        (409, "`idempotency_conflict`, or `already_exists` for operator set-up"),
        (422, "the request is invalid (`invalid_request`, see `field`)"),
        (503, "the server cannot save changes (`unavailable`)"))}
PAGED = {200: {"description": "one page, in order", "headers": {"X-Total-Count": {
    "description": "how many items there are in all", "schema": {"type": "integer"}}}}}
MAX_MEMBERS_PAGE = 10_000
MAX_INVOICES_PAGE = 1_000


def create_app(engine: BillingEngine | None = None, store: Store | None = None, *,
               operator_token: str | None = None,
               test_clock: ManualClock | datetime | bool | None = None,
               limits: dict | None = None, service: BillingService | None = None):
    """The ASGI app.

    - `engine`: serve this engine as it is (tests build it and move its clock); without
      one the app makes its own and drives its clock, replaying `store` into it first.
    - `store`: the durable journal; without one, nothing survives the process.
    - `test_clock`: enables PUT /v1/admin/clock (a datetime or True: the start; with a
      given engine, True or its ManualClock).
    - `limits`: keyword arguments for `server.limits.guard` (body size, rate); None reads
      them from the environment, `{}` gives the guard's defaults.
    """
    if engine is not None and store is not None:
        # The journal must hold every change from the first; a given engine was built
        # outside it, so a restart could not rebuild it.
        raise ValueError("give create_app an engine (served as is) or a store (replayed "
                         "into the server's own engine), not both")
    if service is None:
        service = BillingService(engine, store, test_clock=test_clock)
        if store is not None and engine is None:
            service.replay(store.journal())
    tokens = TokenStore(service.store, operator_token)

    app = FastAPI(title="CreditDesk API", version="1",
                  description="Credit-based organization billing. Every path but this "
                              "document needs `Authorization: Bearer <token>`.",
                  docs_url=None, redoc_url=None, responses=ERROR_RESPONSES)
    app.state.service = service
    app.state.tokens = tokens
    refusals.install(app)
    _document_security(app)

    gate = Gate(service, tokens)
    user_of, parse = gate.user, gate.parse
    refuse_after_access, paged = gate.refuse_after_access, gate.paged

    # --- identity and reads -----------------------------------------------------------

    @app.get("/v1/me", response_model=Identity, tags=["account"])
    async def whoami(request: Request):
        return answer(await service.run(user_of(request), "whoami"))

    @app.get("/v1/accounts/{account_id}/balance", response_model=Balance, tags=["account"])
    async def balance(account_id: str, request: Request):
        return answer(await service.run(user_of(request), "balance", account_id=account_id))

    @app.get("/v1/accounts/{account_id}/my-usage", response_model=MemberUsage,
             tags=["usage"])
    async def my_usage(account_id: str, request: Request):
        return answer(await service.run(user_of(request), "my_usage", account_id=account_id))

    @app.post("/v1/accounts/{account_id}/usage", response_model=UsageReceipt, tags=["usage"],
              openapi_extra=body_doc(bodies.UsageBody))
    async def record_usage(account_id: str, request: Request,
                           idempotency_key: str | None = Header(None, alias="Idempotency-Key")):
        user = user_of(request)
        body = await parse(request, bodies.UsageBody)
        problem = first_problem(body) or missing_key(idempotency_key)
        if problem is not None:
            await refuse_after_access(user, account_id, "record_usage", problem)
        return answer(await service.run(user, "record_usage", account_id=account_id,
                                        credits=body.credits, campaign=body.campaign,
                                        idempotency_key=idempotency_key))

    @app.get("/v1/accounts/{account_id}/usage-history", response_model=UsageSeries,
             tags=["usage"])
    async def usage_history(account_id: str, request: Request,
                            start: str | None = Query(None, description="ISO 8601 with offset"),
                            end: str | None = Query(None, description="ISO 8601 with offset"),
                            granularity: str = Query("day", description="day, week or month"),
                            group_by: str = Query("source",
                                                  description="source, member or campaign"),
                            top: str | None = Query(None, description=(
                                "member/campaign splits: keep the N biggest keys, sum the "
                                "rest under '(other)'"))):
        user = user_of(request)
        first, last = parse_instant(start, "start"), parse_instant(end, "end")
        most = parse_int(top, "top", None)
        problem = first_problem(first, last, most)
        if problem is not None:
            await refuse_after_access(user, account_id, "view_usage_history", problem)
        return answer(await service.run(user, "usage_history", account_id=account_id,
                                        start=first, end=last, granularity=granularity,
                                        group_by=group_by, top=most))

    @app.get("/v1/accounts/{account_id}/members", response_model=list[MemberUsage],
             tags=["members"], responses=PAGED)
    async def members(account_id: str, request: Request,
                      offset: str | None = Query(None, description="first member, from 0"),
                      limit: str | None = Query(None, description=f"at most {MAX_MEMBERS_PAGE}")):
        return await paged(user_of(request), account_id, "view_members", "members", offset,
                           limit, MAX_MEMBERS_PAGE)

    @app.put("/v1/accounts/{account_id}/members/{user_id}/limit", response_model=MemberUsage,
             tags=["members"], openapi_extra=body_doc(bodies.LimitBody))
    async def set_member_limit(account_id: str, user_id: str, request: Request):
        user = user_of(request)
        body = await parse(request, bodies.LimitBody)
        if isinstance(body, InvalidRequest):
            await refuse_after_access(user, account_id, "set_member_limit", body,
                                      member=user_id)
        return answer(await service.run(user, "set_member_limit", account_id=account_id,
                                        user_id=user_id, limit=body.limit))

    @app.get("/v1/accounts/{account_id}/subscription", response_model=Subscription,
             tags=["plan"])
    async def subscription(account_id: str, request: Request):
        return answer(await service.run(user_of(request), "subscription",
                                        account_id=account_id))

    @app.put("/v1/accounts/{account_id}/subscription", response_model=Subscription,
             tags=["plan"], openapi_extra=body_doc(bodies.PlanChangeBody))
    async def change_plan(account_id: str, request: Request):
        user = user_of(request)
        body = await parse(request, bodies.PlanChangeBody)
        if isinstance(body, InvalidRequest):
            await refuse_after_access(user, account_id, "change_plan", body)
        return answer(await service.run(user, "change_plan", account_id=account_id,
                                        plan_id=body.plan_id))

    @app.delete("/v1/accounts/{account_id}/subscription/pending", response_model=Subscription,
                tags=["plan"])
    async def cancel_plan_change(account_id: str, request: Request):
        return answer(await service.run(user_of(request), "cancel_plan_change",
                                        account_id=account_id))

    @app.get("/v1/plans", response_model=list[Plan], tags=["plan"])
    async def plans(request: Request):
        return answer(await service.run(user_of(request), "plans"))

    @app.get("/v1/credit-packs", response_model=list[CreditPack], tags=["purchases"])
    async def credit_packs(request: Request):
        return answer(await service.run(user_of(request), "credit_packs"))

    @app.post("/v1/accounts/{account_id}/purchases", response_model=Invoice,
              tags=["purchases"], openapi_extra=body_doc(bodies.PurchaseBody))
    async def purchase_credits(account_id: str, request: Request,
                               idempotency_key: str | None = Header(None,
                                                                    alias="Idempotency-Key")):
        user = user_of(request)
        body = await parse(request, bodies.PurchaseBody)
        problem = first_problem(body) or missing_key(idempotency_key)
        if problem is not None:
            await refuse_after_access(user, account_id, "purchase_credits", problem)
        return answer(await service.run(user, "purchase_credits", account_id=account_id,
                                        credits=body.credits, idempotency_key=idempotency_key))

    @app.get("/v1/accounts/{account_id}/auto-recharge", response_model=AutoRecharge,
             tags=["purchases"])
    async def auto_recharge(account_id: str, request: Request):
        return answer(await service.run(user_of(request), "auto_recharge",
                                        account_id=account_id))

    @app.put("/v1/accounts/{account_id}/auto-recharge", response_model=AutoRecharge,
             tags=["purchases"], openapi_extra=body_doc(bodies.AutoRechargeBody))
    async def configure_auto_recharge(account_id: str, request: Request):
        user = user_of(request)
        body = await parse(request, bodies.AutoRechargeBody)
        if isinstance(body, InvalidRequest):
            await refuse_after_access(user, account_id, "manage_auto_recharge", body)
        return answer(await service.run(
            user, "configure_auto_recharge", account_id=account_id, enabled=body.enabled,
            threshold=body.threshold, amount=body.amount,
            monthly_cap_cents=body.monthly_cap_cents))

    @app.get("/v1/accounts/{account_id}/invoices", response_model=list[Invoice],
             tags=["purchases"], responses=PAGED)
    async def invoices(account_id: str, request: Request,
                       offset: str | None = Query(None, description="first invoice, from 0"),
                       limit: str | None = Query(None,
                                                 description=f"at most {MAX_INVOICES_PAGE}")):
        return await paged(user_of(request), account_id, "view_invoices", "invoices", offset,
                           limit, MAX_INVOICES_PAGE)

    @app.get("/v1/accounts/{account_id}/ledger", response_model=list[LedgerEntry],
             tags=["account"])
    async def ledger(account_id: str, request: Request,
                     limit: str | None = Query(None, description="1 to 1000, default 100"),
                     before: str | None = Query(None, description="an entry id")):
        user = user_of(request)
        size, first = parse_int(limit, "limit", 100), parse_int(before, "before", None)
        problem = first_problem(size, first)
        if problem is not None:
            await refuse_after_access(user, account_id, "view_ledger", problem)
        return answer(await service.run(user, "ledger", account_id=account_id, limit=size,
                                        before=first))

    @app.get("/v1/accounts/{account_id}/portal-url", response_model=bodies.PortalUrl,
             tags=["purchases"])
    async def portal_url(account_id: str, request: Request):
        url = await service.run(user_of(request), "portal_url", account_id=account_id)
        return answer({"url": url})

    add_operator_routes(app, gate)
    app.state.issue_token = gate.issue_token
    return _guarded(app, limits)


def _guarded(app, limits: dict | None):
    """Wrap the app in the body-size and rate guards (server/limits.py), keeping `.state`."""
    try:
        from .limits import guard, limits_from_env
    except ImportError:        # the guards module is written separately; serve without it
        return app
    import os
    settings = limits_from_env(os.environ) if limits is None else limits
    guarded = guard(app, **settings)
    guarded.state = app.state
    guarded.fastapi = app
    return guarded


def _document_security(app) -> None:
    """Declare the bearer token (without a per-request dependency) and the guards' answers
    in /openapi.json."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            from .limits import document_limits
            document_limits(schema)     # the guards' 413 and 429 answers
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
