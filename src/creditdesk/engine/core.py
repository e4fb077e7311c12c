"""BillingEngine: applies the rules to the accounts of its store, closes periods, pays.

All rules come from `creditdesk.rules`; this module applies them to state. Every change runs
inside one transaction of the store on one account (`store.write`), which holds that
account's lock, so a balance check and its debit can never interleave with another
request's (the classic double-spend), whatever thread or worker calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from .. import invoice_rules, rules
from ..errors import AlreadyExists, InvalidRequest, NotFound
from ..models import Balance, CreditPack, Invoice, LedgerEntry, Plan, trusted_builder
from ..store import MemoryStore
from ..store.first_answers import invoice_answer
from ..store.ledger import (
    ACTOR,
    AT,
    BASE,
    D_BASE,
    D_PURCHASED,
    D_ROLLOVER,
    DAY_US,
    ID,
    KIND,
    KIND_CODE,
    KINDS,
    PURCHASED,
    REF,
    ROLLOVER,
    from_micros,
    to_micros,
)
from ..store.state import Account, Membership, User
from ..store.state import Invoice as InvoiceRow
from . import alerts
from .clock import micros_reader, utc_now
from .payments import TestPaymentGateway

_BALANCE = trusted_builder(Balance)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SYSTEM = "system"
# How many period ends `period_ends_us` holds before it starts again (one or two an
# account is the usual; a SQL server meets each account's ends as new objects, by value).
MAX_PERIOD_ENDS = 100_000

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
                 payments: TestPaymentGateway | None = None, store=None) -> None:
        self.clock = clock or utc_now
        self.payments = payments if payments is not None else TestPaymentGateway()
        self.store = store if store is not None else MemoryStore()
        self.names = self.store.names
        self.mutations = 0              # grows on every state change (tests check refusals)
        # Campaign names that passed the rules' text check in a debit that went through,
        # with their Names code: a debit naming one of them skips the check and the look-up
        # (the same few names come back on almost every debit). Filled only by successes,
        # so refused debits cannot grow it.
        self.campaign_codes: dict[str, int] = {}
        # Period ends (datetimes) -> their micros, so the debit's "has the clock passed the
        # period's end?" compares two integers (see `catch_up_micros`).
        self.period_ends_us: dict[datetime, int] = {}
        # The UTC day the last debit fell in: its first micro, the next day's, its index.
        self.today = (0, 0, 0)

    @property
    def clock(self) -> Callable[[], datetime]:
        """Where `now` comes from (the contract's `clock()`: an aware UTC datetime)."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        # What the debit calls for its time: micros, as the ledger stores them (a
        # ManualClock's bound `micros`, the real clock's `time_ns`): no datetime per debit.
        self.read_micros = micros_reader(clock)

    # --- operator set-up --------------------------------------------------------------

    def add_plan(self, plan: Plan) -> Plan:
        if not isinstance(plan, Plan):
            raise InvalidRequest("plan must be a Plan", field="plan")
        store = self.store
        with store.catalogue():
            if store.plan(plan.id) is not None:
                raise AlreadyExists(f"a plan with id {plan.id!r} already exists", field="id")
            store.insert_plan(plan)
            self.mutations += 1
            return plan

    def add_user(self, user_id: str, *, name: str, email: str = "", plan: str) -> User:
        store = self.store
        with store.catalogue():
            self._check_id(user_id, "id")
            rules.check_text(name, "name")
            if not isinstance(email, str) or len(email) > 320:
                raise InvalidRequest("email must be text of at most 320 characters",
                                     field="email")
            chosen = self.plan_named(plan)
            account_id = personal_account_id(user_id)
            if store.user(user_id) is not None or store.has_account(account_id):
                raise AlreadyExists(f"a user with id {user_id!r} already exists", field="id")
            user = User(user_id, name, email, account_id)
            store.insert_user(user)
            account = Account(account_id, "personal", "Personal", chosen, self.clock())
            account.members[user_id] = Membership(user_id, self.names.code(user_id), "owner")
            self._start_plan(account)
            store.insert_account(account)
            return user

    def create_org(self, org_id: str, *, name: str, owner: str, plan: str) -> Account:
        store = self.store
        with store.catalogue():
            self._check_id(org_id, "id")
            rules.check_text(name, "name")
            chosen = self.plan_named(plan)
            user = self._user(owner, "owner")
            if store.has_account(org_id):
                raise AlreadyExists(f"an account with id {org_id!r} already exists",
                                    field="id")
            account = Account(org_id, "org", name, chosen, self.clock())
            account.members[owner] = Membership(owner, self.names.code(owner), "owner")
            self._start_plan(account)
            store.insert_account(account)
            store.join_org(user, org_id)
            return account

    def add_member(self, org_id: str, user_id: str, *, role: str = "member") -> Membership:
        """Add a member, or change the role of one (an org always keeps an owner)."""
        store = self.store
        with store.catalogue():
            user = self._user(user_id, "user_id") if self._is_org(org_id) else None
            with store.write(org_id) as account:
                if account is None or account.kind != "org":
                    raise NotFound(f"no organization {org_id!r}")
                if role not in rules.ROLE_RANK:
                    raise InvalidRequest(f"role must be one of {', '.join(rules.ROLES)}, "
                                         f"got {role!r}", field="role")
                member = account.members.get(user_id)
                if member is None:
                    member = Membership(user_id, self.names.code(user_id), role)
                    account.members[user_id] = member
                    store.join_org(user, org_id)
                elif member.role == "owner" and role != "owner" and account.owners() == 1:
                    raise InvalidRequest("an organization always keeps at least one owner",
                                         field="role")
                else:
                    member.role = role
                store.save_member(account, member)
                self.mutations += 1
                return member

    def _is_org(self, org_id: object) -> bool:
        if not isinstance(org_id, str) or not self.store.has_account(org_id):
            raise NotFound(f"no organization {org_id!r}")
        return True

    def session(self, user_id: str):
        from .session import BillingSession
        if not isinstance(user_id, str) or self.store.user(user_id) is None:
            raise NotFound(f"no user {user_id!r}")
        return BillingSession(self, user_id)

    # --- operator views ---------------------------------------------------------------

    def users(self) -> list[User]:
        return self.store.users()

    def user(self, user_id: str) -> User:
        return self._user(user_id, "user_id")

    def plan_list(self) -> list[Plan]:
        return self.store.plans()

    def account_ids(self) -> list[str]:
        return self.store.account_ids()

    def ledger_entries(self, account_id: str) -> list[LedgerEntry]:
        """Every entry of an account, oldest first (operators and audits, not a hot path)."""
        with self.opened(account_id) as account:
            return [self.entry_model(account, row) for row in range(len(account.ledger))]

    @property
    def next_entry_id(self) -> int:
        """The id the next ledger entry will get (ids grow across all accounts)."""
        return self.store.next_entry_id

    def ledger_since(self, first_id: int, account_ids: list[str] | None = None
                     ) -> list[LedgerEntry]:
        """Entries with id >= first_id, oldest first: what one call just wrote, for a
        journal or an audit copy. Looks in `account_ids` first (the accounts a call named),
        and in every account when they do not hold them all."""
        expected = self.store.next_entry_id - first_id
        if expected <= 0:
            return []
        found = self._entries_from(first_id, account_ids or [])
        if len(found) != expected:
            found = self._entries_from(first_id, self.store.account_ids())
        return sorted(found, key=lambda entry: entry.id)

    def _entries_from(self, first_id: int, account_ids: list[str]) -> list[LedgerEntry]:
        found = []
        for account_id in account_ids:
            with self.store.read(account_id) as account:
                if account is None:
                    continue
                ledger = account.ledger
                row = len(ledger) - 1
                while row >= 0 and ledger.get(row, ID) >= first_id:
                    found.append(self.entry_model(account, row))
                    row -= 1
        return found

    def verify(self, account_id: str) -> None:
        """Check the ledger invariants of one account; raises AssertionError if broken."""
        with self.store.read(account_id) as account:
            if account is None:
                raise NotFound(f"no account {account_id!r}")
            ledger = account.ledger
            if ledger.sums() != (account.base, account.rollover, account.purchased):
                raise AssertionError(f"{account_id}: buckets differ from the ledger sums")
            if min(account.base, account.rollover, account.purchased) < 0:
                raise AssertionError(f"{account_id}: a bucket is negative")
            last = ledger.last_buckets()
            if last is not None and last != (account.base, account.rollover, account.purchased):
                raise AssertionError(f"{account_id}: last row differs from the buckets")

    # --- transactions -------------------------------------------------------------------

    @contextmanager
    def opened(self, account_id: object, now: datetime | None = None) -> Iterator[Account]:
        """The account in a write transaction, its passed periods closed (NotFound if none).
        Operator paths only: sessions check membership before anything else."""
        with self.store.write(account_id if isinstance(account_id, str) else "") as account:
            if account is None:
                raise NotFound(f"no account {account_id!r}")
            self.catch_up(account, now)
            yield account

    # --- lookups ------------------------------------------------------------------------

    def _check_id(self, value: object, field: str) -> None:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise InvalidRequest(f"{field} must be 1-64 letters, digits, '.', '_' or '-', "
                                 f"starting with a letter or digit", field=field)

    def plan_named(self, plan_id: object, field: str = "plan") -> Plan:
        plan = self.store.plan(plan_id) if isinstance(plan_id, str) else None
        if plan is None:
            raise InvalidRequest(f"no plan {plan_id!r}", field=field)
        return plan

    def _user(self, user_id: object, field: str) -> User:
        user = self.store.user(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return user

    # --- periods ------------------------------------------------------------------------

    def _start_plan(self, account: Account) -> None:
        self.mutations += 1
        self._open_period(account, 0)

    def catch_up(self, account: Account, now: datetime | None = None) -> None:
        """Close every period the clock has passed, each stamped at its own boundary."""
        if now is None:
            now = self.clock()
        while now >= account.period_end:
            self._close_period(account)

    def catch_up_micros(self, account: Account, at_us: int) -> None:
        """`catch_up` at `at_us` for the debit, which calls it when the period's end is not
        in `period_ends_us` yet or `at_us` reached it; remembers the end it leaves."""
        ends = self.period_ends_us
        if len(ends) >= MAX_PERIOD_ENDS:      # a long-lived process: never unbounded
            ends.clear()
        end = account.period_end
        if at_us >= ends.setdefault(end, to_micros(end)):
            self.catch_up(account, from_micros(at_us))
            end = account.period_end
            ends[end] = to_micros(end)

    def enter_day(self, at_us: int) -> int:
        """The index of the UTC day `at_us` falls in (days since the epoch), kept as
        `today` with its span for the debits after it."""
        index = at_us // DAY_US
        self.today = (index * DAY_US, (index + 1) * DAY_US, index)
        return index

    def _close_period(self, account: Account) -> None:
        index = account.period_index + 1
        at = account.period_end
        if account.pending_index == index:
            account.plan = account.pending_plan
            account.billing_start = index
            account.pending_plan = account.pending_index = None
        base, rollover = account.base, account.rollover
        before, was_running = account.total, not account.paused
        _, kept, forfeited = rules.close_period(base, rollover, account.plan.rollover_cap, 0)
        if base:
            account.base = 0
            account.rollover = rollover + base
            self._system_entry(account, at, "rollover", -base, base, 0)
        if forfeited:
            account.rollover = kept
            self._system_entry(account, at, "forfeit", 0, -forfeited, 0)
        declined = self._open_period(account, index)
        # The close as one operation: its forfeit and its grant together, at its boundary.
        alerts.after_close(self, account, before, was_running, declined, at)

    def _open_period(self, account: Account, index: int) -> bool:
        """Open period `index`; True when its subscription payment was declined."""
        at = rules.period_start(account.anchor, index)
        account.period_index = index
        account.period_start = at
        account.period_end = rules.period_start(account.anchor, index + 1)
        account.used = 0
        for member in account.members.values():
            member.used = 0
        account.recharge.spent_cents = 0
        plan = account.plan
        declined = False
        if not plan.price_cents:
            account.past_due = False    # a period on a free plan counts as paid
        elif rules.is_billing_period(index, account.billing_start, plan.billing_period):
            declined = not self._bill_subscription(account, at)
        if plan.base_credits_per_month:
            account.base += plan.base_credits_per_month
            self._system_entry(account, at, "grant", plan.base_credits_per_month, 0, 0)
        self.credits_added(account)
        if account.total == 0 and not account.paused:
            self.pause(account, "The balance is 0 credits.")  # the cause; readers word the fix
        self.mutations += 1
        return declined

    def _bill_subscription(self, account: Account, at: datetime) -> bool:
        """Charge the period's subscription; True when it was paid."""
        plan = account.plan
        every = "year" if plan.billing_period == "annual" else "month"
        description = f"{plan.name} plan, one {every} from {at:%Y-%m-%d}"
        paid = self.charge(account, at, "subscription", 0, plan.price_cents, description,
                           f"{account.id}/subscription/{account.period_index}")
        # A card problem the owner can fix never stops work: the grant happens either way.
        # Only a subscription invoice decides past due: the subscription is what is owed.
        account.past_due = paid is None
        return paid is not None

    # --- money ----------------------------------------------------------------------------

    def charge(self, account: Account, at: datetime, kind: str, credits: int,
               cents: int, description: str, payment_key: str,
               key: str | None = None) -> InvoiceRow | None:
        """Charge the gateway and issue the invoice; the paid invoice, or None if declined.

        `payment_key` names the account and the operation (the period it pays for, or the
        idempotency key with the count of invoices before it): a transaction retried on
        the same state makes the same key, and the gateway answers it without charging
        twice. `key`, a purchase's idempotency key, stays on the invoice (superseded
        failed purchases are found by it)."""
        result = self.payments.charge(account.id, cents, description, payment_key)
        number = self.store.take_invoice_number()
        invoice = InvoiceRow(f"in_{number:06d}", f"CD-{number:06d}", at, kind, credits, cents,
                             "paid" if result.ok else "failed",
                             description if result.ok
                             else f"{description}{invoice_rules.DECLINE_NOTE}{result.reason})",
                             result.method, key=key)
        account.invoices.append(invoice)
        self.mutations += 1
        return invoice if result.ok else None

    def credits_added(self, account: Account) -> None:
        if account.paused and account.total > 0:
            account.paused = False
            account.pause_reason = None

    def pause(self, account: Account, reason: str) -> None:
        account.paused = True
        account.pause_reason = reason

    # --- the ledger ---------------------------------------------------------------------

    def append_entry(self, account: Account, at_us: int, kind: str, actor: int, d_base: int,
                     d_rollover: int, d_purchased: int, ref: int = -1,
                     key: str | None = None, member_used: int = 0) -> int:
        """Append a row whose changes are already applied to the account's buckets."""
        entry_id = self.store.take_entry_id()
        base, rollover, purchased = account.base, account.rollover, account.purchased
        # Invariant kept on in production (TigerBeetle-style): a bucket below zero is a bug
        # that must stop the write, not a state to carry on from. (Three comparisons: the
        # interpreter's own for small integers, where an OR of them is a generic call.)
        if base < 0 or rollover < 0 or purchased < 0:
            raise AssertionError(f"{account.id}: negative bucket after {kind}")
        self.mutations += 1
        return account.ledger.append(
            (entry_id, at_us, KIND_CODE[kind], actor, d_base, d_rollover, d_purchased, base,
             rollover, purchased, ref, member_used, account.used,
             self.names.code(account.pause_reason) if account.paused else -1), key)

    def _system_entry(self, account: Account, at: datetime, kind: str, d_base: int,
                      d_rollover: int, d_purchased: int, ref: str | None = None) -> int:
        return self.append_entry(account, to_micros(at), kind, self.names.code(SYSTEM), d_base,
                            d_rollover, d_purchased,
                            -1 if ref is None else self.names.code(ref))

    def entry_model(self, account: Account, row: int) -> LedgerEntry:
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

    def balance_model(self, account: Account) -> Balance:
        # Built trusted: every value is the engine's own (and this runs with each receipt).
        return _BALANCE(
            account_id=account.id, base=account.base, rollover=account.rollover,
            purchased=account.purchased, total=account.total, used_this_period=account.used,
            period_start=account.period_start, period_end=account.period_end,
            autopilot="paused" if account.paused else "running",
            autopilot_reason=account.pause_reason)

    @staticmethod
    def invoice_model(account: Account, row: InvoiceRow) -> Invoice:
        # One mapping, shared with the rebuild of a first answer (store/first_answers.py).
        return invoice_answer(account.id, row)
