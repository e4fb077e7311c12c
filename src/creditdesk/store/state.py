"""The books of one account as plain slotted objects: what a store keeps and the engine edits."""

from __future__ import annotations

from bisect import bisect_left
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


# A subclass's `self[key]` goes through its type's generic subscript slot (the dict's
# `__getitem__` is a method, not a slot wrapper): calling the dict's own method is a
# quarter of that, and still ends in `__missing__` for a new day.
_day = dict.__getitem__


class DayRollups(dict):
    """Day index (days since the epoch) -> DayUsage: the memory store's usage roll-ups."""

    __slots__ = ()

    def __missing__(self, day_index: int) -> DayUsage:
        # Only `add` indexes the days (readers use `get` and `between`): a day's first
        # debit makes its entry, the others find it by the dict's own look-up.
        day = self[day_index] = DayUsage()
        return day

    def add(self, day_index: int, from_base: int, from_rollover: int, from_purchased: int,
            member: int, campaign: int, credits: int) -> None:
        """Count one debit (member and campaign are Names codes)."""
        day = _day(self, day_index)
        # Most debits take from one bucket: the others' sums are left as they are.
        if from_base:
            day.base += from_base
        if from_rollover:
            day.rollover += from_rollover
        if from_purchased:
            day.purchased += from_purchased
        by_member = day.by_member
        by_member[member] = by_member.get(member, 0) + credits
        by_campaign = day.by_campaign
        by_campaign[campaign] = by_campaign.get(campaign, 0) + credits

    def between(self, first_day: int, last_day: int,
                only: tuple[str, list[int]] | None = None) -> list[tuple[int, DayUsage]]:
        """The days with usage in [first_day, last_day), oldest first. (`only` lets a
        store that must fetch the days fetch fewer keys; these are at hand: all of them.)"""
        return [(index, day) for index in range(first_day, last_day)
                if (day := self.get(index)) is not None]

    def key_totals(self, first_day: int, last_day: int, attribute: str) -> dict[int, int]:
        """Credits per key (Names code) of the split `attribute` ("by_member" or
        "by_campaign") over [first_day, last_day)."""
        totals: dict[int, int] = {}
        for _, day in self.between(first_day, last_day):
            for code, credits in getattr(day, attribute).items():
                totals[code] = totals.get(code, 0) + credits
        return totals


class Invoice:
    __slots__ = (
        "amount_cents",
        "created_at",
        "credits",
        "description",
        "id",
        "key",
        "kind",
        "number",
        "paid_at",
        "payment_method",
        "status",
    )

    def __init__(self, invoice_id: str, number: str, created_at: datetime, kind: str,
                 credits: int, amount_cents: int, status: str, description: str,
                 payment_method: str, *, key: str | None = None,
                 paid_at: datetime | None = None) -> None:
        self.id = invoice_id
        self.number = number
        self.created_at = created_at
        self.kind = kind
        self.credits = credits
        self.amount_cents = amount_cents
        self.status = status
        self.description = description
        self.payment_method = payment_method
        # A purchase's idempotency key: a failed purchase whose key later succeeded is
        # superseded (paying it would buy twice). None for subscriptions and recharges.
        self.key = key
        # When it was paid: at issue (created_at), or by a later pay_invoice.
        self.paid_at = paid_at if paid_at is not None or status != "paid" else created_at


class InvoiceList(list):
    """The memory store's invoices, oldest first, with the look-ups paying one needs (the
    SQL store's `SqlInvoices` answers the same calls with queries)."""

    __slots__ = ()

    def find(self, invoice_id: str) -> Invoice | None:
        return next((i for i in self if i.id == invoice_id), None)

    def latest_of_kind(self, kind: str) -> Invoice | None:
        return next((i for i in reversed(self) if i.kind == kind), None)

    def newest(self, offset: int, limit: int | None) -> list[Invoice]:
        """Newest first, from `offset`, at most `limit` (None: all the rest)."""
        stop = len(self) - offset
        start = 0 if limit is None else max(0, stop - limit)
        return self[start:max(stop, 0)][::-1]

    def mark_paid(self, invoice: Invoice, paid_at: datetime) -> None:
        invoice.status = "paid"
        invoice.paid_at = paid_at


# One alert as the stores keep it: (id, at_us, kind, user_id, threshold, balance_after,
# message), user_id and threshold None where the kind has none.
AlertRow = tuple


class AlertLog:
    """The memory store's alerts of one account, append only, ids growing (they are taken
    under the account's lock from a counter that only grows)."""

    __slots__ = ("ids", "rows")

    def __init__(self) -> None:
        self.rows: list[AlertRow] = []
        self.ids: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, row: AlertRow) -> None:
        self.rows.append(row)
        self.ids.append(row[0])

    def page(self, before: int | None, limit: int) -> list[AlertRow]:
        """Up to `limit` alerts with id < `before` (all when None), newest first."""
        end = len(self.ids) if before is None else bisect_left(self.ids, before)
        return self.rows[max(0, end - limit):end][::-1]


EMPTY_BAND = (1, 0)     # holds no balance


class AlertConfig:
    """An account's alert settings and the state they need between operations.

    `armed`: the thresholds the balance has been at or above since they last fired (what
    makes balance_below once per crossing). `marks`: (user id, mark) -> the period index it
    was raised in, mark P for member_usage P and 0 for member_limit_reached; a mark of an
    earlier period is simply stale, so a close needs to clear nothing."""

    __slots__ = ("armed", "balance_below", "band", "marks", "member_usage_percent", "saved")

    def __init__(self) -> None:
        self.balance_below: list[int] = []
        self.member_usage_percent: list[int] = []
        self.armed: frozenset[int] = frozenset()
        self.marks: dict[tuple[str, int], int] = {}
        self.saved: tuple | None = None     # the SQL store's copy as loaded (to save changes)
        # The engine's cache for the debit path: the balances between two neighbouring
        # thresholds the last debit ended in (never stored; empty until first computed).
        self.band: tuple[int, int] = EMPTY_BAND

    def snapshot(self) -> tuple:
        return (tuple(self.balance_below), tuple(self.member_usage_percent),
                tuple(sorted(self.armed)))


class Account:
    __slots__ = (
        "alerting",
        "alerts",
        "anchor",
        "answers",
        "base",
        "billing_start",
        "days",
        "id",
        "idempotency",
        "invoice_payments",
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
        self.invoices = InvoiceList()
        # pay_invoice key -> (invoice id, user id, paid at µs) of the call that paid it.
        self.invoice_payments: dict[str, tuple[str, str, int]] = {}
        self.alerting = AlertConfig()
        self.alerts = AlertLog()
        self.idempotency: dict[str, int] = {}   # key -> ledger row of its first success
        # key -> credits its first success recharged (only when > 0): a replay must say
        # what the first answer said, not guess it from the rows around it.
        self.recharged: dict[str, int] = {}
        self.days = DayRollups()                # days since the epoch -> usage
        # key -> first answer JSON kept as given: the SQL store's every answer; in memory
        # only answers recorded elsewhere (a journal's, by the upgrade). The memory store
        # rebuilds the others from the books (store/first_answers.py says why).
        self.answers: dict[str, str] = {}

    @property
    def total(self) -> int:
        return self.base + self.rollover + self.purchased

    def owners(self) -> int:
        return sum(1 for m in self.members.values() if m.role == "owner")
