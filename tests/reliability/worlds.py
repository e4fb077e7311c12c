"""One set-up and one session API over two places billing lives: the engine, the HTTP server.

The concurrency checks are written once against these and run on both, so the server is held
to exactly what the in-process engine promises. HTTP sessions are synchronous (httpx.Client)
so plain threads can hammer them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from creditdesk.errors import ERROR_CLASSES, BillingError, error_from_dict
from creditdesk.models import (
    AutoRecharge,
    Balance,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Plan,
    Subscription,
    UsageReceipt,
)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TEAM = Plan(id="team", name="Team", base_credits_per_month=20_000, rollover_cap=10_000,
            billing_period="monthly", price_cents=49_900)
# An allowance of zero makes a balance exactly what a test bought, nothing more.
EMPTY = Plan(id="empty", name="Pay as you go", base_credits_per_month=0, rollover_cap=0,
             billing_period="monthly", price_cents=0)


class UnexpectedResponse(AssertionError):
    """The server answered outside the contract: a 5xx, or an error body it does not define."""


class EngineWorld:
    def __init__(self, start: datetime = START, *, store=None) -> None:
        """Books in memory, or in `store` (a migrated SqlStore) with its stored gateway."""
        from creditdesk.engine import (
            BillingEngine,
            ManualClock,
            StoredPaymentGateway,
            TestPaymentGateway,
        )
        self.clock = ManualClock(start)
        self.payments = TestPaymentGateway() if store is None else StoredPaymentGateway(store)
        self.engine = BillingEngine(clock=self.clock, payments=self.payments, store=store)

    def add_plan(self, plan: Plan) -> None:
        self.engine.add_plan(plan)

    def add_user(self, user_id: str, plan: str = "empty") -> None:
        self.engine.add_user(user_id, name=user_id.title(), email=f"{user_id}@example.com",
                             plan=plan)

    def create_org(self, org_id: str, owner: str, plan: str) -> None:
        self.engine.create_org(org_id, name=org_id.title(), owner=owner, plan=plan)

    def add_member(self, org_id: str, user_id: str, role: str) -> None:
        self.engine.add_member(org_id, user_id, role=role)

    def session(self, user_id: str):
        return self.engine.session(user_id)

    def decline(self, account_id: str, decline: bool) -> None:
        self.payments.decline(account_id, decline)

    def set_clock(self, now: datetime) -> None:
        self.clock.set(now)

    def ledger_entries(self, account_id: str) -> list[LedgerEntry]:
        return list(self.engine.ledger_entries(account_id))


class HttpSession:
    """The BillingSession methods the reliability checks use, over HTTP, raising the same
    BillingError the engine would (UnexpectedResponse for anything outside the contract)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        import httpx
        self.client = httpx.Client(base_url=base_url, timeout=timeout,
                                   headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, *, body: Any = None, params: dict | None = None,
             key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key is not None else None
        response = self.client.request(method, path, json=body, params=params,
                                       headers=headers)
        return decode(response)

    def whoami(self) -> Identity:
        return _model(Identity, self.call("GET", "/v1/me"))

    def balance(self, account_id: str) -> Balance:
        return _model(Balance, self.call("GET", f"{_acct(account_id)}/balance"))

    def my_usage(self, account_id: str) -> MemberUsage:
        return _model(MemberUsage, self.call("GET", f"{_acct(account_id)}/my-usage"))

    def record_usage(self, account_id: str, credits: int, *, campaign: str,
                     idempotency_key: str) -> UsageReceipt:
        body = self.call("POST", f"{_acct(account_id)}/usage", key=idempotency_key,
                         body={"credits": credits, "campaign": campaign})
        return _model(UsageReceipt, body)

    def members(self, account_id: str) -> list[MemberUsage]:
        return _models(MemberUsage, self.call("GET", f"{_acct(account_id)}/members"))

    def set_member_limit(self, account_id: str, user_id: str, limit: int | None) -> MemberUsage:
        body = self.call("PUT", f"{_acct(account_id)}/members/{quote(user_id, safe='')}/limit",
                         body={"limit": limit})
        return _model(MemberUsage, body)

    def subscription(self, account_id: str) -> Subscription:
        return _model(Subscription, self.call("GET", f"{_acct(account_id)}/subscription"))

    def purchase_credits(self, account_id: str, credits: int, *,
                         idempotency_key: str) -> Invoice:
        body = self.call("POST", f"{_acct(account_id)}/purchases", key=idempotency_key,
                         body={"credits": credits})
        return _model(Invoice, body)

    def auto_recharge(self, account_id: str) -> AutoRecharge:
        return _model(AutoRecharge, self.call("GET", f"{_acct(account_id)}/auto-recharge"))

    def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                amount: int, monthly_cap_cents: int | None = None
                                ) -> AutoRecharge:
        body = self.call("PUT", f"{_acct(account_id)}/auto-recharge",
                         body={"enabled": enabled, "threshold": threshold, "amount": amount,
                               "monthly_cap_cents": monthly_cap_cents})
        return _model(AutoRecharge, body)

    def invoices(self, account_id: str) -> list[Invoice]:
        return _models(Invoice, self.call("GET", f"{_acct(account_id)}/invoices"))

    def ledger(self, account_id: str, *, limit: int = 100,
               before: int | None = None) -> list[LedgerEntry]:
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        return _models(LedgerEntry, self.call("GET", f"{_acct(account_id)}/ledger",
                                              params=params))


class HttpWorld:
    """Operator set-up over the admin endpoints, and user sessions with issued tokens."""

    def __init__(self, base_url: str, operator_token: str) -> None:
        self.base_url = base_url
        self.operator = HttpSession(base_url, operator_token)
        self.tokens: dict[str, str] = {}
        self.owners: dict[str, str] = {}
        self._sessions: list[HttpSession] = []

    def close(self) -> None:
        self.operator.close()
        for session in self._sessions:
            session.close()

    def add_plan(self, plan: Plan) -> None:
        self.operator.call("POST", "/v1/admin/plans", body=plan.model_dump())

    def add_user(self, user_id: str, plan: str = "empty") -> None:
        self.operator.call("POST", "/v1/admin/users",
                           body={"id": user_id, "name": user_id.title(),
                                 "email": f"{user_id}@example.com", "plan": plan})
        self.owners[f"personal:{user_id}"] = user_id

    def create_org(self, org_id: str, owner: str, plan: str) -> None:
        self.operator.call("POST", "/v1/admin/orgs",
                           body={"id": org_id, "name": org_id.title(), "owner": owner,
                                 "plan": plan})
        self.owners[org_id] = owner

    def add_member(self, org_id: str, user_id: str, role: str) -> None:
        self.operator.call("POST", f"/v1/admin/orgs/{quote(org_id, safe='')}/members",
                           body={"user_id": user_id, "role": role})

    def token_for(self, user_id: str) -> str:
        if user_id not in self.tokens:
            body = self.operator.call("POST", f"/v1/admin/users/{quote(user_id, safe='')}/tokens",
                                      body={})
            self.tokens[user_id] = body["token"]
        return self.tokens[user_id]

    def session(self, user_id: str) -> HttpSession:
        session = HttpSession(self.base_url, self.token_for(user_id))
        self._sessions.append(session)
        return session

    def decline(self, account_id: str, decline: bool) -> None:
        self.operator.call("PUT", f"/v1/admin/payments/{quote(account_id, safe='')}",
                           body={"decline": decline})

    def set_clock(self, now: datetime) -> None:
        self.operator.call("PUT", "/v1/admin/clock", body={"now": now.isoformat()})

    def ledger_entries(self, account_id: str) -> list[LedgerEntry]:
        """The whole ledger, oldest first, paged with `before` as the owner sees it."""
        owner = self.session(self.owners[account_id])
        newest_first: list[LedgerEntry] = []
        before = None
        while True:
            page = owner.ledger(account_id, limit=100, before=before)
            newest_first.extend(page)
            if not page:
                break
            before = page[-1].id
        return newest_first[::-1]


def decode(response) -> Any:
    """The JSON of a success, or the BillingError of a contract error body."""
    if response.status_code >= 500:
        raise UnexpectedResponse(f"{response.request.method} {response.request.url.path} "
                                 f"answered {response.status_code}: {response.text[:300]}")
    try:
        body = response.json()
    except ValueError:
        raise UnexpectedResponse(f"{response.status_code} without JSON: "
                                 f"{response.text[:300]}") from None
    if response.status_code < 300:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("code") not in ERROR_CLASSES:
        raise UnexpectedResponse(f"{response.status_code} outside the contract: "
                                 f"{response.text[:300]}")
    raised: BillingError = error_from_dict(error)
    if raised.http_status != response.status_code:
        raise UnexpectedResponse(f"code {raised.code} came with {response.status_code}, "
                                 f"not {raised.http_status}")
    raise raised


def _acct(account_id: str) -> str:
    return f"/v1/accounts/{quote(account_id, safe='')}"


def _text(body: Any) -> str:
    # Through JSON again: the contract models are strict, and only JSON input may carry
    # datetimes as ISO strings.
    return json.dumps(body)


def _model(model, body: Any):
    return model.model_validate_json(_text(body))


def _models(model, body: Any) -> list:
    return TypeAdapter(list[model]).validate_json(_text(body))
