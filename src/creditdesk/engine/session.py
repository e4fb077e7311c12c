"""BillingSession: what one user may see and do, with the rules' order of checks.

Every method first finds the account among the caller's own (`not_found` otherwise, so an
outsider learns nothing), then checks the role, then validates the input, then acts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from .. import rules
from ..errors import IdempotencyConflict, InvalidRequest, NotFound
from ..models import (
    MAX_CREDITS,
    Alert,
    AlertSettings,
    AutoRecharge,
    Balance,
    Context,
    CreditPack,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Plan,
    Subscription,
    UsageReceipt,
    UsageSeries,
    trusted_builder,
)
from ..store.ledger import (
    ACTOR,
    AT,
    BASE,
    D_BASE,
    D_PURCHASED,
    D_ROLLOVER,
    KIND,
    KIND_CODE,
    MEMBER_USED,
    PAUSED,
    PERIOD_USED,
    PURCHASED,
    REF,
    ROLLOVER,
    from_micros,
)
from ..store.retry import MAX_ATTEMPTS, RetryTransaction
from ..store.state import Account, Membership
from . import alerts, history, invoices, ledger_pages, pages, spending
from .core import CREDIT_PACKS

if TYPE_CHECKING:
    from .core import BillingEngine

_USAGE = KIND_CODE["usage"]
_PURCHASE = KIND_CODE["purchase"]
MAX_LEDGER_PAGE = 1000
T = TypeVar("T")
# A receipt is built from values the engine computed and checked itself: validating them
# again was a quarter of a debit (bench/engine_scale.py), so they are built trusted.
_RECEIPT = trusted_builder(UsageReceipt)
_BALANCE = trusted_builder(Balance)
# The roles each action admits, derived once from the rules' table (not on every call).
_ADMITS = {action: frozenset(role for role in rules.ROLES if rules.role_allows(role, action))
           for action in rules.REQUIRED_ROLE}
_BALANCE_VIEWERS = _ADMITS["view_balance"]
_RECORDERS = _ADMITS["record_usage"]


class BillingSession:
    def __init__(self, engine: BillingEngine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id

    # --- access ---------------------------------------------------------------------------

    def _admit(self, account: Account | None, account_id: object,
               action: str) -> Membership:
        """The caller's membership of `account` if their role allows `action`, in the
        rules' order: an account they are not in does not exist for them."""
        member = account.members.get(self.user_id) if account is not None else None
        if member is None:
            raise NotFound(f"no account {account_id!r}")
        if member.role not in _ADMITS[action]:
            rules.require_role(member.role, action)
        return member

    def _view(self, account_id: object, action: str,
              build: Callable[[Account, Membership], T]) -> T:
        return retrying(lambda: self._view_once(account_id, action, build))

    def _view_once(self, account_id: object, action: str,
                   build: Callable[[Account, Membership], T]) -> T:
        """A read: no lock unless the clock passed a period end that must be closed first
        (then it is a write, and the period is closed once whoever gets there first)."""
        engine = self.engine
        store = engine.store
        key = account_id if type(account_id) is str else ""
        now = engine.clock()
        with store.read(key) as account:
            member = self._admit(account, account_id, action)
            if now < account.period_end:
                return build(account, member)
            if store.read_locks:
                engine.catch_up(account, now)
                return build(account, member)
        with store.write(key) as account:
            member = self._admit(account, account_id, action)
            engine.catch_up(account, now)
            return build(account, member)

    def _change(self, account_id: object, action: str,
                apply: Callable[[Account, Membership], T]) -> T:
        """A write: the account locked, its passed periods closed, then `apply` (all of it
        again, on fresh state, when the database gives the transaction up)."""
        engine = self.engine

        def once() -> T:
            with engine.store.write(account_id if type(account_id) is str else "") as account:
                member = self._admit(account, account_id, action)
                engine.catch_up(account)
                return apply(account, member)
        return retrying(once)

    def _may(self, member: Membership, action: str) -> bool:
        return member.role in _ADMITS[action]

    # --- identity and reads ---------------------------------------------------------------

    def whoami(self) -> Identity:
        store = self.engine.store
        user = store.user(self.user_id)
        contexts = []
        for account_id in [user.personal_account_id, *user.orgs]:
            with store.read(account_id) as account:
                contexts.append(Context(account_id=account_id, kind=account.kind,
                                        name=account.name,
                                        role=account.members[self.user_id].role))
        return Identity(user_id=user.id, name=user.name, email=user.email, contexts=contexts)

    def balance(self, account_id: str) -> Balance:
        return self._view(account_id, "view_balance",
                          lambda account, _: self.engine.balance_model(account))

    def my_usage(self, account_id: str) -> MemberUsage:
        return self._view(account_id, "view_own_usage",
                          lambda _, member: self._member_usage(member))

    def members(self, account_id: str, *, offset: int = 0,
                limit: int | None = None) -> list[MemberUsage]:
        """In joining order; `offset`/`limit` pick a page (a `pages.Page`, with `total`)."""
        def page(account: Account, _: Membership) -> list[MemberUsage]:
            first, size = pages.check(offset, limit)
            return pages.build(pages.members(account.members, first, size),
                               self._member_usage)
        return self._view(account_id, "view_members", page)

    def _member_usage(self, member: Membership) -> MemberUsage:
        return MemberUsage(user_id=member.user_id,
                           name=self.engine.store.user(member.user_id).name,
                           role=member.role, used_this_period=member.used, limit=member.limit)

    def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                      granularity: str = "day", group_by: str = "source",
                      top: int | None = None) -> UsageSeries:
        return self._view(account_id, "view_usage_history", lambda account, _: (
            history.usage_series(self.engine.names, account, start, end, granularity,
                                 group_by, top)))

    def ledger(self, account_id: str, *, limit: int = 100, before: int | None = None,
               kind: str | None = None, user_id: str | None = None,
               campaign: str | None = None, invoice_id: str | None = None
               ) -> list[LedgerEntry]:
        def page(account: Account, _: Membership) -> list[LedgerEntry]:
            # A page larger than the cap is cut to it (the contract), not refused.
            if not rules.is_int(limit) or limit < 1:
                raise InvalidRequest(f"limit must be a whole number from 1 to "
                                     f"{MAX_LEDGER_PAGE}", field="limit")
            if before is not None and (not rules.is_int(before) or before < 1):
                raise InvalidRequest("before must be a ledger entry id", field="before")
            test = ledger_pages.row_filter(self.engine.names, kind=kind, user_id=user_id,
                                           campaign=campaign, invoice_id=invoice_id)
            rows = ledger_pages.page_rows(account.ledger, before, min(limit, MAX_LEDGER_PAGE),
                                          test)
            return [self.engine.entry_model(account, row) for row in rows]
        return self._view(account_id, "view_ledger", page)

    def invoices(self, account_id: str, *, offset: int = 0,
                 limit: int | None = None) -> list[Invoice]:
        """Newest first; `offset`/`limit` pick a page (a `pages.Page`, with `total`)."""
        def page(account: Account, _: Membership) -> list[Invoice]:
            first, size = pages.check(offset, limit)
            return pages.build(pages.invoices(account.invoices, first, size),
                               lambda row: self.engine.invoice_model(account, row))
        return self._view(account_id, "view_invoices", page)

    def plans(self) -> list[Plan]:
        return self.engine.plan_list()

    def credit_packs(self) -> list[CreditPack]:
        return list(CREDIT_PACKS)

    def portal_url(self, account_id: str) -> str:
        return self._view(account_id, "open_portal",
                          lambda account, _: self.engine.payments.portal_url(account.id))

    # --- usage ----------------------------------------------------------------------------

    def record_usage(self, account_id: str, credits: int, *, campaign: str,
                     idempotency_key: str) -> UsageReceipt:
        return retrying(self._record_usage, account_id, credits, campaign, idempotency_key)

    def _record_usage(self, account_id: str, credits: int, campaign: str,
                      idempotency_key: str) -> UsageReceipt:
        engine = self.engine
        # Spelled out rather than through _change: this is the hot path of every debit.
        with engine.store.write(account_id if type(account_id) is str else "") as account:
            member = account.members.get(self.user_id) if account is not None else None
            if member is None or member.role not in _RECORDERS:    # _admit words the refusal
                member = self._admit(account, account_id, "record_usage")
            now = engine.clock()
            if now >= account.period_end:
                engine.catch_up(account, now)
            if type(credits) is not int or not 0 < credits <= MAX_CREDITS:
                rules.check_credits(credits, "credits")
            # Cheap checks first; the validators run only to word the refusal.
            if type(campaign) is not str or not 0 < len(campaign) <= 200 or campaign.isspace():
                rules.check_text(campaign, "campaign")
            key = idempotency_key
            if type(key) is not str or not 0 < len(key) <= 255 or key.isspace():
                rules.check_text(key, "idempotency_key", max_length=255)
            # Checked under the account's lock: concurrent duplicates meet here, in order.
            row = account.idempotency.get(key)
            if row is not None:
                if row < 0:     # an invoice payment that wrote no ledger row
                    raise self._conflict(key)
                values = account.ledger.row(row)
                names = engine.names.names
                first = -(values[D_BASE] + values[D_ROLLOVER] + values[D_PURCHASED])
                if (values[KIND] != _USAGE or first != credits
                        or names[values[REF]] != campaign
                        or names[values[ACTOR]] != self.user_id):
                    raise self._conflict(key)
                return self._replayed_receipt(account, member, row, key)
            may_view = member.role in _BALANCE_VIEWERS
            from_base, from_rollover, from_purchased, recharged = spending.debit(
                engine, account, member, credits, campaign, key, now, may_view)
            return _RECEIPT(
                account_id=account.id, credits=credits, campaign=campaign,
                from_base=from_base, from_rollover=from_rollover,
                from_purchased=from_purchased, recharged=recharged,
                member_used_this_period=member.used,
                balance=engine.balance_model(account) if may_view else None)

    def _replayed_receipt(self, account: Account, member: Membership,
                          row: int, key: str) -> UsageReceipt:
        """The first answer to a debit, rebuilt from its ledger row (which holds every
        value after it) and what its first success recharged (stored with the key)."""
        engine = self.engine
        values = account.ledger.row(row)
        balance = None
        if self._may(member, "view_balance"):
            base, rollover, purchased = values[BASE], values[ROLLOVER], values[PURCHASED]
            reason = values[PAUSED]
            paused = reason >= 0
            start, end = _period_of(account, values[AT])
            balance = _BALANCE(
                account_id=account.id, base=base, rollover=rollover, purchased=purchased,
                total=base + rollover + purchased, used_this_period=values[PERIOD_USED],
                period_start=start, period_end=end,
                autopilot="paused" if paused else "running",
                autopilot_reason=engine.names.names[reason] if paused else None)
        return _RECEIPT(
            account_id=account.id,
            credits=-(values[D_BASE] + values[D_ROLLOVER] + values[D_PURCHASED]),
            campaign=engine.names.names[values[REF]],
            from_base=-values[D_BASE], from_rollover=-values[D_ROLLOVER],
            from_purchased=-values[D_PURCHASED], recharged=account.recharged.get(key, 0),
            member_used_this_period=values[MEMBER_USED], balance=balance)

    @staticmethod
    def _conflict(key: str) -> IdempotencyConflict:
        return IdempotencyConflict(f"idempotency key {key!r} was already used for a "
                                   f"different request on this account",
                                   field="idempotency_key")

    # --- purchases ------------------------------------------------------------------------

    def purchase_credits(self, account_id: str, credits: int, *,
                         idempotency_key: str) -> Invoice:
        engine = self.engine

        def buy(account: Account, _: Membership) -> Invoice:
            rules.check_credits(credits, "credits", whole_dollars=True)
            rules.check_text(idempotency_key, "idempotency_key", max_length=255)
            row = account.idempotency.get(idempotency_key)
            if row is not None and (row < 0 or idempotency_key in account.invoice_payments):
                raise self._conflict(idempotency_key)   # it paid an invoice
            if row is not None:
                values = account.ledger.row(row)
                if (values[KIND] != _PURCHASE or values[D_PURCHASED] != credits
                        or engine.names.names[values[ACTOR]] != self.user_id):
                    raise self._conflict(idempotency_key)
            else:
                row = spending.purchase(engine, account, self.user_id, credits,
                                        idempotency_key, engine.clock())
            invoice_id = engine.names.names[account.ledger.get(row, REF)]
            invoice = next(i for i in reversed(account.invoices) if i.id == invoice_id)
            return engine.invoice_model(account, invoice)
        return self._change(account_id, "purchase_credits", buy)

    def pay_invoice(self, account_id: str, invoice_id: str, *,
                    idempotency_key: str) -> Invoice:
        """Pay a failed invoice again (owner). One attempt id per call, kept across the
        store's retries of its transaction: the gateway then charges a retried transaction
        once, while the owner's next call (even with the same key, after a decline) is a
        new attempt."""
        engine = self.engine
        attempt = uuid.uuid4().hex
        return self._change(account_id, "pay_invoice", lambda account, _: invoices.pay(
            engine, account, self.user_id, invoice_id, idempotency_key, attempt,
            engine.clock()))

    # --- alerts -----------------------------------------------------------------------------

    def alert_settings(self, account_id: str) -> AlertSettings:
        return self._view(account_id, "view_alerts",
                          lambda account, _: alerts.settings_model(account))

    def configure_alerts(self, account_id: str, *, balance_below: list[int],
                         member_usage_percent: list[int]) -> AlertSettings:
        return self._change(account_id, "set_alerts", lambda account, _: alerts.configure(
            self.engine, account, balance_below, member_usage_percent))

    def alerts(self, account_id: str, *, limit: int = 100,
               before: int | None = None) -> list[Alert]:
        return self._view(account_id, "view_alerts",
                          lambda account, _: alerts.page(account, limit, before))

    # --- auto-recharge ----------------------------------------------------------------------

    def auto_recharge(self, account_id: str) -> AutoRecharge:
        return self._view(account_id, "view_auto_recharge",
                          lambda account, _: _auto_recharge(account))

    def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                amount: int, monthly_cap_cents: int | None = None
                                ) -> AutoRecharge:
        def configure(account: Account, _: Membership) -> AutoRecharge:
            if type(enabled) is not bool:
                raise InvalidRequest("enabled must be true or false", field="enabled")
            rules.check_credits(threshold, "threshold", allow_zero=True)
            rules.check_credits(amount, "amount", whole_dollars=True)
            if monthly_cap_cents is not None:
                rules.check_cents(monthly_cap_cents, "monthly_cap_cents")
            settings = account.recharge
            settings.enabled = enabled
            settings.threshold = threshold
            settings.amount = amount
            settings.cap_cents = monthly_cap_cents
            if enabled:
                settings.last_failure = None    # the owner has acted on the failure
            self.engine.mutations += 1
            return _auto_recharge(account)
        return self._change(account_id, "manage_auto_recharge", configure)

    # --- members ----------------------------------------------------------------------------

    def set_member_limit(self, account_id: str, user_id: str, limit: int | None) -> MemberUsage:
        def set_limit(account: Account, _: Membership) -> MemberUsage:
            member = account.members.get(user_id) if isinstance(user_id, str) else None
            if member is None:
                raise NotFound(f"no member {user_id!r} in {account.id!r}")
            if limit is not None:
                rules.check_credits(limit, "limit", allow_zero=True)
            member.limit = limit
            self.engine.store.save_member(account, member)
            self.engine.mutations += 1
            return self._member_usage(member)
        return self._change(account_id, "set_member_limit", set_limit)

    # --- plans ------------------------------------------------------------------------------

    def subscription(self, account_id: str) -> Subscription:
        return self._view(account_id, "view_subscription",
                          lambda account, _: _subscription(account))

    def change_plan(self, account_id: str, plan_id: str) -> Subscription:
        """Pending until the next close (monthly plan) or the end of the paid year (annual).
        Choosing the current plan again withdraws a pending change."""
        engine = self.engine

        def change(account: Account, _: Membership) -> Subscription:
            plan = engine.plan_named(plan_id, "plan_id")
            if plan.id == account.plan.id:
                account.pending_plan = account.pending_index = None
            else:
                current = account.plan
                account.pending_plan = plan
                account.pending_index = rules.next_billing_index(
                    account.period_index, account.billing_start, current.billing_period)
            engine.mutations += 1
            return _subscription(account)
        return self._change(account_id, "change_plan", change)

    def cancel_plan_change(self, account_id: str) -> Subscription:
        def cancel(account: Account, _: Membership) -> Subscription:
            account.pending_plan = account.pending_index = None
            self.engine.mutations += 1
            return _subscription(account)
        return self._change(account_id, "change_plan", cancel)


def retrying(transaction: Callable[..., T], *args: object) -> T:
    """Run `transaction(*args)`; when the store gave it up (nothing of it written), run it
    again. (Arguments rather than a closure: a debit saves making one per call.)"""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return transaction(*args)
        except RetryTransaction:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _period_of(account: Account, at_us: int) -> tuple[datetime, datetime]:
    """The credit period that held the instant `at_us` (for replayed receipts)."""
    index = rules.period_index_at(account.anchor, from_micros(at_us))
    return (rules.period_start(account.anchor, index),
            rules.period_start(account.anchor, index + 1))


def _auto_recharge(account: Account) -> AutoRecharge:
    s = account.recharge
    return AutoRecharge(account_id=account.id, enabled=s.enabled, threshold=s.threshold,
                        amount=s.amount, monthly_cap_cents=s.cap_cents,
                        spent_this_period_cents=s.spent_cents, last_failure=s.last_failure)


def _subscription(account: Account) -> Subscription:
    plan = account.plan
    renews = rules.next_billing_index(account.period_index, account.billing_start,
                                      plan.billing_period)
    pending_from = (None if account.pending_index is None
                    else rules.period_start(account.anchor, account.pending_index))
    return Subscription(account_id=account.id, plan=plan, pending_plan=account.pending_plan,
                        pending_from=pending_from, period_start=account.period_start,
                        period_end=account.period_end,
                        renews_at=rules.period_start(account.anchor, renews),
                        status="past_due" if account.past_due else "active")
