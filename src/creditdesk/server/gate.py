"""What every route does before and after the engine: who is calling, strict bodies, the
contract's order of checks (401, 404, 403, 422), and JSON answers."""

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from .. import rules
from ..engine import BillingSession
from ..errors import (
    BillingError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from .service import BillingService, model_json
from .strict_bodies import read_body
from .tokens import OPERATOR, TokenStore, bearer_token

JSON = "application/json"


class Gate:
    def __init__(self, service: BillingService, tokens: TokenStore) -> None:
        self.service = service
        self.tokens = tokens

    # --- who is calling -----------------------------------------------------------------

    async def caller(self, request: Request) -> str:
        token = bearer_token(request.headers.get("authorization"))
        found, who = self.tokens.cached(token)
        if not found:
            # A token this worker has not seen (or a made-up one) is looked up in the
            # database: in a thread, like every store call, never on the event loop.
            who = await self.service.read(lambda: self.tokens.identify(token))
        if who is None:
            raise Unauthenticated("a valid token is required: send "
                                  "'Authorization: Bearer <token>'")
        return who

    async def user(self, request: Request) -> str:
        who = await self.caller(request)
        if who == OPERATOR:
            raise Unauthenticated("the operator token is not a user; use a user's token")
        return who

    async def operator(self, request: Request) -> None:
        if await self.caller(request) != OPERATOR:
            raise PermissionDenied("Operator only: this path needs the operator token",
                                   required_role="operator")

    # --- calling the engine -----------------------------------------------------------------

    async def call(self, user: str, method: Callable, **kwargs: Any) -> Any:
        """Run `method`, a BillingSession method (not its name as a string), as `user`."""
        return await self.service.run(user, method, **kwargs)

    # --- bodies and checks ----------------------------------------------------------------

    async def parse(self, request: Request, model: type[BaseModel]) -> BaseModel | InvalidRequest:
        """The body as `model`, or the InvalidRequest to raise once access is checked."""
        return read_body(await request.body(), model)

    async def refuse_after_access(self, user: str, account_id: str, action: str,
                                  error: BillingError, *, member: str | None = None) -> None:
        """Raise `error`, unless the caller must first hear 404 or 403 for this account (or
        404 for the `member` the path names), as the engine would in its own order."""
        identity = await self.call(user, BillingSession.whoami)
        role = next((c.role for c in identity.contexts if c.account_id == account_id), None)
        if role is None:
            raise NotFound(f"no account {account_id!r}")
        rules.require_role(role, action)
        if member is not None:
            members = await self.call(user, BillingSession.members, account_id=account_id)
            if all(m.user_id != member for m in members):
                raise NotFound(f"no member {member!r} in {account_id!r}")
        raise error

    async def paged(self, user: str, account_id: str, action: str, method: Callable,
                    offset: str | None, limit: str | None, cap: int) -> Response:
        """A list answer sliced by ?offset=&limit= (limit capped), total in X-Total-Count."""
        first = parse_int(offset, "offset", 0)
        size = parse_int(limit, "limit", cap)
        problem = first_problem(first, size)
        if problem is None and first < 0:
            problem = InvalidRequest("offset must be zero or more", field="offset")
        if problem is None and not 1 <= size <= cap:
            problem = InvalidRequest(f"limit must be from 1 to {cap}", field="limit")
        if problem is not None:
            await self.refuse_after_access(user, account_id, action, problem)
        # The engine reads just the page (the SQL store does not load the whole list).
        items = await self.call(user, method, account_id=account_id, offset=first, limit=size)
        return await answer_off_loop(list(items), headers={"X-Total-Count": str(items.total)})

    async def issue_token(self, user_id: str) -> str:
        """A new token for a user the engine knows, once it is saved (in the database on
        the SQL store, so every worker knows it)."""
        service = self.service
        await service.read(lambda: service.engine.user(user_id))   # NotFound if unknown
        return await service.read(lambda: self.tokens.issue(user_id))


def answer(value: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(model_json(value), status_code=status, media_type=JSON, headers=headers)


async def answer_off_loop(value: Any, headers: dict | None = None) -> Response:
    """`answer` for what may be large (a page, a history): serialised in a worker thread so
    the event loop keeps serving others meanwhile."""
    body = await anyio.to_thread.run_sync(model_json, value)
    return Response(body, status_code=200, media_type=JSON, headers=headers)


def parse_int(text: str | None, field: str, default: int | None) -> int | None | InvalidRequest:
    if text is None:
        return default
    # ASCII digits only: int() would also take '１' (full-width), '1_0' and '+5', which no
    # client means as a number and which differ from how the engine and CLI read numbers.
    if _WHOLE_NUMBER.fullmatch(text) is None:
        return InvalidRequest(f"{field} must be a whole number in ASCII digits, "
                              f"got {text[:40]!r}", field=field)
    return int(text)


_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}", re.ASCII)


def parse_instant(text: str | None, field: str) -> datetime | InvalidRequest:
    if text is None:
        return InvalidRequest(f"{field} is required (ISO 8601 with an offset)", field=field)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return InvalidRequest(f"{field} must be an ISO 8601 datetime with an offset, "
                              f"got {text[:40]!r}", field=field)
    if value.utcoffset() is None:
        return InvalidRequest(f"{field} must carry a UTC offset (a naive time is ambiguous); "
                              f"percent-encode '+' as %2B", field=field)
    return value


def first_problem(*values: Any) -> InvalidRequest | None:
    return next((v for v in values if isinstance(v, InvalidRequest)), None)


def missing_key(key: str | None) -> InvalidRequest | None:
    if key is None:
        return InvalidRequest("the Idempotency-Key header is required", field="idempotency_key")
    return None


# Request bodies the routes read themselves, by name: the OpenAPI document lists each
# once under components, so a generated client gets `UsageBody`, not an inline shape.
BODY_MODELS: dict[str, type[BaseModel]] = {}


def body_doc(model: type[BaseModel], *, path: tuple[str, ...] = (),
             keyed: bool = False) -> dict:
    """OpenAPI for a body the route reads itself (so FastAPI cannot refuse it too early),
    and for the `path` parameters and the Idempotency-Key header (`keyed`) of a route that
    reads those itself too (`path_value`, `idempotency_key`): a route that declares them
    as parameters has FastAPI resolve them on every request, a fifth of what the HTTP
    layer costs a debit."""
    BODY_MODELS[model.__name__] = model
    doc: dict = {"requestBody": {"required": True, "content": {JSON: {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}
    parameters = [{"in": "path", "name": name, "required": True,
                   "schema": {"title": name.replace("_", " ").title(), "type": "string"}}
                  for name in path]
    if keyed:
        parameters.append({"in": "header", "name": "Idempotency-Key", "required": True,
                           "schema": {"type": "string", "minLength": 1}})
    if parameters:
        doc["parameters"] = parameters
    return doc


def path_value(request: Request, name: str) -> str:
    """A path parameter as FastAPI would give a `name: str` one (documented by body_doc)."""
    return request.path_params[name]


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header (its first value), as `Header(None)` would give it."""
    return request.headers.get("idempotency-key")
