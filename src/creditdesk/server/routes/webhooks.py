"""Owners' webhook endpoints and their delivery attempts (server only, not a backend method).

Webhooks are not engine calls, so the routes check access themselves, in the contract's
order: 401, then 404 for a caller who is not a member, 403 below owner, then 422 for the
body, then 404 for an endpoint the account does not have.
"""

from datetime import datetime

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from ... import rules
from ...engine import BillingSession as S
from ...errors import InvalidRequest, NotFound
from ..gate import Gate, answer, body_doc
from ..webhook_service import ServerWebhooks

ACTION = "manage_webhooks"


class WebhookBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    url: str


class NewWebhook(BaseModel):
    id: str
    url: str
    secret: str


class WebhookListed(BaseModel):
    id: str
    url: str
    created_at: datetime


class DeliveryAttempt(BaseModel):
    alert_id: int
    at: datetime
    status: str
    error: str | None
    next_retry_at: datetime | None


def router(gate: Gate, hooks: ServerWebhooks) -> APIRouter:
    routes = APIRouter(tags=["webhooks"])

    async def owner(request: Request, account_id: str) -> datetime:
        """Check the caller may manage this account's webhooks; the engine's instant now."""
        user = await gate.user(request)
        identity = await gate.call(user, S.whoami)
        role = next((c.role for c in identity.contexts if c.account_id == account_id), None)
        if role is None:
            raise NotFound(f"no account {account_id!r}")
        rules.require_role(role, ACTION)
        hooks.available()       # only an owner learns that this server cannot keep them
        # Endpoints are stamped on the engine's clock, the one alerts are stamped on: an
        # alert goes to the endpoints registered by its time (a test clock included, which
        # on the SQL store is read from the database: off the event loop).
        return await anyio.to_thread.run_sync(gate.service.engine.clock)

    @routes.post("/v1/accounts/{account_id}/webhooks", response_model=NewWebhook,
                 status_code=201, openapi_extra=body_doc(WebhookBody))
    async def register_webhook(account_id: str, request: Request):
        now = await owner(request, account_id)
        body = await gate.parse(request, WebhookBody)
        if isinstance(body, InvalidRequest):
            raise body
        endpoint = await hooks.register(account_id, body.url, now)
        return answer({"id": endpoint.id, "url": endpoint.url, "secret": endpoint.secret},
                      status=201)

    @routes.get("/v1/accounts/{account_id}/webhooks", response_model=list[WebhookListed])
    async def webhooks(account_id: str, request: Request):
        await owner(request, account_id)
        return answer([e.public() for e in await hooks.endpoints(account_id)])

    @routes.delete("/v1/accounts/{account_id}/webhooks/{webhook_id}", status_code=204,
                   response_class=Response)
    async def remove_webhook(account_id: str, webhook_id: str, request: Request):
        await owner(request, account_id)
        await hooks.remove(account_id, webhook_id)
        return Response(status_code=204)

    @routes.get("/v1/accounts/{account_id}/webhooks/{webhook_id}/deliveries",
                response_model=list[DeliveryAttempt])
    async def webhook_deliveries(account_id: str, webhook_id: str, request: Request):
        await owner(request, account_id)
        return answer(await hooks.deliveries(account_id, webhook_id))

    return routes
