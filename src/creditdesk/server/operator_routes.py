"""Operator paths (`/v1/admin/...`): set-up, tokens, the test gateway, the test clock, the demo.

They take the operator token, which is no user; a user's token gets 403 with required_role
`operator`. Each runs an `Operator` command (server/service.py), named by the method itself,
never by a string.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from ..errors import InvalidRequest
from ..models import Plan
from . import bodies
from .gate import Gate, answer, body_doc
from .service import Operator
from .tokens import OPERATOR


def _engine_args(command: Callable, body: BaseModel) -> dict:
    """The command's keyword arguments from an operator body (`id` names the new thing)."""
    if command is Operator.add_plan:
        return {"plan": body}
    values = body.model_dump()
    if command is Operator.add_user:
        values["user_id"] = values.pop("id")
    elif command is Operator.create_org:
        values["org_id"] = values.pop("id")
    return values


def add_operator_routes(app: FastAPI, gate: Gate) -> None:
    service = gate.service

    async def operator_call(request: Request, model: type[BaseModel], command: Callable,
                            **fixed: Any) -> tuple[BaseModel, Any]:
        await gate.operator(request)
        body = await gate.parse(request, model)
        if isinstance(body, InvalidRequest):
            raise body
        return body, await service.run(OPERATOR, command, **fixed,
                                       **_engine_args(command, body))

    @app.post("/v1/admin/plans", status_code=201, response_model=Plan, tags=["operator"],
              openapi_extra=body_doc(Plan))
    async def add_plan(request: Request):
        _, plan = await operator_call(request, Plan, Operator.add_plan)
        return answer(plan, 201)

    @app.post("/v1/admin/users", status_code=201, response_model=bodies.UserCreated,
              tags=["operator"], openapi_extra=body_doc(bodies.NewUser))
    async def add_user(request: Request):
        _, user = await operator_call(request, bodies.NewUser, Operator.add_user)
        return answer(bodies.UserCreated(id=user.id, name=user.name, email=user.email,
                                         personal_account_id=user.personal_account_id), 201)

    @app.post("/v1/admin/orgs", status_code=201, response_model=bodies.OrgCreated,
              tags=["operator"], openapi_extra=body_doc(bodies.NewOrg))
    async def create_org(request: Request):
        body, _ = await operator_call(request, bodies.NewOrg, Operator.create_org)
        return answer(bodies.OrgCreated(id=body.id, name=body.name), 201)

    @app.post("/v1/admin/orgs/{org_id}/members", status_code=201,
              response_model=bodies.MemberAdded, tags=["operator"],
              openapi_extra=body_doc(bodies.NewMember))
    async def add_member(org_id: str, request: Request):
        _, member = await operator_call(request, bodies.NewMember, Operator.add_member,
                                        org_id=org_id)
        return answer(bodies.MemberAdded(org_id=org_id, user_id=member.user_id,
                                         role=member.role), 201)

    @app.post("/v1/admin/users/{user_id}/tokens", status_code=201,
              response_model=bodies.TokenIssued, tags=["operator"],
              openapi_extra=body_doc(bodies.NewToken))
    async def issue_token(user_id: str, request: Request):
        await gate.operator(request)
        body = await gate.parse(request, bodies.NewToken)
        if isinstance(body, InvalidRequest):
            raise body
        return answer({"token": await gate.issue_token(user_id)}, 201)

    @app.put("/v1/admin/payments/{account_id}", response_model=bodies.DeclineSet,
             tags=["operator"], openapi_extra=body_doc(bodies.DeclineBody))
    async def set_decline(account_id: str, request: Request):
        body, _ = await operator_call(request, bodies.DeclineBody, Operator.decline,
                                      account_id=account_id)
        return answer({"account_id": account_id, "decline": body.decline})

    @app.post("/v1/admin/demo", status_code=201, response_model=bodies.DemoLoaded,
              tags=["operator"], openapi_extra=body_doc(bodies.DemoBody))
    async def load_demo(request: Request):
        _, world = await operator_call(request, bodies.DemoBody, Operator.load_demo,
                                       now=None)
        issued = {role: await gate.issue_token(getattr(world, role))
                  for role in ("owner", "admin", "member")}
        return answer(bodies.DemoLoaded(org_id=world.org_id, owner=world.owner,
                                        admin=world.admin, member=world.member,
                                        tokens=issued), 201)

    if service.test_clock is not None:
        # Without a test clock the path does not exist at all (404), as the contract says.
        @app.put("/v1/admin/clock", response_model=bodies.ClockSet, tags=["operator"],
                 openapi_extra=body_doc(bodies.ClockBody))
        async def set_clock(request: Request):
            _, now = await operator_call(request, bodies.ClockBody, Operator.set_clock)
            return answer({"now": now})
