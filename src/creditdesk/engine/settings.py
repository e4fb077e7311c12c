"""The settings part of a session: alerts, auto-recharge, member limits and plans."""

from __future__ import annotations

from .. import rules
from ..errors import InvalidRequest, NotFound
from ..models import Alert, AlertSettings, AutoRecharge, MemberUsage, Subscription
from ..store.state import Account, Membership
from . import alerts
from .access import SessionAccess


class SessionSettings(SessionAccess):
    """What owners and admins configure; `BillingSession` adds the reads and the money."""

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
