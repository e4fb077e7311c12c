"""BillingError and its stable codes, shared by the engine, the HTTP API and the backends."""

from __future__ import annotations


class BillingError(Exception):
    """Base of every refusal. `code` is stable snake_case; `message` is for people."""

    code = "billing_error"
    http_status = 400

    def __init__(self, message: str, *, required_role: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.required_role = required_role
        self.field = field

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message,
                "required_role": self.required_role, "field": self.field}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class PermissionDenied(BillingError):
    code = "permission_denied"
    http_status = 403


class NotFound(BillingError):
    code = "not_found"
    http_status = 404


class InvalidRequest(BillingError):
    code = "invalid_request"
    http_status = 422


class InsufficientCredits(BillingError):
    code = "insufficient_credits"
    http_status = 402


class MemberLimitReached(BillingError):
    code = "member_limit_reached"
    http_status = 402


class IdempotencyConflict(BillingError):
    code = "idempotency_conflict"
    http_status = 409


class PaymentDeclined(BillingError):
    code = "payment_declined"
    http_status = 402


class Unauthenticated(BillingError):
    code = "unauthenticated"
    http_status = 401


ERROR_CLASSES: dict[str, type[BillingError]] = {
    cls.code: cls
    for cls in (PermissionDenied, NotFound, InvalidRequest, InsufficientCredits,
                MemberLimitReached, IdempotencyConflict, PaymentDeclined, Unauthenticated)
}


def error_from_dict(body: dict) -> BillingError:
    """Rebuild the exception the engine would have raised from the API's error body."""
    code = body.get("code", "")
    cls = ERROR_CLASSES.get(code, BillingError)
    error = cls(body.get("message") or "request refused",
                required_role=body.get("required_role"), field=body.get("field"))
    if cls is BillingError and isinstance(code, str) and code:
        # A code this client has no class for (a newer server's, or the HTTP layer's own
        # such as method_not_allowed) is kept: callers dispatch on `code`.
        error.code = code
    return error


class AlreadyExists(BillingError):
    """Operator set-up with an id that is taken (users, plans, orgs)."""

    code = "already_exists"
    http_status = 409


ERROR_CLASSES[AlreadyExists.code] = AlreadyExists


class Unavailable(BillingError):
    """The billing server could not be reached or kept failing (only over HTTP)."""

    code = "unavailable"
    http_status = 503


ERROR_CLASSES[Unavailable.code] = Unavailable


class PayloadTooLarge(BillingError):
    """A request body over the server's cap (only over HTTP)."""

    code = "payload_too_large"
    http_status = 413


class RateLimited(BillingError):
    """Too many requests from one token; the answer's Retry-After says when to try again."""

    code = "rate_limited"
    http_status = 429


ERROR_CLASSES[PayloadTooLarge.code] = PayloadTooLarge
ERROR_CLASSES[RateLimited.code] = RateLimited
