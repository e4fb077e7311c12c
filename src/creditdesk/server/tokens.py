"""API tokens: random, shown once, kept only as SHA-256 hashes (in memory and in the store)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from .store import Batch, Store

OPERATOR = "@operator"   # journal actor and identity of the operator token ('@' is no user id)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, however it is spelled
    (any case, extra blanks, tabs): one parse for the gate and the rate limit, so every
    spelling the gate accepts is the same caller to the limiter."""
    parts = (authorization or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenStore:
    """Who a bearer token acts as: a user id, OPERATOR, or nobody (None)."""

    def __init__(self, store: Store | None = None, operator_token: str | None = None) -> None:
        self._store = store
        self._users: dict[str, str] = store.tokens() if store is not None else {}
        self._operator = token_hash(operator_token) if operator_token else None

    def identify(self, token: str | None) -> str | None:
        if not token:
            return None
        digest = token_hash(token)
        if self._operator is not None and hmac.compare_digest(digest, self._operator):
            return OPERATOR
        return self._users.get(digest)

    def issue(self, user_id: str) -> tuple[str, Batch | None]:
        """A new token for `user_id`; with a store, wait on the batch before showing it."""
        token = new_token()
        digest = token_hash(token)
        batch = None
        if self._store is not None:
            batch = self._store.submit(tokens=[(digest, user_id,
                                                datetime.now(UTC).isoformat())])
        self._users[digest] = user_id
        return token, batch
