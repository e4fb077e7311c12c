"""A Hypothesis state machine driving the engine against a small, independent model.

The model below re-derives billing-rules.md with its own arithmetic (nothing from
creditdesk.rules or the engine), and after every step the engine must agree with it and keep
the ledger invariants. Run longer with HYPOTHESIS_PROFILE=long.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from creditdesk.engine import BillingEngine, ManualClock, TestPaymentGateway
from creditdesk.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    MemberLimitReached,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
)
from creditdesk.models import Plan

USERS = ("ann", "bob", "cat", "dan")
ORG = "acme"


@dataclass(frozen=True)
class ModelPlan:
    base: int
    cap: int
    annual: bool
    price_cents: int


MODEL_PLANS = {
    "team": ModelPlan(1_000, 500, False, 4_900),
    "lite": ModelPlan(300, 0, False, 900),
    "pro": ModelPlan(3_000, 1_200, True, 30_000),
}


def nth_period_start(anchor: datetime, n: int) -> datetime:
    """The anchor n months on, on the anchor's day or the month's last day if shorter."""
    months = anchor.month - 1 + n
    year, month = anchor.year + months // 12, months % 12 + 1
    return anchor.replace(year=year, month=month,
                          day=min(anchor.day, calendar.monthrange(year, month)[1]))


@dataclass
class ModelAccount:
    id: str
    anchor: datetime
    plan: str
    roles: dict[str, str]
    index: int = 0
    billing_start: int = 0
    pending: str | None = None
    pending_at: int | None = None
    base: int = 0
    rollover: int = 0
    purchased: int = 0
    paused: bool = False
    past_due: bool = False
    used: int = 0
    member_used: dict[str, int] = field(default_factory=dict)
    limits: dict[str, int | None] = field(default_factory=dict)
    used_when_limited: dict[str, int] = field(default_factory=dict)
    recharge_on: bool = False
    threshold: int = 0
    amount: int = 0
    cap_cents: int | None = None
    spent_cents: int = 0
    invoices: int = 0
    failed_invoices: int = 0
    replies: dict[str, tuple] = field(default_factory=dict)
    # Alerts, with the model's own reading of the rules: settings, what is armed, who was
    # told what this period, and every alert expected, oldest first, as
    # (kind, threshold, user_id, balance_after).
    thresholds: list[int] = field(default_factory=list)
    shares: list[int] = field(default_factory=list)
    armed: set[int] = field(default_factory=set)
    told: set[tuple[str, int]] = field(default_factory=set)
    limit_told: set[str] = field(default_factory=set)
    alerts: list[tuple] = field(default_factory=list)
    # Every invoice, oldest first: [kind, credits, status, purchase key or None].
    bills: list[list] = field(default_factory=list)
    pay_replies: dict[str, tuple] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.base + self.rollover + self.purchased

    def role(self, user: str) -> str | None:
        return self.roles.get(user)


class BillingMachine(RuleBasedStateMachine):
    @initialize(start=st.sampled_from([datetime(2027, 1, 31, 10, 30, tzinfo=UTC),
                                       datetime(2028, 1, 31, 23, 0, tzinfo=UTC),
                                       datetime(2026, 3, 15, 9, 0, tzinfo=UTC),
                                       datetime(2026, 12, 31, 0, 0, tzinfo=UTC)]),
                org_delay_hours=st.integers(0, 24 * 45),
                org_plan=st.sampled_from(sorted(MODEL_PLANS)),
                personal_plans=st.lists(st.sampled_from(sorted(MODEL_PLANS)), min_size=4,
                                        max_size=4),
                roles=st.lists(st.sampled_from(["member", "admin", "owner", None]),
                               min_size=3, max_size=3),
                recharge=st.one_of(st.none(), st.tuples(st.integers(0, 1_500),
                                                        st.integers(1, 5),
                                                        st.one_of(st.none(),
                                                                  st.integers(100, 2_000)))),
                lines=st.one_of(st.none(), st.tuples(
                    st.lists(st.integers(1, 3_000), min_size=1, max_size=5),
                    st.lists(st.integers(1, 100), max_size=3))),
                limits=st.lists(st.one_of(st.none(), st.integers(0, 1_500)), min_size=3,
                                max_size=3),
                declined=st.booleans())
    def build(self, start, org_delay_hours, org_plan, personal_plans, roles, recharge,
              lines, limits, declined):
        self.clock = ManualClock(start)
        self.payments = TestPaymentGateway()
        self.engine = BillingEngine(clock=self.clock, payments=self.payments)
        self.declining: set[str] = set()
        self.debits_done: list[tuple[str, str, int, str, str]] = []
        for plan_id, p in MODEL_PLANS.items():
            self.engine.add_plan(Plan(id=plan_id, name=plan_id.title(),
                                      base_credits_per_month=p.base, rollover_cap=p.cap,
                                      billing_period="annual" if p.annual else "monthly",
                                      price_cents=p.price_cents))
        self.accounts: dict[str, ModelAccount] = {}
        for user, plan_id in zip(USERS, personal_plans):
            account_id = self.engine.add_user(user, name=user.title(),
                                              email=f"{user}@example.com",
                                              plan=plan_id).personal_account_id
            self._open(ModelAccount(account_id, start, plan_id, {user: "owner"}))
        self.clock.advance(timedelta(hours=org_delay_hours))
        self._catch_up()
        if declined:    # the org's first subscription fails: a failed invoice to pay
            self.card(ORG, True)
        self.engine.create_org(ORG, name="Acme", owner="ann", plan=org_plan)
        org = ModelAccount(ORG, self.clock(), org_plan, {"ann": "owner"})
        self._open(org)
        for user, role, limit in zip(USERS[1:], roles, limits):
            if role is not None:
                self.engine.add_member(ORG, user, role=role)
                self._join(org, user, role)
                if limit is not None:   # limits from the start, so shares get reached
                    self.engine.session("ann").set_member_limit(ORG, user, limit)
                    org.limits[user], org.used_when_limited[user] = limit, 0
        if recharge is not None:
            threshold, dollars, cap_cents = recharge
            self.engine.session("ann").configure_auto_recharge(
                ORG, enabled=True, threshold=threshold, amount=dollars * 200,
                monthly_cap_cents=cap_cents)
            org.recharge_on, org.threshold = True, threshold
            org.amount, org.cap_cents = dollars * 200, cap_cents
        if lines is not None:       # alerts from the start, so most runs cross some
            thresholds, shares = sorted(set(lines[0])), sorted(set(lines[1]))
            self.engine.session("ann").configure_alerts(
                ORG, balance_below=thresholds, member_usage_percent=shares)
            org.thresholds, org.shares = thresholds, shares
            org.armed = {x for x in thresholds if org.total >= x}

    # --- the model's own bookkeeping ---------------------------------------------------

    def _open(self, account: ModelAccount) -> None:
        self.accounts[account.id] = account
        for user in account.roles:
            account.member_used[user] = 0
            account.limits[user] = None
        self._start_period(account)

    def _join(self, account: ModelAccount, user: str, role: str) -> None:
        if user not in account.roles:
            account.member_used[user] = 0
            account.limits[user] = None
        account.roles[user] = role

    def _pay(self, account: ModelAccount, kind: str = "subscription", credits: int = 0,
             key: str | None = None) -> bool:
        account.invoices += 1
        ok = account.id not in self.declining
        account.bills.append([kind, credits, "paid" if ok else "failed", key])
        if not ok:
            account.failed_invoices += 1
        return ok

    @staticmethod
    def _balance_alerts(account: ModelAccount, before: int) -> list[tuple]:
        """One operation took the balance from `before` to now: the armed thresholds it
        went below from at least them fire; afterwards armed is what the balance reaches."""
        after = account.total
        fired = [("balance_below", x, None) for x in sorted(account.thresholds)
                 if x in account.armed and before >= x > after]
        account.armed = {x for x in account.thresholds if after >= x}
        return fired

    @staticmethod
    def _record(account: ModelAccount, fired: list[tuple]) -> None:
        for alert in fired:
            event(f"alert: {alert[0]}")        # --hypothesis-show-statistics
        account.alerts += [(*alert, account.total) for alert in fired]

    def _start_period(self, account: ModelAccount) -> None:
        plan = MODEL_PLANS[account.plan]
        account.used = 0
        account.member_used = dict.fromkeys(account.member_used, 0)
        account.used_when_limited = {}
        account.spent_cents = 0
        account.told, account.limit_told = set(), set()
        step = 12 if plan.annual else 1
        if (account.index - account.billing_start) % step == 0:
            account.past_due = not self._pay(account)
        elif not plan.price_cents:
            account.past_due = False     # a period on a free plan counts as paid
        account.base = plan.base
        account.paused = account.total == 0

    def _catch_up(self) -> None:
        now = self.clock()
        for account in self.accounts.values():
            while now >= nth_period_start(account.anchor, account.index + 1):
                account.index += 1
                if account.pending_at == account.index:
                    account.plan, account.billing_start = account.pending, account.index
                    account.pending = account.pending_at = None
                before, was_running = account.total, not account.paused
                failed = account.failed_invoices
                carry = account.base + account.rollover
                account.rollover = min(carry, MODEL_PLANS[account.plan].cap)
                account.base = 0
                self._start_period(account)
                fired = self._balance_alerts(account, before)   # the close as a whole
                if account.failed_invoices > failed:
                    fired.append(("payment_failed", None, None))
                if was_running and account.paused:
                    fired.append(("autopilot_paused", None, None))
                self._record(account, fired)

    @staticmethod
    def _same_receipt(role: str, reply, first) -> None:
        """A replay answers with the first receipt. Its balance follows the caller's role
        *now*: someone demoted to member since is not shown it again (billing-rules.md
        does not say which wins; keeping balances from members is the safer reading)."""
        assert reply.model_dump(exclude={"balance"}) == first.model_dump(exclude={"balance"})
        assert (reply.balance is None) == (role == "member")
        if first.balance is not None and reply.balance is not None:
            assert reply.balance == first.balance

    def _owner_of(self, account_id: str) -> str:
        return "ann" if account_id == ORG else account_id.split(":", 1)[1]

    def _outcome(self, call, what: str):
        try:
            result = call()
        except (NotFound, PermissionDenied, InsufficientCredits, MemberLimitReached,
                IdempotencyConflict, PaymentDeclined, InvalidRequest) as refused:
            event(f"{what}: {type(refused).__name__}")     # --hypothesis-show-statistics
            return None, type(refused)
        event(f"{what}: done")
        return result, None

    # --- rules ---------------------------------------------------------------------------

    # Mostly the org or the caller's own account; now and then someone else's (not found).
    where_st = st.sampled_from(["org", "org", "own", "other"])
    accounts_st = st.sampled_from([ORG, "personal:ann", "personal:bob", "personal:cat",
                                   "personal:dan"])

    def _where(self, user: str, where: str) -> str:
        if where == "org":
            return ORG
        owner = user if where == "own" else USERS[(USERS.index(user) + 1) % len(USERS)]
        return f"personal:{owner}"

    @rule(user=st.sampled_from(USERS), where=where_st,
          credits=st.one_of(st.integers(1, 400), st.integers(400, 3_000),
                            st.integers(3_000, 20_000)),
          campaign=st.sampled_from(["alpha", "beta"]), key=st.integers(0, 5))
    def debit(self, user, where, credits, campaign, key):
        self._debit(user, self._where(user, where), credits, campaign, key)

    # Org work is the heart of it: a second rule so that it is drawn twice as often.
    @rule(user=st.sampled_from(USERS), credits=st.integers(1, 700), key=st.integers(0, 9))
    def org_work(self, user, credits, key):
        self._debit(user, ORG, credits, "org", key)

    def _debit(self, user, account_id, credits, campaign, key):
        account = self.accounts[account_id]
        idem = f"{user}-use-{key}"
        reply, refused = self._outcome(lambda: self.engine.session(user).record_usage(
            account_id, credits, campaign=campaign, idempotency_key=idem), "debit")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
            return
        if idem in account.replies:
            params, first = account.replies[idem]
            if params == (credits, campaign):
                assert refused is None
                self._same_receipt(role, reply, first)
            else:
                assert refused is IdempotencyConflict
            return
        limit = account.limits[user]
        if limit is not None and account.member_used[user] + credits > limit:
            assert refused is MemberLimitReached
            if user not in account.limit_told:
                account.limit_told.add(user)
                self._record(account, [("member_limit_reached", None, user)])
            return
        before, was_running = account.total, not account.paused
        fired = []
        bought = 0
        if account.recharge_on and account.total - credits < account.threshold:
            short = account.threshold - (account.total - credits)
            packs = (short + account.amount - 1) // account.amount
            price = account.amount // 2
            if packs > 10:
                packs = 0           # one purchase buys at most 10 recharge amounts
                event("debit: need beyond the recharge bound")
            elif account.cap_cents is not None:
                packs = max(0, min(packs, (account.cap_cents - account.spent_cents) // price))
            if packs:
                if self._pay(account, "recharge", packs * account.amount):
                    bought = packs * account.amount
                    account.purchased += bought
                    account.spent_cents += packs * price
                    account.paused = False
                else:
                    account.recharge_on = False
                    fired.append(("recharge_failed", None, None))
                    event("debit: recharge declined")
        if credits > account.total:
            account.paused = True
            assert refused is InsufficientCredits
            fired += self._balance_alerts(account, before)
            if was_running:
                fired.append(("autopilot_paused", None, None))
            self._record(account, fired)
            return
        assert refused is None, refused
        from_base = min(credits, account.base)
        from_rollover = min(credits - from_base, account.rollover)
        from_purchased = credits - from_base - from_rollover
        account.base -= from_base
        account.rollover -= from_rollover
        account.purchased -= from_purchased
        account.used += credits
        used_before = account.member_used[user]
        account.member_used[user] += credits
        if account.total == 0:
            account.paused = True
        fired += self._balance_alerts(account, before)
        if limit:
            used_after = account.member_used[user]
            for share in sorted(account.shares):
                if (user, share) not in account.told and (
                        used_before * 100 < share * limit <= used_after * 100):
                    account.told.add((user, share))
                    fired.append(("member_usage", share, user))
        if was_running and account.paused:
            fired.append(("autopilot_paused", None, None))
        self._record(account, fired)
        assert (reply.from_base, reply.from_rollover, reply.from_purchased) == (
            from_base, from_rollover, from_purchased)
        assert reply.recharged == bought
        if bought:
            event("debit: recharged")
        assert reply.member_used_this_period == account.member_used[user]
        account.replies[idem] = ((credits, campaign), reply)
        self.debits_done.append((user, account_id, credits, campaign, idem))

    @rule(pick=st.integers(0, 10**6))
    def repeat_a_debit(self, pick):
        if not self.debits_done:
            return
        user, account_id, credits, campaign, idem = self.debits_done[pick % len(
            self.debits_done)]
        mutations = self.engine.mutations
        reply, refused = self._outcome(lambda: self.engine.session(user).record_usage(
            account_id, credits, campaign=campaign, idempotency_key=idem), "repeat")
        # Nobody ever leaves an org here, so the caller may still debit: the first answer.
        assert refused is None
        account = self.accounts[account_id]
        self._same_receipt(account.role(user), reply, account.replies[idem][1])
        assert self.engine.mutations == mutations

    @rule(user=st.sampled_from(USERS), where=where_st, dollars=st.integers(1, 15),
          key=st.integers(0, 3))
    def purchase(self, user, where, dollars, key):
        account_id = self._where(user, where)
        account = self.accounts[account_id]
        credits = dollars * 200
        idem = f"{user}-buy-{key}"
        invoice, refused = self._outcome(lambda: self.engine.session(user).purchase_credits(
            account_id, credits, idempotency_key=idem), "purchase")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
        elif role != "owner":
            assert refused is PermissionDenied
        elif idem in account.replies:
            params, first = account.replies[idem]
            if params == (credits,):
                assert refused is None and invoice == first
            else:
                assert refused is IdempotencyConflict
        elif not self._pay(account, "purchase", credits, idem):
            assert refused is PaymentDeclined
        else:
            assert refused is None
            assert (invoice.credits, invoice.amount_cents, invoice.status) == (
                credits, dollars * 100, "paid")
            before = account.total
            account.purchased += credits
            account.paused = False
            account.replies[idem] = ((credits,), invoice)
            self._record(account, self._balance_alerts(account, before))

    @rule(user=st.sampled_from(USERS), where=where_st, enabled=st.booleans(),
          threshold=st.integers(0, 2_000), dollars=st.integers(1, 10),
          cap_cents=st.one_of(st.none(), st.integers(1, 3_000)))
    def configure_recharge(self, user, where, enabled, threshold, dollars, cap_cents):
        account_id = self._where(user, where)
        account = self.accounts[account_id]
        _, refused = self._outcome(lambda: self.engine.session(user).configure_auto_recharge(
            account_id, enabled=enabled, threshold=threshold, amount=dollars * 200,
            monthly_cap_cents=cap_cents), "auto-recharge settings")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
        elif role != "owner":
            assert refused is PermissionDenied
        else:
            assert refused is None
            account.recharge_on, account.threshold = enabled, threshold
            account.amount, account.cap_cents = dollars * 200, cap_cents

    @rule(user=st.sampled_from(USERS), where=where_st, member=st.sampled_from(USERS),
          limit=st.one_of(st.none(), st.integers(0, 3_000)))
    def set_limit(self, user, where, member, limit):
        account_id = self._where(user, where)
        account = self.accounts[account_id]
        _, refused = self._outcome(lambda: self.engine.session(user).set_member_limit(
            account_id, member, limit), "member limit")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
        elif role != "owner":
            assert refused is PermissionDenied
        elif account.role(member) is None:
            assert refused is NotFound
        else:
            assert refused is None
            account.limits[member] = limit
            account.used_when_limited[member] = account.member_used[member]

    @rule(user=st.sampled_from(USERS), where=where_st,
          plan_id=st.sampled_from(sorted(MODEL_PLANS)), cancel=st.booleans())
    def change_plan(self, user, where, plan_id, cancel):
        account_id = self._where(user, where)
        account = self.accounts[account_id]
        if not cancel and (plan_id == account.plan or account.pending is not None):
            return      # the rules say nothing of re-choosing the plan or of a second change
        session = self.engine.session(user)
        subscription, refused = self._outcome(
            (lambda: session.cancel_plan_change(account_id)) if cancel
            else (lambda: session.change_plan(account_id, plan_id)), "plan change")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
            return
        if role != "owner":
            assert refused is PermissionDenied
            return
        assert refused is None
        if cancel:
            account.pending = account.pending_at = None
        else:
            if MODEL_PLANS[account.plan].annual:
                years = (account.index - account.billing_start) // 12 + 1
                account.pending_at = account.billing_start + 12 * years
            else:
                account.pending_at = account.index + 1
            account.pending = plan_id
            assert subscription.pending_from == nth_period_start(account.anchor,
                                                                 account.pending_at)

    # Mostly the org's owner, with lines near the balances the plans give, so that the
    # debits that follow cross them.
    @rule(user=st.sampled_from(["ann", "ann", "ann", "bob", "cat"]), where=where_st,
          thresholds=st.lists(st.one_of(st.sampled_from([100, 300, 600, 900, 1_200]),
                                        st.integers(1, 3_000)), max_size=6),
          shares=st.lists(st.one_of(st.sampled_from([50, 80, 100]), st.integers(1, 100)),
                          max_size=4))
    def configure_alerts(self, user, where, thresholds, shares):
        account_id = self._where(user, where)
        account = self.accounts[account_id]
        shown, refused = self._outcome(lambda: self.engine.session(user).configure_alerts(
            account_id, balance_below=thresholds, member_usage_percent=shares), "alerts")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
        elif role != "owner":
            assert refused is PermissionDenied
        elif len(set(thresholds)) > 5 or len(set(shares)) > 3:
            assert refused is InvalidRequest
        else:
            assert refused is None
            assert (shown.balance_below, shown.member_usage_percent) == (
                sorted(set(thresholds)), sorted(set(shares)))
            account.thresholds, account.shares = sorted(set(thresholds)), sorted(set(shares))
            # Only what the balance is at or above now is armed.
            account.armed = {x for x in account.thresholds if account.total >= x}

    @rule(user=st.sampled_from(["ann", "ann", "ann", "bob", "cat", "dan"]), where=where_st,
          pick=st.integers(0, 10**6), key=st.integers(0, 3), fixed=st.booleans())
    def pay_invoice(self, user, where, pick, key, fixed):
        account_id = self._where(user, where)
        if fixed:       # the payment method was fixed first, as an owner would
            self.card(account_id, False)
        account = self.accounts[account_id]
        role = account.role(user)
        owner = self.engine.session(self._owner_of(account_id))
        ids = [i.id for i in reversed(owner.invoices(account_id))]
        # Mostly a failed invoice, when there is one; else any, or one that does not exist.
        failed = [n for n, bill in enumerate(account.bills) if bill[2] == "failed"]
        if failed and pick % 4:
            index = failed[pick % len(failed)]
        else:
            index = pick % (len(ids) + 1)
        invoice_id = ids[index] if index < len(ids) else "in_none"
        idem = f"{user}-pay-{key}"
        invoice, refused = self._outcome(lambda: self.engine.session(user).pay_invoice(
            account_id, invoice_id, idempotency_key=idem), "pay invoice")
        if role is None:
            assert refused is NotFound
            return
        if role != "owner":
            assert refused is PermissionDenied
            return
        if idem in account.pay_replies:
            first_id, first = account.pay_replies[idem]
            if first_id == invoice_id:
                assert refused is None and invoice == first
            else:
                assert refused is IdempotencyConflict
            return
        if index >= len(ids):
            assert refused is NotFound
            return
        bill = account.bills[index]
        kind, credits, status, buy_key = bill
        if status == "paid" or (kind == "purchase" and buy_key in account.replies):
            assert refused is InvalidRequest        # paid already, or superseded
            return
        if account_id in self.declining:
            assert refused is PaymentDeclined       # nothing changes, no alert
            return
        assert refused is None and invoice.status == "paid" and invoice.paid_at == self.clock()
        bill[2] = "paid"
        account.failed_invoices -= 1
        account.pay_replies[idem] = (invoice_id, invoice)
        before = account.total
        if kind in ("purchase", "recharge"):
            account.purchased += credits
            account.paused = account.total == 0 and account.paused
        elif index == max(n for n, b in enumerate(account.bills) if b[0] == "subscription"):
            account.past_due = False                # only the latest subscription clears it
        self._record(account, self._balance_alerts(account, before))

    @rule(user=st.sampled_from(USERS), where=where_st, limit=st.integers(1, 3))
    def read_alerts(self, user, where, limit):
        account_id = self._where(user, where)
        account = self.accounts[account_id]
        alerts, refused = self._outcome(lambda: self.engine.session(user).alerts(
            account_id, limit=limit), "read alerts")
        role = account.role(user)
        if role is None:
            assert refused is NotFound
        elif role == "member":
            assert refused is PermissionDenied
        else:
            assert refused is None
            expected = account.alerts[::-1][:limit]
            assert [(a.kind, a.threshold, a.user_id, a.balance_after)
                    for a in alerts] == expected

    @rule(member=st.sampled_from(USERS[1:]), role=st.sampled_from(["member", "admin",
                                                                     "owner"]))
    def set_role(self, member, role):
        self.engine.add_member(ORG, member, role=role)
        self._join(self.accounts[ORG], member, role)

    @rule(account_id=accounts_st, decline=st.booleans())
    def card(self, account_id, decline):
        self.payments.decline(account_id, decline)
        (self.declining.add if decline else self.declining.discard)(account_id)

    @rule(delta=st.one_of(st.integers(1, 48).map(lambda h: timedelta(hours=h)),
                          st.integers(1, 40).map(lambda d: timedelta(days=d)),
                          st.integers(2, 14).map(lambda m: timedelta(days=30 * m))))
    def wait(self, delta):
        self.clock.advance(delta)
        self._catch_up()

    @rule(account_id=accounts_st, offset=st.sampled_from([-1, 0, 1]))
    def wait_for_boundary(self, account_id, offset):
        account = self.accounts[account_id]
        boundary = nth_period_start(account.anchor, account.index + 1)
        moment = boundary + timedelta(seconds=offset)
        if moment > self.clock():
            self.clock.set(moment)
            self._catch_up()

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def engine_agrees_with_the_model(self):
        for account_id, account in self.accounts.items():
            owner = self.engine.session(self._owner_of(account_id))
            balance = owner.balance(account_id)
            assert (balance.base, balance.rollover, balance.purchased) == (
                account.base, account.rollover, account.purchased), account_id
            assert balance.total == account.total
            assert balance.used_this_period == account.used
            assert balance.autopilot == ("paused" if account.paused else "running")
            assert balance.period_start == nth_period_start(account.anchor, account.index)
            assert balance.period_end == nth_period_start(account.anchor, account.index + 1)
            subscription = owner.subscription(account_id)
            assert subscription.plan.id == account.plan
            assert (subscription.pending_plan.id if subscription.pending_plan else None) == (
                account.pending)
            assert subscription.status == ("past_due" if account.past_due else "active")
            plan = MODEL_PLANS[account.plan]
            step = 12 if plan.annual else 1
            renews = account.billing_start + step * (
                (account.index - account.billing_start) // step + 1)
            assert subscription.renews_at == nth_period_start(account.anchor, renews)
            # Rollover is capped at every close by the plan that applied there.
            assert balance.rollover <= subscription.plan.rollover_cap
            settings = owner.auto_recharge(account_id)
            assert settings.enabled == account.recharge_on
            assert settings.spent_this_period_cents == account.spent_cents
            invoices = owner.invoices(account_id)
            assert len(invoices) == account.invoices
            assert sum(i.status == "failed" for i in invoices) == account.failed_invoices
            members = owner.members(account_id)
            assert sum(m.used_this_period for m in members) == account.used
            for member in members:
                assert member.used_this_period == account.member_used[member.user_id]
                assert member.limit == account.limits[member.user_id]
                assert member.role == account.roles[member.user_id]
                if member.limit is not None:
                    assert member.used_this_period <= max(
                        member.limit, account.used_when_limited.get(member.user_id, 0))

    @invariant()
    def alerts_match_the_changes(self):
        """Each alert matches a change that crossed its line, and none is missing."""
        for account_id, account in self.accounts.items():
            owner = self.engine.session(self._owner_of(account_id))
            shown = [(a.kind, a.threshold, a.user_id, a.balance_after)
                     for a in reversed(owner.alerts(account_id, limit=1000))]
            assert shown == account.alerts, account_id
            for alert in owner.alerts(account_id, limit=1000):
                assert "$" not in alert.message
            for n, bill in enumerate(reversed(owner.invoices(account_id))):
                assert [bill.kind, bill.status] == account.bills[n][:3:2]

    @invariant()
    def ledgers_are_sound(self):
        for account_id in self.accounts:
            entries = self.engine.ledger_entries(account_id)
            base = rollover = purchased = 0
            for entry in entries:
                if entry.kind == "usage":
                    assert max(entry.base, entry.rollover, entry.purchased) <= 0
                    # Base first, then rollover, then purchased.
                    assert entry.rollover == 0 or -entry.base == base
                    assert entry.purchased == 0 or -entry.rollover == rollover
                base += entry.base
                rollover += entry.rollover
                purchased += entry.purchased
                assert min(base, rollover, purchased) >= 0
                assert entry.balance_after == base + rollover + purchased
            account = self.accounts[account_id]
            assert (base, rollover, purchased) == (account.base, account.rollover,
                                                   account.purchased)
            applied = Counter((e.kind, e.idempotency_key) for e in entries
                              if e.kind in ("usage", "purchase"))
            assert max(applied.values(), default=0) <= 1
            self._history_matches(account_id, entries)

    def _history_matches(self, account_id, entries):
        """Usage history (by source, per month) adds up to the usage entries in its range."""
        now = self.clock()
        start = (now - timedelta(days=3_000)).replace(hour=0, minute=0, second=0,
                                                      microsecond=0)
        series = self.engine.session(self._owner_of(account_id)).usage_history(
            account_id, start=start, end=now + timedelta(days=1), granularity="month",
            group_by="source")
        shown = Counter()
        for point in series.points:
            shown[point.key] += point.credits
        used = Counter()
        for entry in entries:
            if entry.kind == "usage" and entry.at >= start:
                used["base"] -= entry.base
                used["rollover"] -= entry.rollover
                used["purchased"] -= entry.purchased
        assert +shown == +used


TestBillingMachine = BillingMachine.TestCase
