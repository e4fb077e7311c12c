"""Fixtures for the HTTP API tests: the shared small world served in-process or over loopback."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from pydantic import TypeAdapter

from creditdesk.server.app import create_app

OPERATOR = "operator-token-for-tests-0123456789"


@dataclass
class Api:
    """An httpx client on the app, the world behind it, and a token per user."""

    client: httpx.AsyncClient
    world: object
    app: object
    tokens: dict

    def auth(self, user: str, **headers: str) -> dict:
        token = OPERATOR if user == "operator" else self.tokens[user]
        return {"Authorization": f"Bearer {token}", **headers}


def issue(app, user_id: str) -> str:
    return app.state.tokens.issue(user_id)


@pytest.fixture
async def api(world):
    app = create_app(world.engine, operator_token=OPERATOR, test_clock=world.clock,
                     limits={"rate": None})
    tokens = {user: issue(app, user) for user in ("ann", "bob", "cat", "dan")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        yield Api(client, world, app, tokens)


def assert_error(response: httpx.Response, status: int, code: str, *, field: str | None = None,
                 required_role: str | None = None) -> dict:
    """The contract's error body, exactly: never FastAPI's {"detail": ...}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "required_role", "field"}
    assert error["code"] == code, error
    assert error["field"] == field, error
    assert error["required_role"] == required_role, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def parse_list(model, response: httpx.Response) -> list:
    """A JSON array answer as contract models (strict models read JSON, not dicts)."""
    assert response.status_code == 200, response.text
    return TypeAdapter(list[model]).validate_json(response.content)
