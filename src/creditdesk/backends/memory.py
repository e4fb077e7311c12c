"""MemoryBackend: the BillingBackend protocol over an in-process BillingEngine session.

Engine calls are plain Python that can take tens of milliseconds on a big world (a month by
member over 10,000 members), so each one runs in the engine's own thread and the event loop
only awaits it: the dashboard keeps drawing and taking keys meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

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

if TYPE_CHECKING:
    from ..engine import BillingEngine

T = TypeVar("T")

# One thread for every in-process engine call. The engine is thread-safe (its lock), but
# one thread keeps the calls in the order they were made: a debit and the balance read
# right after it cannot overtake each other, and the engine lock is never contended.
_ENGINE_THREAD: ThreadPoolExecutor | None = None
_ENGINE_THREAD_LOCK = threading.Lock()


def engine_thread() -> ThreadPoolExecutor:
    """The executor that runs in-process engine calls (made on first use)."""
    global _ENGINE_THREAD
    with _ENGINE_THREAD_LOCK:
        if _ENGINE_THREAD is None:
            _ENGINE_THREAD = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="creditdesk-engine")
        return _ENGINE_THREAD


async def off_loop(call: Callable[..., T], /, *args, **kwargs) -> T:
    """Run `call(*args, **kwargs)` in the engine thread and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(engine_thread(), partial(call, *args, **kwargs))


class MemoryBackend:
    """The engine's session for one user, every call made in the engine thread."""

    is_remote = False

    def __init__(self, engine: BillingEngine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id
        self._session = engine.session(user_id)

    async def whoami(self) -> Identity:
        return await off_loop(self._session.whoami)

    async def balance(self, account_id: str) -> Balance:
        return await off_loop(self._session.balance, account_id)

    async def my_usage(self, account_id: str) -> MemberUsage:
        return await off_loop(self._session.my_usage, account_id)

    async def record_usage(self, account_id: str, credits: int, *, campaign: str,
                           idempotency_key: str) -> UsageReceipt:
        return await off_loop(self._session.record_usage, account_id, credits,
                              campaign=campaign, idempotency_key=idempotency_key)

    async def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                            granularity: str = "day", group_by: str = "source",
                            top: int | None = None) -> UsageSeries:
        return await off_loop(self._session.usage_history, account_id, start=start, end=end,
                              granularity=granularity, group_by=group_by, top=top)

    async def members(self, account_id: str) -> list[MemberUsage]:
        return await off_loop(self._session.members, account_id)

    async def set_member_limit(self, account_id: str, user_id: str,
                               limit: int | None) -> MemberUsage:
        return await off_loop(self._session.set_member_limit, account_id, user_id, limit)

    async def subscription(self, account_id: str) -> Subscription:
        return await off_loop(self._session.subscription, account_id)

    async def plans(self) -> list[Plan]:
        return await off_loop(self._session.plans)

    async def change_plan(self, account_id: str, plan_id: str) -> Subscription:
        return await off_loop(self._session.change_plan, account_id, plan_id)

    async def cancel_plan_change(self, account_id: str) -> Subscription:
        return await off_loop(self._session.cancel_plan_change, account_id)

    async def credit_packs(self) -> list[CreditPack]:
        return await off_loop(self._session.credit_packs)

    async def purchase_credits(self, account_id: str, credits: int, *,
                               idempotency_key: str) -> Invoice:
        return await off_loop(self._session.purchase_credits, account_id, credits,
                              idempotency_key=idempotency_key)

    async def auto_recharge(self, account_id: str) -> AutoRecharge:
        return await off_loop(self._session.auto_recharge, account_id)

    async def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                      amount: int,
                                      monthly_cap_cents: int | None = None) -> AutoRecharge:
        return await off_loop(self._session.configure_auto_recharge, account_id,
                              enabled=enabled, threshold=threshold, amount=amount,
                              monthly_cap_cents=monthly_cap_cents)

    async def invoices(self, account_id: str) -> list[Invoice]:
        return await off_loop(self._session.invoices, account_id)

    async def ledger(self, account_id: str, *, limit: int = 100, before: int | None = None,
                     kind: str | None = None, user_id: str | None = None,
                     campaign: str | None = None,
                     invoice_id: str | None = None) -> list[LedgerEntry]:
        # Only the filters asked for are passed on: the engine refuses none it lacks then.
        filters = {name: value for name, value in (("kind", kind), ("user_id", user_id),
                                                   ("campaign", campaign),
                                                   ("invoice_id", invoice_id))
                   if value is not None}
        return await off_loop(self._session.ledger, account_id, limit=limit, before=before,
                              **filters)

    async def portal_url(self, account_id: str) -> str:
        return await off_loop(self._session.portal_url, account_id)

    async def pay_invoice(self, account_id: str, invoice_id: str, *,
                          idempotency_key: str) -> Invoice:
        return await off_loop(self._session.pay_invoice, account_id, invoice_id,
                              idempotency_key=idempotency_key)

    async def alert_settings(self, account_id: str) -> AlertSettings:
        return await off_loop(self._session.alert_settings, account_id)

    async def configure_alerts(self, account_id: str, *, balance_below: list[int],
                               member_usage_percent: list[int]) -> AlertSettings:
        return await off_loop(self._session.configure_alerts, account_id,
                              balance_below=balance_below,
                              member_usage_percent=member_usage_percent)

    async def alerts(self, account_id: str, *, limit: int = 100,
                     before: int | None = None) -> list[Alert]:
        return await off_loop(self._session.alerts, account_id, limit=limit, before=before)

    async def aclose(self) -> None:
        """Nothing to release (the engine thread serves every backend of the process)."""
