"""API tokens: random, shown once, kept only as SHA-256 hashes (in memory and in the store)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

OPERATOR = "@operator"   # the operator token's identity ('@' is no user id)


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
    """Who a bearer token acts as: a user id, OPERATOR, or nobody (None).

    `shared`, when given, keeps the hashes in the database (`save_token(hash, user)`,
    `token_user(hash)`: the SQL store), so a token issued on one worker works on all;
    without it tokens live in this process (tests and in-process apps)."""

    def __init__(self, shared=None, operator_token: str | None = None) -> None:
        self._shared = shared
        self._users: dict[str, str] = {}
        self._operator = token_hash(operator_token) if operator_token else None

    def identify(self, token: str | None) -> str | None:
        found, user = self.cached(token)
        if found:
            return user
        digest = token_hash(token)
        user = self._shared.token_user(digest)
        if user is not None:
            self._users[digest] = user          # a token never changes its user
        return user

    def cached(self, token: str | None) -> tuple[bool, str | None]:
        """(True, what `identify` answers) when that needs no database, else (False, None):
        the rate limit asks on the event loop, and goes to a thread only for the rest."""
        if not token:
            return True, None
        digest = token_hash(token)
        if self._operator is not None and hmac.compare_digest(digest, self._operator):
            return True, OPERATOR
        user = self._users.get(digest)
        return (True, user) if user is not None or self._shared is None else (False, None)

    def issue(self, user_id: str) -> str:
        """A new token for `user_id`, saved before it is returned (shown once)."""
        token = new_token()
        digest = token_hash(token)
        if self._shared is not None:
            self._shared.save_token(digest, user_id)
        self._users[digest] = user_id
        return token
