"""RemoteBackend: the BillingBackend protocol over the HTTP API of `creditdesk serve` (httpx).

It raises the very exceptions the engine would (rebuilt from the API's error body by
`error_from_dict`), so screens never know which backend they hold. Connection errors,
timeouts and 5xx answers are retried a few times with backoff, always with the same
Idempotency-Key, so a debit retried after a lost answer is applied once; 4xx answers are
never retried. When the server stays unreachable, ServerUnavailable (a BillingError) says so.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from ..errors import BillingError, Unavailable, error_from_dict
from ..models import (
    Alert,
    AlertSettings,
    AutoRecharge,
    Balance,
    CreditPack,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Plan,
    Subscription,
    UsageReceipt,
    UsageSeries,
)
from ..rules import header_safe

M = TypeVar("M", bound=BaseModel)
_LISTS: dict[type, TypeAdapter] = {}


# The server could not be reached or kept failing; nothing is known to have changed (a
# retried debit or purchase is safe: it carries the same idempotency key).
ServerUnavailable = Unavailable


def _segment(value: str) -> str:
    # Anything but text is no id the server knows: it answers 404, as the engine would.
    return quote(value if isinstance(value, str) else repr(value), safe="")


class RemoteBackend:
    is_remote = True

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:      # never shows the token
        return f"RemoteBackend({self.base_url!r})"

    # --- plumbing -------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        # A client belongs to the loop it was made in; a new loop (a new test, a restarted
        # app) gets a new client rather than a broken one.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, transport=self._transport,
                headers={"Authorization": f"Bearer {self._token}",
                         "User-Agent": "creditdesk-remote/1"})
            self._loop = loop
        return self._client

    async def _send(self, method: str, path: str, *, params: dict | None = None,
                    body: dict | None = None, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key is not None else None
        last = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1)
                await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                response = await self._http().request(method, path, params=params, json=body,
                                                       headers=headers)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}: {_message(response)}"
                continue
            if response.status_code >= 400:
                raise _refusal(response)
            return response
        raise ServerUnavailable(f"the billing server at {self.base_url} is unavailable "
                                f"({last}); tried {self.retries + 1} times")

    async def _get(self, path: str, model: type[M], **params: Any) -> M:
        response = await self._send("GET", path, params=_params(params))
        return model.model_validate_json(response.content)

    async def _list(self, path: str, model: type[M], **params: Any) -> list[M]:
        response = await self._send("GET", path, params=_params(params))
        return _adapter(model).validate_json(response.content)

    async def _all_pages(self, path: str, model: type[M]) -> list[M]:
        """Every item of a paginated list (?offset=&limit=, total in X-Total-Count)."""
        items: list[M] = []
        while True:
            response = await self._send("GET", path, params={"offset": len(items)})
            page = _adapter(model).validate_json(response.content)
            items.extend(page)
            total = int(response.headers.get("X-Total-Count", len(items)))
            if not page or len(items) >= total:
                return items

    async def _write(self, method: str, path: str, model: type[M], body: dict | None = None,
                     key: str | None = None) -> M:
        response = await self._send(method, path, body=body, key=key)
        return model.model_validate_json(response.content)

    def _account(self, account_id: str, tail: str) -> str:
        return f"/v1/accounts/{_segment(account_id)}/{tail}"

    async def aclose(self) -> None:
        if self._client is not None and not self._client.is_closed:
            await self._client.aclose()
        self._client = None

    async def __aenter__(self) -> RemoteBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the protocol -------------------------------------------------------------------------

    async def whoami(self) -> Identity:
        return await self._get("/v1/me", Identity)

    async def balance(self, account_id: str) -> Balance:
        return await self._get(self._account(account_id, "balance"), Balance)

    async def my_usage(self, account_id: str) -> MemberUsage:
        return await self._get(self._account(account_id, "my-usage"), MemberUsage)

    async def record_usage(self, account_id: str, credits: int, *, campaign: str,
                           idempotency_key: str) -> UsageReceipt:
        return await self._write("POST", self._account(account_id, "usage"), UsageReceipt,
                                 {"credits": credits, "campaign": campaign},
                                 key=_key(idempotency_key))

    async def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                            granularity: str = "day", group_by: str = "source",
                            top: int | None = None) -> UsageSeries:
        return await self._get(self._account(account_id, "usage-history"), UsageSeries,
                               start=start, end=end, granularity=granularity,
                               group_by=group_by, top=top)

    async def members(self, account_id: str) -> list[MemberUsage]:
        return await self._all_pages(self._account(account_id, "members"), MemberUsage)

    async def set_member_limit(self, account_id: str, user_id: str,
                               limit: int | None) -> MemberUsage:
        path = self._account(account_id, f"members/{_segment(user_id)}/limit")
        return await self._write("PUT", path, MemberUsage, {"limit": limit})

    async def subscription(self, account_id: str) -> Subscription:
        return await self._get(self._account(account_id, "subscription"), Subscription)

    async def plans(self) -> list[Plan]:
        return await self._list("/v1/plans", Plan)

    async def change_plan(self, account_id: str, plan_id: str) -> Subscription:
        return await self._write("PUT", self._account(account_id, "subscription"),
                                 Subscription, {"plan_id": plan_id})

    async def cancel_plan_change(self, account_id: str) -> Subscription:
        return await self._write("DELETE", self._account(account_id, "subscription/pending"),
                                 Subscription)

    async def credit_packs(self) -> list[CreditPack]:
        return await self._list("/v1/credit-packs", CreditPack)

    async def purchase_credits(self, account_id: str, credits: int, *,
                               idempotency_key: str) -> Invoice:
        return await self._write("POST", self._account(account_id, "purchases"), Invoice,
                                 {"credits": credits}, key=_key(idempotency_key))

    async def auto_recharge(self, account_id: str) -> AutoRecharge:
        return await self._get(self._account(account_id, "auto-recharge"), AutoRecharge)

    async def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                      amount: int,
                                      monthly_cap_cents: int | None = None) -> AutoRecharge:
        return await self._write("PUT", self._account(account_id, "auto-recharge"),
                                 AutoRecharge, {"enabled": enabled, "threshold": threshold,
                                                "amount": amount,
                                                "monthly_cap_cents": monthly_cap_cents})

    async def invoices(self, account_id: str) -> list[Invoice]:
        return await self._all_pages(self._account(account_id, "invoices"), Invoice)

    async def ledger(self, account_id: str, *, limit: int = 100, before: int | None = None,
                     kind: str | None = None, user_id: str | None = None,
                     campaign: str | None = None,
                     invoice_id: str | None = None) -> list[LedgerEntry]:
        return await self._list(self._account(account_id, "ledger"), LedgerEntry,
                                limit=limit, before=before, kind=kind, user_id=user_id,
                                campaign=campaign, invoice_id=invoice_id)

    async def portal_url(self, account_id: str) -> str:
        response = await self._send("GET", self._account(account_id, "portal-url"))
        return response.json()["url"]

    async def pay_invoice(self, account_id: str, invoice_id: str, *,
                          idempotency_key: str) -> Invoice:
        path = self._account(account_id, f"invoices/{_segment(invoice_id)}/pay")
        return await self._write("POST", path, Invoice, key=_key(idempotency_key))

    async def alert_settings(self, account_id: str) -> AlertSettings:
        return await self._get(self._account(account_id, "alert-settings"), AlertSettings)

    async def configure_alerts(self, account_id: str, *, balance_below: list[int],
                               member_usage_percent: list[int]) -> AlertSettings:
        return await self._write("PUT", self._account(account_id, "alert-settings"),
                                 AlertSettings, {"balance_below": balance_below,
                                                 "member_usage_percent": member_usage_percent})

    async def alerts(self, account_id: str, *, limit: int = 100,
                     before: int | None = None) -> list[Alert]:
        return await self._list(self._account(account_id, "alerts"), Alert, limit=limit,
                                before=before)


def _key(key: object) -> str | None:
    # A key that is not text, or that a header cannot carry as it is, is sent as none: the
    # server refuses it (422, field idempotency_key) after its 404 and 403 checks, as the
    # engine would.
    return key if isinstance(key, str) and header_safe(key) else None


# The query parameters by the kind the engine checks them as. None means "not given" only
# where the engine's default is None; elsewhere (limit, the range, its options) it is a value
# the engine refuses, so it must not be dropped and left to the server's default.
_WHOLE = frozenset({"limit", "before", "top"})
_INSTANTS = frozenset({"start", "end"})
_OPTIONAL = frozenset({"before", "top", "kind", "user_id", "campaign", "invoice_id"})
_NO_NUMBER = "?"        # no digits, no ISO 8601 instant: refused for any whole or instant


def _params(params: dict) -> dict:
    """Query values as text: datetimes in ISO 8601 (httpx percent-encodes the '+').

    A value of a type the engine refuses ("10" or 10.0 as a limit, a string as an instant,
    None as a granularity) is sent as a text the server refuses for that same field, after
    its 404 and 403 checks, as the engine orders them; sent as it is, the server would have
    read it as a good value ("10") or dropped it for its default."""
    return {name: _query_text(name, value) for name, value in params.items()
            if value is not None or name not in _OPTIONAL}


def _query_text(name: str, value: object) -> str:
    if name in _INSTANTS:
        return value.isoformat() if isinstance(value, datetime) else _NO_NUMBER
    if name in _WHOLE:
        whole = isinstance(value, int) and not isinstance(value, bool)
        return str(value) if whole else _NO_NUMBER
    # Ids and choices: the engine refuses the empty text for each of them.
    return value if isinstance(value, str) else ""


def _adapter(model: type) -> TypeAdapter:
    adapter = _LISTS.get(model)
    if adapter is None:
        adapter = _LISTS[model] = TypeAdapter(list[model])
    return adapter


def _message(response: httpx.Response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "server error"


def _refusal(response: httpx.Response) -> BillingError:
    try:
        body = response.json()["error"]
        if not isinstance(body, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return BillingError(f"the server refused the request (HTTP {response.status_code}) "
                            f"without saying why")
    return error_from_dict(body)
