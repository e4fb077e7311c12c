"""The guards' answers in the OpenAPI document: 413 on bodies, 429 everywhere."""

from __future__ import annotations

# The contract's error body, for a document whose app declares no `ErrorBody` of its own.
ERROR_BODY_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "required_role", "field"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "required_role": {"type": ["string", "null"]},
                       "field": {"type": ["string", "null"]}}}},
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_GUARD_RESPONSES = {
    "413": {"description": "payload_too_large: the request body is over the size limit",
            "content": {"application/json": {"schema": _ERROR_REF}}},
    "429": {"description": "rate_limited: too many requests from this token; retry after "
                           "the Retry-After header's seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1},
                                        "description": "seconds to wait"}},
            "content": {"application/json": {"schema": _ERROR_REF}}},
}
_METHODS = ("get", "put", "post", "delete", "patch")


def document_limits(openapi: dict) -> dict:
    """Add the guards' answers (413 on bodies, 429 everywhere) to every operation of an
    OpenAPI document, in place; returns it. Operations that take no body cannot get 413.
    Both refer to the document's one `ErrorBody` schema (added if the app has none)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ERROR_BODY_SCHEMA)
    for item in openapi.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("429", _GUARD_RESPONSES["429"])
            if "requestBody" in operation:
                responses.setdefault("413", _GUARD_RESPONSES["413"])
    return openapi
