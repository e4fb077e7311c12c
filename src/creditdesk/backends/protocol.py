"""The BillingBackend protocol: the one seam between the dashboard and where billing lives."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

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

# Methods every backend has, in the contract's order; tests and the remote client use this
# list to make sure nothing is forgotten on either side.
BACKEND_METHODS = (
    "whoami", "balance", "my_usage", "record_usage", "usage_history", "members",
    "set_member_limit", "subscription", "plans", "change_plan", "cancel_plan_change",
    "credit_packs", "purchase_credits", "auto_recharge", "configure_auto_recharge",
    "invoices", "ledger", "portal_url", "pay_invoice", "alert_settings", "configure_alerts",
    "alerts",
)


@runtime_checkable
class BillingBackend(Protocol):
    """Async view of billing for one signed-in user. Every method raises BillingError
    subclasses (creditdesk.errors), the same on every implementation."""

    # True when calls cross a network (the app then refreshes figures on an interval and
    # speaks of a server in its errors); False for the in-process engine.
    is_remote: bool

    async def whoami(self) -> Identity: ...
    async def balance(self, account_id: str) -> Balance: ...
    async def my_usage(self, account_id: str) -> MemberUsage: ...
    async def record_usage(self, account_id: str, credits: int, *, campaign: str,
                           idempotency_key: str) -> UsageReceipt: ...
    async def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                            granularity: str = "day", group_by: str = "source",
                            top: int | None = None) -> UsageSeries: ...
    async def members(self, account_id: str) -> list[MemberUsage]: ...
    async def set_member_limit(self, account_id: str, user_id: str,
                               limit: int | None) -> MemberUsage: ...
    async def subscription(self, account_id: str) -> Subscription: ...
    async def plans(self) -> list[Plan]: ...
    async def change_plan(self, account_id: str, plan_id: str) -> Subscription: ...
    async def cancel_plan_change(self, account_id: str) -> Subscription: ...
    async def credit_packs(self) -> list[CreditPack]: ...
    async def purchase_credits(self, account_id: str, credits: int, *,
                               idempotency_key: str) -> Invoice: ...
    async def auto_recharge(self, account_id: str) -> AutoRecharge: ...
    async def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                      amount: int,
                                      monthly_cap_cents: int | None = None) -> AutoRecharge: ...
    async def invoices(self, account_id: str) -> list[Invoice]: ...
    async def ledger(self, account_id: str, *, limit: int = 100, before: int | None = None,
                     kind: str | None = None, user_id: str | None = None,
                     campaign: str | None = None,
                     invoice_id: str | None = None) -> list[LedgerEntry]: ...
    async def portal_url(self, account_id: str) -> str: ...
    async def pay_invoice(self, account_id: str, invoice_id: str, *,
                          idempotency_key: str) -> Invoice: ...
    async def alert_settings(self, account_id: str) -> AlertSettings: ...
    async def configure_alerts(self, account_id: str, *, balance_below: list[int],
                               member_usage_percent: list[int]) -> AlertSettings: ...
    async def alerts(self, account_id: str, *, limit: int = 100,
                     before: int | None = None) -> list[Alert]: ...
    async def aclose(self) -> None:
        """Release what the backend holds (an HTTP client); the app calls it on exit."""
