"""BillingEngine: owns every account's state and ledger, closes periods, takes payments.

All rules come from `creditdesk.rules`; this module applies them to state. Every public
method holds one re-entrant lock, so a balance check and its debit can never interleave with
another request's (the classic double-spend), whatever thread calls.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime

from .. import rules
from ..errors import AlreadyExists, InvalidRequest, NotFound
from ..models import Balance, CreditPack, Invoice, LedgerEntry, Plan
from .accounts import Account, Invoice as InvoiceRow, Membership, User
from .clock import utc_now
from .ledger import (ACTOR, AT, BASE, D_BASE, D_PURCHASED, D_ROLLOVER, ID, KIND, KIND_CODE,
                     KINDS, PURCHASED, REF, ROLLOVER, Names, from_micros, to_micros)
from .payments import TestPaymentGateway

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SYSTEM = "system"

# Suggested sizes the screens offer; any other multiple of 200 may be bought too.
CREDIT_PACKS = (
    CreditPack(id="pack-1k", credits=1_000, price_cents=500),
    CreditPack(id="pack-10k", credits=10_000, price_cents=5_000),
    CreditPack(id="pack-50k", credits=50_000, price_cents=25_000),
    CreditPack(id="pack-200k", credits=200_000, price_cents=100_000),
)


def personal_account_id(user_id: str) -> str:
    # The colon cannot appear in an org id, so personal and org ids never collide.
    return f"personal:{user_id}"


class BillingEngine:
    def __init__(self, clock: Callable[[], datetime] | None = None,
                 payments: TestPaymentGateway | None = None) -> None:
        self.clock = clock or utc_now
        self.payments = payments if payments is not None else TestPaymentGateway()
        self.lock = threading.RLock()
        self.mutations = 0              # grows on every state change (the server journals them)
        self._plans: dict[str, Plan] = {}
        self._users: dict[str, User] = {}
        self._accounts: dict[str, Account] = {}
        self.names = Names()
        self._next_entry = 1
        self._next_invoice = 1

    # --- operator set-up --------------------------------------------------------------

    def add_plan(self, plan: Plan) -> Plan:
        if not isinstance(plan, Plan):
            raise InvalidRequest("plan must be a Plan", field="plan")
        with self.lock:
            if plan.id in self._plans:
                raise AlreadyExists(f"a plan with id {plan.id!r} already exists", field="id")
            self._plans[plan.id] = plan
            self.mutations += 1
            return plan

    def add_user(self, user_id: str, *, name: str, email: str = "", plan: str) -> User:
        with self.lock:
            self._check_id(user_id, "id")
            rules.check_text(name, "name")
            if not isinstance(email, str) or len(email) > 320:
                raise InvalidRequest("email must be text of at most 320 characters",
                                     field="email")
            chosen = self._plan(plan)
            account_id = personal_account_id(user_id)
            if user_id in self._users or account_id in self._accounts:
                raise AlreadyExists(f"a user with id {user_id!r} already exists", field="id")
            user = User(user_id, name, email, account_id)
            self._users[user_id] = user
            account = Account(account_id, "personal", "Personal", chosen, self.clock())
            account.members[user_id] = Membership(user_id, self.names.code(user_id), "owner")
            self._accounts[account_id] = account
            self._start_plan(account)
            return user

    def create_org(self, org_id: str, *, name: str, owner: str, plan: str) -> Account:
        with self.lock:
            self._check_id(org_id, "id")
            rules.check_text(name, "name")
            chosen = self._plan(plan)
            user = self._user(owner, "owner")
            if org_id in self._accounts:
                raise AlreadyExists(f"an account with id {org_id!r} already exists",
                                    field="id")
            account = Account(org_id, "org", name, chosen, self.clock())
            account.members[owner] = Membership(owner, self.names.code(owner), "owner")
            user.orgs.append(org_id)
            self._accounts[org_id] = account
            self._start_plan(account)
            return account

    def add_member(self, org_id: str, user_id: str, *, role: str = "member") -> Membership:
        """Add a member, or change the role of one (an org always keeps an owner)."""
        with self.lock:
            account = self._accounts.get(org_id) if isinstance(org_id, str) else None
            if account is None or account.kind != "org":
                raise NotFound(f"no organization {org_id!r}")
            user = self._user(user_id, "user_id")
            if role not in rules.ROLE_RANK:
                raise InvalidRequest(f"role must be one of {', '.join(rules.ROLES)}, "
                                     f"got {role!r}", field="role")
            member = account.members.get(user_id)
            if member is None:
                member = Membership(user_id, self.names.code(user_id), role)
                account.members[user_id] = member
                user.orgs.append(org_id)
            elif member.role == "owner" and role != "owner" and account.owners() == 1:
                raise InvalidRequest("an organization always keeps at least one owner",
                                     field="role")
            else:
                member.role = role
            self.mutations += 1
            return member

    def session(self, user_id: str):
        from .session import BillingSession
        with self.lock:
            if not isinstance(user_id, str) or user_id not in self._users:
                raise NotFound(f"no user {user_id!r}")
        return BillingSession(self, user_id)

    # --- operator views ---------------------------------------------------------------

    def users(self) -> list[User]:
        with self.lock:
            return list(self._users.values())

    def user(self, user_id: str) -> User:
        with self.lock:
            return self._user(user_id, "user_id")

    def plan_list(self) -> list[Plan]:
        with self.lock:
            return list(self._plans.values())

    def account_ids(self) -> list[str]:
        with self.lock:
            return list(self._accounts)

    def ledger_entries(self, account_id: str) -> list[LedgerEntry]:
        """Every entry of an account, oldest first (operators and audits, not a hot path)."""
        with self.lock:
            account = self._account(account_id)
            self._catch_up(account)
            return [self._entry(account, row) for row in range(len(account.ledger))]

    @property
    def next_entry_id(self) -> int:
        """The id the next ledger entry will get (ids grow across all accounts)."""
        return self._next_entry

    def ledger_since(self, first_id: int, account_ids: list[str] | None = None
                     ) -> list[LedgerEntry]:
        """Entries with id >= first_id, oldest first: what one call just wrote, for a
        journal or an audit copy. Looks in `account_ids` first (the accounts a call named),
        and in every account when they do not hold them all."""
        with self.lock:
            expected = self._next_entry - first_id
            if expected <= 0:
                return []
            found = self._entries_from(first_id, account_ids or [])
            if len(found) != expected:
                found = self._entries_from(first_id, list(self._accounts))
            return sorted(found, key=lambda entry: entry.id)

    def _entries_from(self, first_id: int, account_ids: list[str]) -> list[LedgerEntry]:
        found = []
        for account_id in account_ids:
            account = self._accounts.get(account_id)
            if account is None:
                continue
            ledger = account.ledger
            row = len(ledger) - 1
            while row >= 0 and ledger.get(row, ID) >= first_id:
                found.append(self._entry(account, row))
                row -= 1
        return found

    def verify(self, account_id: str) -> None:
        """Check the ledger invariants of one account; raises AssertionError if broken."""
        with self.lock:
            account = self._account(account_id)
            ledger = account.ledger
            if ledger.sums() != (account.base, account.rollover, account.purchased):
                raise AssertionError(f"{account_id}: buckets differ from the ledger sums")
            if min(account.base, account.rollover, account.purchased) < 0:
                raise AssertionError(f"{account_id}: a bucket is negative")
            last = ledger.last_buckets()
            if last is not None and last != (account.base, account.rollover, account.purchased):
                raise AssertionError(f"{account_id}: last row differs from the buckets")

    # --- lookups ------------------------------------------------------------------------

    def _check_id(self, value: object, field: str) -> None:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise InvalidRequest(f"{field} must be 1-64 letters, digits, '.', '_' or '-', "
                                 f"starting with a letter or digit", field=field)

    def _plan(self, plan_id: object, field: str = "plan") -> Plan:
        plan = self._plans.get(plan_id) if isinstance(plan_id, str) else None
        if plan is None:
            raise InvalidRequest(f"no plan {plan_id!r}", field=field)
        return plan

    def _user(self, user_id: object, field: str) -> User:
        user = self._users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return user

    def _account(self, account_id: object) -> Account:
        account = self._accounts.get(account_id) if isinstance(account_id, str) else None
        if account is None:
            raise NotFound(f"no account {account_id!r}")
        return account

    # --- periods ------------------------------------------------------------------------

    def _start_plan(self, account: Account) -> None:
        self.mutations += 1
        self._open_period(account, 0)

    def _catch_up(self, account: Account, now: datetime | None = None) -> None:
        """Close every period the clock has passed, each stamped at its own boundary."""
        if now is None:
            now = self.clock()
        while now >= account.period_end:
            self._close_period(account)

    def _close_period(self, account: Account) -> None:
        index = account.period_index + 1
        at = account.period_end
        if account.pending_index == index:
            account.plan = account.pending_plan
            account.billing_start = index
            account.pending_plan = account.pending_index = None
        base, rollover = account.base, account.rollover
        _, kept, forfeited = rules.close_period(base, rollover, account.plan.rollover_cap, 0)
        if base:
            account.base = 0
            account.rollover = rollover + base
            self._system_entry(account, at, "rollover", -base, base, 0)
        if forfeited:
            account.rollover = kept
            self._system_entry(account, at, "forfeit", 0, -forfeited, 0)
        self._open_period(account, index)

    def _open_period(self, account: Account, index: int) -> None:
        at = rules.period_start(account.anchor, index)
        account.period_index = index
        account.period_start = at
        account.period_end = rules.period_start(account.anchor, index + 1)
        account.used = 0
        for member in account.members.values():
            member.used = 0
        account.recharge.spent_cents = 0
        plan = account.plan
        if plan.price_cents and rules.is_billing_period(index, account.billing_start,
                                                        plan.billing_period):
            self._bill_subscription(account, at)
        if plan.base_credits_per_month:
            account.base += plan.base_credits_per_month
            self._system_entry(account, at, "grant", plan.base_credits_per_month, 0, 0)
        self._credits_added(account)
        if account.total == 0 and not account.paused:
            self._pause(account, "The balance is 0 credits. Buy credits or enable "
                                 "auto-recharge to resume work.")
        self.mutations += 1

    def _bill_subscription(self, account: Account, at: datetime) -> None:
        plan = account.plan
        every = "year" if plan.billing_period == "annual" else "month"
        description = f"{plan.name} plan, one {every} from {at:%Y-%m-%d}"
        paid = self._charge(account, at, "subscription", 0, plan.price_cents, description)
        # A card problem the owner can fix never stops work: the grant happens either way.
        account.past_due = not paid

    # --- money ----------------------------------------------------------------------------

    def _charge(self, account: Account, at: datetime, kind: str, credits: int,
                cents: int, description: str) -> InvoiceRow | None:
        """Charge the gateway and issue the invoice; the paid invoice, or None if declined."""
        result = self.payments.charge(account.id, cents, description)
        number = self._next_invoice
        self._next_invoice += 1
        invoice = InvoiceRow(f"in_{number:06d}", f"CD-{number:06d}", at, kind, credits, cents,
                             "paid" if result.ok else "failed",
                             description if result.ok else f"{description} (declined: "
                                                           f"{result.reason})",
                             result.method)
        account.invoices.append(invoice)
        self.mutations += 1
        if result.ok:
            account.past_due = False    # the next successful payment clears past due
            return invoice
        return None

    def _credits_added(self, account: Account) -> None:
        if account.paused and account.total > 0:
            account.paused = False
            account.pause_reason = None

    def _pause(self, account: Account, reason: str) -> None:
        account.paused = True
        account.pause_reason = reason

    # --- the ledger ---------------------------------------------------------------------

    def _append(self, account: Account, at_us: int, kind: str, actor: int, d_base: int,
                d_rollover: int, d_purchased: int, ref: int = -1, key: str | None = None,
                member_used: int = 0) -> int:
        """Append a row whose changes are already applied to the account's buckets."""
        entry_id = self._next_entry
        self._next_entry = entry_id + 1
        base, rollover, purchased = account.base, account.rollover, account.purchased
        # Invariant kept on in production (TigerBeetle-style): a bucket below zero is a bug
        # that must stop the write, not a state to carry on from.
        if base < 0 or rollover < 0 or purchased < 0:
            raise AssertionError(f"{account.id}: negative bucket after {kind}")
        self.mutations += 1
        return account.ledger.append(
            (entry_id, at_us, KIND_CODE[kind], actor, d_base, d_rollover, d_purchased, base,
             rollover, purchased, ref, member_used, account.used,
             self.names.code(account.pause_reason) if account.paused else -1), key)

    def _system_entry(self, account: Account, at: datetime, kind: str, d_base: int,
                      d_rollover: int, d_purchased: int, ref: str | None = None) -> int:
        return self._append(account, to_micros(at), kind, self.names.code(SYSTEM), d_base,
                            d_rollover, d_purchased,
                            -1 if ref is None else self.names.code(ref))

    def _entry(self, account: Account, row: int) -> LedgerEntry:
        values = account.ledger.row(row)
        names = self.names.names
        ref = values[REF]
        return LedgerEntry(
            id=values[ID], account_id=account.id, at=from_micros(values[AT]),
            kind=KINDS[values[KIND]], actor=names[values[ACTOR]], base=values[D_BASE],
            rollover=values[D_ROLLOVER], purchased=values[D_PURCHASED],
            balance_after=values[BASE] + values[ROLLOVER] + values[PURCHASED],
            ref=None if ref < 0 else names[ref], idempotency_key=account.ledger.keys[row])

    # --- boundary models ----------------------------------------------------------------

    def _balance(self, account: Account) -> Balance:
        return Balance(
            account_id=account.id, base=account.base, rollover=account.rollover,
            purchased=account.purchased, total=account.total, used_this_period=account.used,
            period_start=account.period_start, period_end=account.period_end,
            autopilot="paused" if account.paused else "running",
            autopilot_reason=account.pause_reason)

    @staticmethod
    def _invoice(account: Account, row: InvoiceRow) -> Invoice:
        return Invoice(id=row.id, number=row.number, account_id=account.id,
                       created_at=row.created_at, kind=row.kind, credits=row.credits,
                       amount_cents=row.amount_cents, status=row.status,
                       description=row.description, payment_method=row.payment_method)
