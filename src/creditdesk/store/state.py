"""The books of one account as plain slotted objects: what a store keeps and the engine edits."""

from __future__ import annotations

from datetime import datetime

from ..models import Plan
from .ledger import Ledger


class User:
    __slots__ = ("email", "id", "name", "orgs", "personal_account_id")

    def __init__(self, user_id: str, name: str, email: str, personal_account_id: str) -> None:
        self.id = user_id
        self.name = name
        self.email = email
        self.personal_account_id = personal_account_id
        self.orgs: list[str] = []       # org ids in the order the user joined them

    def __repr__(self) -> str:
        return f"User({self.id!r}, personal_account_id={self.personal_account_id!r})"


class Membership:
    __slots__ = ("code", "limit", "role", "used", "user_id")

    def __init__(self, user_id: str, code: int, role: str) -> None:
        self.user_id = user_id
        self.code = code                # the user's Names code, for ledger rows and roll-ups
        self.role = role
        self.limit: int | None = None
        self.used = 0                   # credits debited this period


class AutoRechargeState:
    __slots__ = ("amount", "cap_cents", "enabled", "last_failure", "spent_cents", "threshold")

    def __init__(self) -> None:
        self.enabled = False
        self.threshold = 0
        self.amount = 0
        self.cap_cents: int | None = None
        self.spent_cents = 0            # spent by auto-recharge this credit period
        self.last_failure: str | None = None


class DayUsage:
    """Credits used in one UTC day, kept as debits happen so history never rescans the ledger."""

    __slots__ = ("base", "by_campaign", "by_member", "purchased", "rollover")

    def __init__(self) -> None:
        self.base = 0
        self.rollover = 0
        self.purchased = 0
        self.by_member: dict[int, int] = {}
        self.by_campaign: dict[int, int] = {}


class DayRollups(dict):
    """Day index (days since the epoch) -> DayUsage: the memory store's usage roll-ups."""

    __slots__ = ()

    def add(self, day_index: int, from_base: int, from_rollover: int, from_purchased: int,
            member: int, campaign: int, credits: int) -> None:
        """Count one debit (member and campaign are Names codes)."""
        day = self.get(day_index)
        if day is None:
            day = self[day_index] = DayUsage()
        day.base += from_base
        day.rollover += from_rollover
        day.purchased += from_purchased
        by_member = day.by_member
        by_member[member] = by_member.get(member, 0) + credits
        by_campaign = day.by_campaign
        by_campaign[campaign] = by_campaign.get(campaign, 0) + credits

    def between(self, first_day: int, last_day: int) -> list[tuple[int, DayUsage]]:
        """The days with usage in [first_day, last_day), oldest first."""
        return [(index, day) for index in range(first_day, last_day)
                if (day := self.get(index)) is not None]


class Invoice:
    __slots__ = (
        "amount_cents",
        "created_at",
        "credits",
        "description",
        "id",
        "kind",
        "number",
        "payment_method",
        "status",
    )

    def __init__(self, invoice_id: str, number: str, created_at: datetime, kind: str,
                 credits: int, amount_cents: int, status: str, description: str,
                 payment_method: str) -> None:
        self.id = invoice_id
        self.number = number
        self.created_at = created_at
        self.kind = kind
        self.credits = credits
        self.amount_cents = amount_cents
        self.status = status
        self.description = description
        self.payment_method = payment_method


class Account:
    __slots__ = (
        "anchor",
        "base",
        "billing_start",
        "days",
        "id",
        "idempotency",
        "invoices",
        "kind",
        "ledger",
        "members",
        "name",
        "past_due",
        "pause_reason",
        "paused",
        "pending_index",
        "pending_plan",
        "period_end",
        "period_index",
        "period_start",
        "plan",
        "purchased",
        "recharge",
        "recharged",
        "rollover",
        "used",
    )

    def __init__(self, account_id: str, kind: str, name: str, plan: Plan,
                 anchor: datetime) -> None:
        self.id = account_id
        self.kind = kind                # "personal" or "org"
        self.name = name
        self.plan = plan
        self.anchor = anchor            # the plan start: periods are whole months from it
        self.period_index = -1          # no period opened yet
        self.period_start = anchor
        self.period_end = anchor
        self.base = 0
        self.rollover = 0
        self.purchased = 0
        self.paused = False
        self.pause_reason: str | None = None
        self.members: dict[str, Membership] = {}
        self.pending_plan: Plan | None = None
        self.pending_index: int | None = None  # the period whose close applies pending_plan
        self.billing_start = 0          # period index where the current plan's billing began
        self.past_due = False
        self.recharge = AutoRechargeState()
        self.used = 0                   # credits debited this period, all members
        self.ledger = Ledger()
        self.invoices: list[Invoice] = []
        self.idempotency: dict[str, int] = {}   # key -> ledger row of its first success
        # key -> credits its first success recharged (only when > 0): a replay must say
        # what the first answer said, not guess it from the rows around it.
        self.recharged: dict[str, int] = {}
        self.days = DayRollups()                # days since the epoch -> usage

    @property
    def total(self) -> int:
        return self.base + self.rollover + self.purchased

    def owners(self) -> int:
        return sum(1 for m in self.members.values() if m.role == "owner")
