"""BillingSession: what one user may see and do, with the rules' order of checks.

Every method first finds the account among the caller's own (`not_found` otherwise, so an
outsider learns nothing), then checks the role, then validates the input, then acts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .. import rules
from ..models import MAX_CREDITS
from ..errors import IdempotencyConflict, InvalidRequest, NotFound
from ..models import (AutoRecharge, Balance, Context, CreditPack, Identity, Invoice,
                      LedgerEntry, MemberUsage, Plan, Subscription, UsageReceipt, UsageSeries)
from . import history, spending
from .accounts import Account, Membership
from .core import CREDIT_PACKS
from .ledger import (ACTOR, AT, BASE, D_BASE, D_PURCHASED, D_ROLLOVER, KIND, KIND_CODE,
                     MEMBER_USED, PAUSED, PERIOD_USED, PURCHASED, REF, ROLLOVER, STRIDE,
                     from_micros)

if TYPE_CHECKING:
    from .core import BillingEngine

_USAGE = KIND_CODE["usage"]
_PURCHASE = KIND_CODE["purchase"]
_RECHARGE = KIND_CODE["recharge"]
MAX_LEDGER_PAGE = 1000


class BillingSession:
    def __init__(self, engine: BillingEngine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id

    # --- access ---------------------------------------------------------------------------

    def _enter(self, account_id: object, action: str,
               now: datetime | None = None) -> tuple[Account, Membership]:
        """The caller's account, caught up with the clock, if their role allows `action`.
        Call with the engine lock held."""
        engine = self.engine
        account = engine._accounts.get(account_id) if isinstance(account_id, str) else None
        member = account.members.get(self.user_id) if account is not None else None
        if member is None:
            raise NotFound(f"no account {account_id!r}")
        if not rules.role_allows(member.role, action):
            rules.require_role(member.role, action)
        if now is None:
            now = engine.clock()
        if now >= account.period_end:
            engine._catch_up(account, now)
        return account, member

    def _may(self, member: Membership, action: str) -> bool:
        return rules.role_allows(member.role, action)

    # --- identity and reads ---------------------------------------------------------------

    def whoami(self) -> Identity:
        engine = self.engine
        with engine.lock:
            user = engine._users[self.user_id]
            contexts = []
            for account_id in [user.personal_account_id, *user.orgs]:
                account = engine._accounts[account_id]
                contexts.append(Context(account_id=account_id, kind=account.kind,
                                        name=account.name,
                                        role=account.members[self.user_id].role))
            return Identity(user_id=user.id, name=user.name, email=user.email,
                            contexts=contexts)

    def balance(self, account_id: str) -> Balance:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_balance")
            return self.engine._balance(account)

    def my_usage(self, account_id: str) -> MemberUsage:
        with self.engine.lock:
            account, member = self._enter(account_id, "view_own_usage")
            return self._member_usage(member)

    def members(self, account_id: str) -> list[MemberUsage]:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_members")
            return [self._member_usage(m) for m in account.members.values()]

    def _member_usage(self, member: Membership) -> MemberUsage:
        return MemberUsage(user_id=member.user_id, name=self.engine._users[member.user_id].name,
                           role=member.role, used_this_period=member.used, limit=member.limit)

    def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                      granularity: str = "day", group_by: str = "source",
                      top: int | None = None) -> UsageSeries:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_usage_history")
            return history.usage_series(self.engine, account, start, end, granularity,
                                        group_by, top)

    def ledger(self, account_id: str, *, limit: int = 100,
               before: int | None = None) -> list[LedgerEntry]:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_ledger")
            if not rules.is_int(limit) or not 1 <= limit <= MAX_LEDGER_PAGE:
                raise InvalidRequest(f"limit must be a whole number from 1 to "
                                     f"{MAX_LEDGER_PAGE}", field="limit")
            if before is not None and (not rules.is_int(before) or before < 1):
                raise InvalidRequest("before must be a ledger entry id", field="before")
            rows = account.ledger.rows_before(before, limit)
            return [self.engine._entry(account, row) for row in rows]

    def invoices(self, account_id: str) -> list[Invoice]:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_invoices")
            return [self.engine._invoice(account, row) for row in reversed(account.invoices)]

    def plans(self) -> list[Plan]:
        return self.engine.plan_list()

    def credit_packs(self) -> list[CreditPack]:
        return list(CREDIT_PACKS)

    def portal_url(self, account_id: str) -> str:
        with self.engine.lock:
            account, _ = self._enter(account_id, "open_portal")
            return self.engine.payments.portal_url(account.id)

    # --- usage ----------------------------------------------------------------------------

    def record_usage(self, account_id: str, credits: int, *, campaign: str,
                     idempotency_key: str) -> UsageReceipt:
        engine = self.engine
        with engine.lock:
            now = engine.clock()
            account, member = self._enter(account_id, "record_usage", now)
            if type(credits) is not int or not 0 < credits <= MAX_CREDITS:
                rules.check_credits(credits, "credits")
            # Cheap checks first; the validators run only to word the refusal.
            if type(campaign) is not str or not 0 < len(campaign) <= 200 or campaign.isspace():
                rules.check_text(campaign, "campaign")
            key = idempotency_key
            if type(key) is not str or not 0 < len(key) <= 255 or key.isspace():
                rules.check_text(key, "idempotency_key", max_length=255)
            row = account.idempotency.get(key)
            if row is not None:
                values = account.ledger.row(row)
                names = engine.names.names
                first = -(values[D_BASE] + values[D_ROLLOVER] + values[D_PURCHASED])
                if (values[KIND] != _USAGE or first != credits
                        or names[values[REF]] != campaign
                        or names[values[ACTOR]] != self.user_id):
                    raise self._conflict(key)
                return self._replayed_receipt(account, member, row)
            row, recharged = spending.debit(engine, account, member, credits, campaign, key,
                                            now)
            rows = account.ledger.rows
            at = row * STRIDE
            balance = engine._balance(account) if self._may(member, "view_balance") else None
            return UsageReceipt(
                account_id=account.id, credits=credits, campaign=campaign,
                from_base=-rows[at + D_BASE], from_rollover=-rows[at + D_ROLLOVER],
                from_purchased=-rows[at + D_PURCHASED], recharged=recharged,
                member_used_this_period=member.used, balance=balance)

    def _replayed_receipt(self, account: Account, member: Membership,
                          row: int) -> UsageReceipt:
        """The first answer to a debit, rebuilt from its ledger row for a replay."""
        engine = self.engine
        ledger = account.ledger
        values = ledger.row(row)
        recharged = 0
        if (row and ledger.get(row - 1, KIND) == _RECHARGE
                and ledger.keys[row - 1] == ledger.keys[row]):
            recharged = ledger.get(row - 1, D_PURCHASED)
        balance = None
        if self._may(member, "view_balance"):
            base, rollover, purchased = values[BASE], values[ROLLOVER], values[PURCHASED]
            reason = values[PAUSED]
            paused = reason >= 0
            start, end = _period_of(account, values[AT])
            balance = Balance(
                account_id=account.id, base=base, rollover=rollover, purchased=purchased,
                total=base + rollover + purchased, used_this_period=values[PERIOD_USED],
                period_start=start, period_end=end,
                autopilot="paused" if paused else "running",
                autopilot_reason=engine.names.names[reason] if paused else None)
        return UsageReceipt(
            account_id=account.id,
            credits=-(values[D_BASE] + values[D_ROLLOVER] + values[D_PURCHASED]),
            campaign=engine.names.names[values[REF]],
            from_base=-values[D_BASE], from_rollover=-values[D_ROLLOVER],
            from_purchased=-values[D_PURCHASED], recharged=recharged,
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
        with engine.lock:
            now = engine.clock()
            account, _ = self._enter(account_id, "purchase_credits")
            rules.check_credits(credits, "credits", whole_dollars=True)
            rules.check_text(idempotency_key, "idempotency_key", max_length=255)
            row = account.idempotency.get(idempotency_key)
            if row is not None:
                values = account.ledger.row(row)
                if (values[KIND] != _PURCHASE or values[D_PURCHASED] != credits
                        or engine.names.names[values[ACTOR]] != self.user_id):
                    raise self._conflict(idempotency_key)
            else:
                row = spending.purchase(engine, account, self.user_id, credits,
                                        idempotency_key, now)
            invoice_id = engine.names.names[account.ledger.get(row, REF)]
            invoice = next(i for i in reversed(account.invoices) if i.id == invoice_id)
            return engine._invoice(account, invoice)

    # --- auto-recharge ----------------------------------------------------------------------

    def auto_recharge(self, account_id: str) -> AutoRecharge:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_auto_recharge")
            return _auto_recharge(account)

    def configure_auto_recharge(self, account_id: str, *, enabled: bool, threshold: int,
                                amount: int, monthly_cap_cents: int | None = None
                                ) -> AutoRecharge:
        with self.engine.lock:
            account, _ = self._enter(account_id, "manage_auto_recharge")
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

    # --- members ----------------------------------------------------------------------------

    def set_member_limit(self, account_id: str, user_id: str, limit: int | None) -> MemberUsage:
        with self.engine.lock:
            account, _ = self._enter(account_id, "set_member_limit")
            member = account.members.get(user_id) if isinstance(user_id, str) else None
            if member is None:
                raise NotFound(f"no member {user_id!r} in {account.id!r}")
            if limit is not None:
                rules.check_credits(limit, "limit", allow_zero=True)
            member.limit = limit
            self.engine.mutations += 1
            return self._member_usage(member)

    # --- plans ------------------------------------------------------------------------------

    def subscription(self, account_id: str) -> Subscription:
        with self.engine.lock:
            account, _ = self._enter(account_id, "view_subscription")
            return _subscription(account)

    def change_plan(self, account_id: str, plan_id: str) -> Subscription:
        """Pending until the next close (monthly plan) or the end of the paid year (annual).
        Choosing the current plan again withdraws a pending change."""
        engine = self.engine
        with engine.lock:
            account, _ = self._enter(account_id, "change_plan")
            plan = engine._plan(plan_id, "plan_id")
            if plan.id == account.plan.id:
                account.pending_plan = account.pending_index = None
            else:
                current = account.plan
                account.pending_plan = plan
                account.pending_index = rules.next_billing_index(
                    account.period_index, account.billing_start, current.billing_period)
            engine.mutations += 1
            return _subscription(account)

    def cancel_plan_change(self, account_id: str) -> Subscription:
        with self.engine.lock:
            account, _ = self._enter(account_id, "change_plan")
            account.pending_plan = account.pending_index = None
            self.engine.mutations += 1
            return _subscription(account)


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
