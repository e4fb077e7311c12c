"""MemoryBackend: the BillingBackend protocol over an in-process BillingEngine session."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..models import (AutoRecharge, Balance, CreditPack, Identity, Invoice, LedgerEntry,
                      MemberUsage, Plan, Subscription, UsageReceipt, UsageSeries)

if TYPE_CHECKING:
    from ..engine import BillingEngine


class MemoryBackend:
    """Calls the engine directly: its operations take microseconds, so there is nothing to
    gain from a thread, and the dashboard already calls backends from workers."""

    is_remote = False

    def __init__(self, engine: BillingEngine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id
        self._session = engine.session(user_id)

    async def whoami(self) -> Identity:
        return self._session.whoami()

    async def balance(self, account_id: str) -> Balance:
        return self._session.balance(account_id)

    async def my_usage(self, account_id: str) -> MemberUsage:
        return self._session.my_usage(account_id)

    async def record_usage(self, account_id: str, credits: int, *, campaign: str,
                           idempotency_key: str) -> UsageReceipt:
        return self._session.record_usage(account_id, credits, campaign=campaign,
                                          idempotency_key=idempotency_key)

    async def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                            granularity: str = "day", group_by: str = "source",
                            top: int | None = None) -> UsageSeries:
        return self._session.usage_history(account_id, start=start, end=end,
                                           granularity=granularity, group_by=group_by,
                                           top=top)

    async def members(self, account_id: str) -> list[MemberUsage]:
        return self._session.members(account_id)

    async def set_member_limit(self, account_id: str, user_id: str,
                               limit: int | None) -> MemberUsage:
        return self._session.set_member_limit(account_id, user_id, limit)

    async def subscription(self, account_id: str) -> Subscription:
        return self._session.subscription(account_id)

    async def plans(self) -> list[Plan]:
        return self._session.plans()

    async def change_plan(self, account_id: str, plan_id: str) -> Subscription:
        return self._session.change_plan(account_id, plan_id)

    async def cancel_plan_change(self, account_id: str) -> Subscription:
        return self._session.cancel_plan_change(account_id)

    async def credit_packs(self) -> list[CreditPack]:
        return self._session.credit_packs()

    async def purchase_credits(self, account_id: str, credits: int, *,
                               idempotency_key: str) -> Invoice:
        return self._session.purchase_credits(account_id, credits,
                                              idempotency_key=idempotency_key)

    async def auto_recharge(self, account_id: str) -> AutoRecharge:
        return self._session.auto_recharge(account_id)

    async def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                      amount: int,
                                      monthly_cap_cents: int | None = None) -> AutoRecharge:
        return self._session.configure_auto_recharge(
            account_id, enabled=enabled, threshold=threshold, amount=amount,
            monthly_cap_cents=monthly_cap_cents)

    async def invoices(self, account_id: str) -> list[Invoice]:
        return self._session.invoices(account_id)

    async def ledger(self, account_id: str, *, limit: int = 100,
                     before: int | None = None) -> list[LedgerEntry]:
        return self._session.ledger(account_id, limit=limit, before=before)

    async def portal_url(self, account_id: str) -> str:
        return self._session.portal_url(account_id)

    async def aclose(self) -> None:
        """Nothing to release; present so callers can treat every backend alike."""
