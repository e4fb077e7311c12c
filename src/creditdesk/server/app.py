"""The FastAPI app: the contract's HTTP API over a BillingService, with its guards and its
OpenAPI document. The user paths are in routes/ (a router per resource), the operator paths
in operator_routes.py, the checks every route shares in gate.py, the guards in limits.py.
"""

import os
from datetime import datetime

from fastapi import FastAPI

from ..engine import BillingEngine, ManualClock
from . import bodies, refusals
from .gate import BODY_MODELS, Gate
from .limits import document_limits, guard, limits_from_env
from .operator_routes import add_operator_routes
from .routes import add_user_routes
from .routes import webhooks as webhook_routes
from .service import BillingService
from .tokens import TokenStore, bearer_token
from .webhook_service import ServerWebhooks, WebhookSettings

ERROR_RESPONSES = {
    status: {"model": bodies.ErrorBody, "description": words} for status, words in (
        (401, "no valid token (`unauthenticated`)"),
        (402, "`insufficient_credits`, `member_limit_reached` or `payment_declined`"),
        (403, "the role is too low (`permission_denied`, see `required_role`)"),
        (404, "no such account for this caller, or no such path (`not_found`)"),
        (409, "`idempotency_conflict`, or `already_exists` for operator set-up"),
        (422, "the request is invalid (`invalid_request`, see `field`)"),
        (503, "the server cannot save changes (`unavailable`)"))}


def create_app(engine: BillingEngine | None = None, *,
               operator_token: str | None = None,
               test_clock: ManualClock | datetime | bool | None = None,
               limits: dict | None = None, service: BillingService | None = None,
               shared_tokens=None, webhooks: WebhookSettings | None = None):
    """The ASGI app.

    - `engine`: serve this engine (tests build it and move its clock); without one the app
      makes an in-memory one, on the test clock if there is one, else the real time.
    - `test_clock`: enables PUT /v1/admin/clock (a datetime: the start; True: now, or with
      a given engine on a ManualClock, that clock; a ManualClock: that clock).
    - `limits`: keyword arguments for `server.limits.guard` (body size, rate); None reads
      them from the environment, `{}` gives the guard's defaults.
    - `service`: a ready service (the SQL server's workers), instead of `engine`.
    - `shared_tokens`: where API token hashes live (the SQL store, for every worker).
    - `webhooks`: the URL policy and retry delays (`serve`'s flags); the deliverer runs in
      the app's lifespan when the engine is on the SQL store (else the paths answer 503).
    """
    if service is None:
        engine, clock = _engine_and_clock(engine, test_clock)
        service = BillingService(engine, test_clock=clock)
    tokens = TokenStore(shared_tokens, operator_token)
    hooks = ServerWebhooks(service.engine.store, webhooks)

    app = FastAPI(title="CreditDesk API", version="1",
                  description="Credit-based organization billing. Every path but this "
                              "document needs `Authorization: Bearer <token>`.",
                  docs_url=None, redoc_url=None, responses=ERROR_RESPONSES,
                  # A trailing slash names no path (404 in the contract's shape), rather
                  # than a 307 whose Location is built from the client's Host header.
                  redirect_slashes=False,
                  # operationIds are the contract's method names (the route functions').
                  generate_unique_id_function=lambda route: route.name,
                  lifespan=lambda _app: hooks.running())
    app.state.service = service
    app.state.webhooks = hooks
    app.state.tokens = tokens
    refusals.install(app)
    _document_security(app)

    gate = Gate(service, tokens)
    add_user_routes(app, gate)
    app.include_router(webhook_routes.router(gate, hooks))
    add_operator_routes(app, gate)
    app.state.issue_token = gate.issue_token
    return _guarded(app, limits, tokens)


def _engine_and_clock(engine: BillingEngine | None, test_clock) -> tuple:
    """The engine to serve and its test clock (None: PUT /v1/admin/clock is absent)."""
    from datetime import UTC
    clock = test_clock if isinstance(test_clock, ManualClock) else None
    if engine is None:
        if isinstance(test_clock, datetime):
            clock = ManualClock(test_clock)
        elif test_clock is True:
            clock = ManualClock(datetime.now(UTC))
        return BillingEngine(clock=clock), clock
    if test_clock is True and isinstance(engine.clock, ManualClock):
        clock = engine.clock
    return engine, clock


def _guarded(app, limits: dict | None, tokens: TokenStore):
    """Wrap the app in the path, body-size and rate guards (server/limits.py), keeping
    `.state`; the rate limit knows callers by the user their token authenticates."""
    settings = limits_from_env(os.environ) if limits is None else limits
    guarded = guard(app, **settings,
                    identify=lambda header: tokens.identify(bearer_token(header)),
                    identify_cached=lambda header: tokens.cached(bearer_token(header)))
    guarded.state = app.state
    guarded.fastapi = app
    return guarded


# Query parameters the routes read as text (to refuse `１` or `+5` in the contract's shape)
# but that are whole numbers: documented as such, so a generated client takes ints.
INTEGER_PARAMETERS = {"offset", "limit", "before", "top"}
# Headers without which the routes answer 422 (`idempotency_key`).
REQUIRED_HEADERS = {"Idempotency-Key"}


def _document_security(app) -> None:
    """Declare the bearer token (without a per-request dependency), the named request
    bodies, the guards' answers and the parameters as the routes really read them in
    /openapi.json."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            _add_body_schemas(components.setdefault("schemas", {}))
            for item in schema["paths"].values():
                for operation in item.values():
                    _document_parameters(operation.get("parameters", ()))
            document_limits(schema)     # the guards' 413 and 429 answers
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _add_body_schemas(schemas: dict) -> None:
    for name, model in BODY_MODELS.items():
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for inner, definition in body.pop("$defs", {}).items():
            schemas.setdefault(inner, definition)
        schemas.setdefault(name, body)


def _document_parameters(parameters) -> None:
    for parameter in parameters:
        if parameter.get("in") == "query" and parameter["name"] in INTEGER_PARAMETERS:
            parameter["schema"] = {"type": "integer"}
        if parameter.get("in") == "header" and parameter["name"] in REQUIRED_HEADERS:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1}
