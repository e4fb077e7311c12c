"""The HTTP app in-process (starlette TestClient) over an EngineWorld the test can inspect.

Used where the test must see the engine behind the API: the authorization matrix (a refusal
must change nothing, so `engine.mutations` must not move), the fuzzers and the model-based
state machine. Users: olga owns acme, adam is its admin, mia a member; otto owns otherco.
"""

from __future__ import annotations

import secrets
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from creditdesk.models import Plan

from .worlds import EMPTY, TEAM, EngineWorld

PRO = Plan(id="pro", name="Pro", base_credits_per_month=60_000, rollover_cap=30_000,
           billing_period="monthly", price_cents=99_900)
ORG, OTHER_ORG = "acme", "otherco"
ROLES = {"olga": "owner", "adam": "admin", "mia": "member"}


@dataclass
class InProcess:
    world: EngineWorld
    client: object               # starlette.testclient.TestClient
    operator_token: str
    tokens: dict[str, str]

    def headers(self, user: str | None) -> dict[str, str]:
        if user is None:
            return {}
        token = self.operator_token if user == "@operator" else self.tokens[user]
        return {"Authorization": f"Bearer {token}"}


def populate(world: EngineWorld) -> None:
    for plan in (TEAM, EMPTY, PRO):
        world.add_plan(plan)
    for user in (*ROLES, "otto"):
        world.add_user(user, plan="team")
    world.create_org(ORG, "olga", "team")
    for user, role in ROLES.items():
        if role != "owner":
            world.add_member(ORG, user, role)
    world.create_org(OTHER_ORG, "otto", "team")


@contextmanager
def served_in_process(*, limits: dict | None = None, world: EngineWorld | None = None,
                      webhooks=None):
    """The app over a populated world; `limits` as create_app takes them (default: off)."""
    with warnings.catch_warnings():
        # Starlette would like httpx2 for its test client; httpx works the same here.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from creditdesk.server.app import create_app
    world = world or EngineWorld()
    if not world.engine.account_ids():
        populate(world)
    operator_token = secrets.token_urlsafe(24)
    app = create_app(world.engine, operator_token=operator_token, test_clock=True,
                     limits={"rate": None} if limits is None else limits, webhooks=webhooks)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = {}
        for user in (*ROLES, "otto"):
            answer = client.post(f"/v1/admin/users/{user}/tokens", json={},
                                 headers={"Authorization": f"Bearer {operator_token}"})
            assert answer.status_code == 201, answer.text
            tokens[user] = answer.json()["token"]
        yield InProcess(world, client, operator_token, tokens)
