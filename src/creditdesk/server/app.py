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
from .service import BillingService
from .store import Store
from .tokens import TokenStore, bearer_token

ERROR_RESPONSES = {
    status: {"model": bodies.ErrorBody, "description": words} for status, words in (
        (401, "no valid token (`unauthenticated`)"),
        (402, "`insufficient_credits`, `member_limit_reached` or `payment_declined`"),
        (403, "the role is too low (`permission_denied`, see `required_role`)"),
        (404, "no such account for this caller, or no such path (`not_found`)"),
        (409, "`idempotency_conflict`, or `already_exists` for operator set-up"),
        (422, "the request is invalid (`invalid_request`, see `field`)"),
        (503, "the server cannot save changes (`unavailable`)"))}


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
                  docs_url=None, redoc_url=None, responses=ERROR_RESPONSES,
                  # A trailing slash names no path (404 in the contract's shape), rather
                  # than a 307 whose Location is built from the client's Host header.
                  redirect_slashes=False,
                  # operationIds are the contract's method names (the route functions').
                  generate_unique_id_function=lambda route: route.name)
    app.state.service = service
    app.state.tokens = tokens
    refusals.install(app)
    _document_security(app)

    gate = Gate(service, tokens)
    add_user_routes(app, gate)
    add_operator_routes(app, gate)
    app.state.issue_token = gate.issue_token
    return _guarded(app, limits, tokens)


def _guarded(app, limits: dict | None, tokens: TokenStore):
    """Wrap the app in the path, body-size and rate guards (server/limits.py), keeping
    `.state`; the rate limit knows callers by the user their token authenticates."""
    settings = limits_from_env(os.environ) if limits is None else limits
    guarded = guard(app, **settings,
                    identify=lambda header: tokens.identify(bearer_token(header)))
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
