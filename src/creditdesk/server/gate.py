"""What every route does before and after the engine: who is calling, strict bodies, the
contract's order of checks (401, 404, 403, 422), and JSON answers."""

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from .. import rules
from ..errors import BillingError, InvalidRequest, NotFound, PermissionDenied, Unauthenticated
from . import refusals
from .service import BillingService, model_json
from .tokens import OPERATOR, TokenStore

JSON = "application/json"


class Gate:
    def __init__(self, service: BillingService, tokens: TokenStore) -> None:
        self.service = service
        self.tokens = tokens

    # --- who is calling -----------------------------------------------------------------

    def caller(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        who = self.tokens.identify(token.strip()) if scheme.lower() == "bearer" else None
        if who is None:
            raise Unauthenticated("a valid token is required: send "
                                  "'Authorization: Bearer <token>'")
        return who

    def user(self, request: Request) -> str:
        who = self.caller(request)
        if who == OPERATOR:
            raise Unauthenticated("the operator token is not a user; use a user's token")
        return who

    def operator(self, request: Request) -> None:
        if self.caller(request) != OPERATOR:
            raise PermissionDenied("Operator only: this path needs the operator token",
                                   required_role="operator")

    # --- bodies and checks ----------------------------------------------------------------

    async def parse(self, request: Request, model: type[BaseModel]) -> BaseModel | InvalidRequest:
        """The body as `model`, or the InvalidRequest to raise once access is checked."""
        raw = await request.body()
        try:
            return model.model_validate_json(raw if raw.strip() else b"{}")
        except ValidationError as error:
            return refusals.invalid_from_validation(error)

    async def refuse_after_access(self, user: str, account_id: str, action: str,
                                  error: BillingError, *, member: str | None = None) -> None:
        """Raise `error`, unless the caller must first hear 404 or 403 for this account (or
        404 for the `member` the path names), as the engine would in its own order."""
        identity = await self.service.run(user, "whoami")
        role = next((c.role for c in identity.contexts if c.account_id == account_id), None)
        if role is None:
            raise NotFound(f"no account {account_id!r}")
        rules.require_role(role, action)
        if member is not None:
            members = await self.service.run(user, "members", account_id=account_id)
            if all(m.user_id != member for m in members):
                raise NotFound(f"no member {member!r} in {account_id!r}")
        raise error

    async def paged(self, user: str, account_id: str, action: str, method: str,
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
        items = await self.service.run(user, method, account_id=account_id)
        return answer(items[first:first + size], headers={"X-Total-Count": str(len(items))})

    async def issue_token(self, user_id: str) -> str:
        """A new token for a user the engine knows, once it is on disk."""
        engine = self.service.engine
        with engine.lock:
            engine.user(user_id)        # NotFound for an unknown user
        token, batch = self.tokens.issue(user_id)
        if batch is not None:
            await batch.wait()
        return token


def answer(value: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(model_json(value), status_code=status, media_type=JSON, headers=headers)


def parse_int(text: str | None, field: str, default: int | None) -> int | None | InvalidRequest:
    if text is None:
        return default
    try:
        return int(text, 10)
    except ValueError:
        return InvalidRequest(f"{field} must be a whole number, got {text[:40]!r}", field=field)


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


def body_doc(model: type[BaseModel]) -> dict:
    """OpenAPI for a body the route reads itself (so FastAPI cannot refuse it too early)."""
    return {"requestBody": {"required": True, "content": {JSON: {
        "schema": model.model_json_schema()}}}}
