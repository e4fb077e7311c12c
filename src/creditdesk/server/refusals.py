"""The one error shape of the HTTP API, `{"error": {code, message, required_role, field}}`,
for billing refusals and for everything the framework would otherwise answer in its own."""

from __future__ import annotations

import json
import logging
import sys

from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import BillingError, InvalidRequest
from .service import StorageFailure

log = logging.getLogger("creditdesk.server")

# Status codes the framework raises itself, in the contract's vocabulary.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
               413: "payload_too_large", 415: "unsupported_media_type",
               429: "rate_limited"}


def error_body(code: str, message: str, *, required_role: str | None = None,
               field: str | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message,
                                 "required_role": required_role, "field": field}}).encode()


def refusal(error: BillingError, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": error.to_dict()}).encode()
    return Response(body, status_code=error.http_status, media_type="application/json",
                    headers=headers)


def invalid_from_validation(error: ValidationError) -> InvalidRequest:
    """The first problem pydantic found, as an InvalidRequest naming the field."""
    first = error.errors(include_url=False)[0]
    kind = first.get("type", "")
    location = [str(part) for part in first.get("loc", ()) if part != "__root__"]
    # The field is the request's own, as the engine names it (`balance_below`, never
    # `balance_below.0`): the remote backend must raise what the engine would.
    path, field = ".".join(location) or None, location[0] if location else None
    if kind == "json_invalid":
        return InvalidRequest(f"the request body is not valid JSON "
                              f"({first.get('ctx', {}).get('error', 'parse error')})")
    if kind in ("model_type", "model_attributes_type", "dict_type") and field is None:
        return InvalidRequest("the request body must be a JSON object")
    if kind == "missing":
        return InvalidRequest(f"{path} is required", field=field)
    if kind == "extra_forbidden":
        return InvalidRequest(f"{path} is not a field this request takes", field=field)
    if kind == "timezone_aware":
        return InvalidRequest(f"{path} must carry a UTC offset (a naive time is ambiguous)",
                              field=field)
    expected = _EXPECTED.get(kind)
    if expected is not None and field is not None:
        return InvalidRequest(f"{path} must be {expected}, not {_json_type(first.get('input'))}",
                              field=field)
    message = first.get("msg", "is invalid")
    return InvalidRequest(f"{path}: {message}" if path else message, field=field)


_EXPECTED = {"int_type": "a whole number", "int_from_float": "a whole number",
             "int_parsing": "a whole number", "bool_type": "true or false",
             "bool_parsing": "true or false", "string_type": "text",
             "datetime_type": "an ISO 8601 datetime with an offset",
             "datetime_parsing": "an ISO 8601 datetime with an offset"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object"


def install(app) -> None:
    """Answer every failure in the contract's shape, never the framework's `{"detail"}`."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(BillingError)
    async def on_billing_error(request: Request, error: BillingError) -> Response:
        return refusal(error)

    @app.exception_handler(StorageFailure)
    async def on_storage_failure(request: Request, error: StorageFailure) -> Response:
        log.error("storage failure: %s", error)
        return Response(error_body("unavailable", "the server cannot save changes right "
                                   "now; nothing was acknowledged, try again later"),
                        status_code=503, media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, error: RequestValidationError) -> Response:
        # Routes declare nothing FastAPI could refuse; this is a safety net for any that do.
        first = error.errors()[0] if error.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return refusal(InvalidRequest(first.get("msg", "invalid request"), field=field))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        message = {404: f"no such path: {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"
                   }.get(error.status_code, str(error.detail))
        return Response(error_body(code, message), status_code=error.status_code,
                        media_type="application/json", headers=error.headers)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, error: Exception) -> Response:
        if _database_failure(error):
            # Reached outside the service's own translation (a token looked up by a route).
            return await on_storage_failure(request, error)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return Response(error_body("internal_error", "the server failed unexpectedly; the "
                                   "error was logged"), status_code=500,
                        media_type="application/json")


def _database_failure(error: Exception) -> bool:
    """Whether `error` is the database failing (gone away, no free connection in time):
    answered 503 `unavailable`. Without SQLAlchemy loaded no error can be one of its own,
    so a server without a database never imports it for this."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, (exc.DBAPIError, exc.TimeoutError))
