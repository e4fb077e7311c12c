"""The deterministic demo world: months of believable org billing, built through the engine."""

from __future__ import annotations

import bisect
import gc
import math
import random
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .engine import BillingEngine, ManualClock, TestPaymentGateway
from .errors import (
    InsufficientCredits,
    InvalidRequest,
    MemberLimitReached,
    PaymentDeclined,
)
from .models import Plan
from .rules import add_months

# Small teams use the catalogue plans; past these sizes the org gets a plan sized to it, so
# the story (a forfeit, then rollover drained, then recharges) reads the same at any scale.
TEAM_MAX_MEMBERS = 30
BUSINESS_MAX_MEMBERS = 120
ENTERPRISE_CREDITS_PER_MEMBER = 4_000
# Guards against a typo turning the demo into an hour-long build.
MAX_MEMBERS = 100_000
MAX_MONTHS = 60
# The first people of the org, each with a part in the story; the rest are generated.
FIXED_PEOPLE = (
    ("ann", "Ann Lee", "owner"),
    ("bob", "Bob Stone", "admin"),
    ("chidi", "Chidi Okafor", "member"),
    ("dana", "Dana Reyes", "member"),    # close to her limit
    ("eli", "Eli Novak", "member"),      # stopped by his limit this period
)
MIN_MEMBERS = len(FIXED_PEOPLE)
# How far into its current credit period the demo's `now` falls: late enough to show real
# usage, with about ten days left to watch close.
DAYS_INTO_PERIOD = 19
# Org usage per period as a share of the plan's allowance: a slow first month (its unused
# base is forfeited), then growth past the allowance (rollover drains, packs and recharges),
# then calmer months under member limits, so that at `now` every bucket holds credits and
# the coming close has something to roll over.
RAMP = (0.35, 0.9, 1.3)
BUSY_LOAD = 1.45
CALM_LOADS = (0.85, 0.95)  # the last full period, the current one

FIRST_NAMES = (
    "Aiko", "Amara", "Arjun", "Beatriz", "Carlos", "Chen", "Dmitri", "Elif", "Emeka", "Farah",
    "Felix", "Greta", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Kai", "Lars", "Leila", "Luca",
    "Maya", "Mei", "Nadia", "Noah", "Omar", "Priya", "Quinn", "Rafael", "Rosa", "Sami",
    "Sofia", "Tariq", "Tomas", "Uma", "Vera", "Wei", "Yara", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abe", "Bauer", "Costa", "Diallo", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okoye", "Park", "Quist", "Rossi",
    "Silva", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
)
ORG_CAMPAIGNS = (
    "lead-research", "support-triage", "release-notes", "competitor-watch", "q4-outreach",
    "onboarding-emails", "bug-bash", "docs-refresh",
)
PERSONAL_CAMPAIGNS = ("side-project", "reading-digest")


@dataclass(frozen=True)
class Habit:
    """How a person uses agents: their share of the org's credits and when they work."""

    name: str
    share: float          # relative credits per month
    runs_per_week: float  # debits per week on average
    weekday: float        # relative activity on a weekday
    weekend: float        # relative activity on a Saturday or Sunday


HABITS = (
    Habit("heavy", 3.0, 3.5, 1.0, 0.25),
    Habit("steady", 1.0, 1.0, 1.0, 0.1),
    Habit("light", 0.35, 0.35, 1.0, 0.1),
    Habit("weekender", 1.0, 1.0, 0.3, 1.6),
)
HABIT_ODDS = (0.15, 0.45, 0.3, 0.1)


@dataclass(frozen=True)
class DemoWorld:
    """A populated engine with its clock pinned at `now`, and who is who in it."""

    engine: BillingEngine
    clock: ManualClock
    payments: TestPaymentGateway
    now: datetime
    started_at: datetime              # when the org and its plan began
    seed: int
    org_id: str
    org_name: str
    owner: str
    admin: str
    member: str
    members_near_limit: tuple[str, ...]
    stopped_member: str
    personal_account_id: str          # the owner's personal account
    member_ids: tuple[str, ...]       # everyone in the org, owner first
    campaigns: tuple[str, ...]
    personal_campaigns: tuple[str, ...]
    people: tuple[DemoPerson, ...] = field(repr=False)  # everyone's habits, as in member_ids
    activity_weights: tuple[float, ...] = field(repr=False)  # cumulative, for next_activity

    def next_activity(self, rng: random.Random) -> tuple[str, int, str]:
        """One more debit in the style of the history, as (user id, credits, campaign): who
        works more often comes up more often. For live activity; pass your own Random so the
        world stays as built."""
        weights = self.activity_weights
        person = self.people[bisect.bisect_right(weights, rng.random() * weights[-1])]
        return person.user_id, person.next_run(rng), person.next_campaign(rng)


@dataclass(frozen=True)
class DemoPerson:
    """One member of the demo org and how they use agents."""

    user_id: str
    name: str
    role: str
    habit: Habit
    credits_per_month: float
    run_size: float
    campaigns: tuple[str, ...]
    campaign_weights: tuple[float, ...]  # cumulative

    def next_run(self, rng: random.Random) -> int:
        """Credits of one run: around the person's usual size, in steps of 5."""
        return max(5, round(self.run_size * (0.4 + 1.2 * rng.random()) / 5) * 5)

    def next_campaign(self, rng: random.Random) -> str:
        weights = self.campaign_weights
        return self.campaigns[bisect.bisect_right(weights, rng.random() * weights[-1])]


def build_demo(now: datetime, seed: int = 7, members: int = 24, months: int = 6, *,
               progress: Callable[[str, int, int], None] | None = None) -> DemoWorld:
    """Build the demo world: the same `now` and `seed` always give the same world.

    `members` people in the org "acme" (at least five: each fixed person plays a part) and
    `months` full credit periods of history before the current one, all recorded through the
    engine's public API at past instants with a ManualClock stepped forward.
    `progress(stage, done, total)` is told how far the build is: ("members", n, members)
    once the org is staffed, then ("months", k, months + 1) as each period's history is
    written (the current one included), so a big build can show that it is moving.
    """
    now, seed, members, months = _check_args(now, seed, members, months)
    # A build allocates much and frees nothing; pausing the cycle collector meanwhile saves
    # it from re-scanning the growing world (several percent at 10,000 members).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Builder(now, seed, members, months, progress).build()
    finally:
        if collecting:
            gc.enable()


def _check_args(now: object, seed: object, members: object,
                months: object) -> tuple[datetime, int, int, int]:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidRequest("now must be a datetime with a UTC offset (a naive time is "
                             "ambiguous)", field="now")
    if type(seed) is not int:
        raise InvalidRequest(f"seed must be a whole number, not {type(seed).__name__}",
                             field="seed")
    for name, value, low, high in (("members", members, MIN_MEMBERS, MAX_MEMBERS),
                                    ("months", months, 1, MAX_MONTHS)):
        if type(value) is not int:
            raise InvalidRequest(f"{name} must be a whole number, not {type(value).__name__}",
                                 field=name)
        if not low <= value <= high:
            raise InvalidRequest(f"{name} must be between {low:,} and {high:,}, got {value:,}",
                                 field=name)
    return now.astimezone(UTC), seed, members, months


def _round_to(value: float, step: int) -> int:
    return max(step, int(round(value / step)) * step)


def _catalogue(members: int) -> tuple[list[Plan], str, str]:
    """Every plan, the org's plan, and the one its owner has scheduled next (the same
    allowance billed yearly, which costs less)."""
    plans = [
        Plan(id="free", name="Free", base_credits_per_month=1_000, rollover_cap=0,
             billing_period="monthly", price_cents=0),
        Plan(id="starter", name="Starter", base_credits_per_month=20_000, rollover_cap=10_000,
             billing_period="monthly", price_cents=9_900),
        Plan(id="starter-annual", name="Starter (annual)", base_credits_per_month=20_000,
             rollover_cap=10_000, billing_period="annual", price_cents=99_000),
        Plan(id="team", name="Team", base_credits_per_month=100_000, rollover_cap=50_000,
             billing_period="monthly", price_cents=49_900),
        Plan(id="team-annual", name="Team (annual)", base_credits_per_month=100_000,
             rollover_cap=50_000, billing_period="annual", price_cents=499_000),
        Plan(id="business", name="Business", base_credits_per_month=400_000,
             rollover_cap=200_000, billing_period="monthly", price_cents=189_900),
        Plan(id="business-annual", name="Business (annual)", base_credits_per_month=400_000,
             rollover_cap=200_000, billing_period="annual", price_cents=1_899_000),
    ]
    if members <= TEAM_MAX_MEMBERS:
        return plans, "team", "team-annual"
    if members <= BUSINESS_MAX_MEMBERS:
        return plans, "business", "business-annual"
    base = _round_to(members * ENTERPRISE_CREDITS_PER_MEMBER, 10_000)
    monthly_cents = _round_to(base / 2 * 0.95, 100)  # 200 credits = $1, a 5% volume discount
    seats = f"{members:,} seats"
    plans.append(Plan(id="enterprise", name=f"Enterprise ({seats})", base_credits_per_month=base,
                      rollover_cap=base // 2, billing_period="monthly",
                      price_cents=monthly_cents))
    plans.append(Plan(id="enterprise-annual", name=f"Enterprise annual ({seats})",
                      base_credits_per_month=base, rollover_cap=base // 2,
                      billing_period="annual", price_cents=monthly_cents * 10))
    return plans, "enterprise", "enterprise-annual"


class _Builder:
    """Writes the world's history in time order; one instance builds one world."""

    def __init__(self, now: datetime, seed: int, members: int, months: int,
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        self.progress = progress or (lambda stage, done, total: None)
        self.now = now
        self.rng = random.Random(seed)
        self.seed = seed
        self.member_count = members
        self.months = months
        start = add_months(now, -months) - timedelta(days=DAYS_INTO_PERIOD)
        self.start = start.replace(hour=9, minute=0, second=0, microsecond=0)
        self.clock = ManualClock(self.start)
        self.payments = TestPaymentGateway()
        self.engine = BillingEngine(clock=self.clock, payments=self.payments)
        self.org_id = "acme"
        self.keys = 0
        self.boundaries = [add_months(self.start, k) for k in range(months + 2)]

    def key(self, kind: str = "demo") -> str:
        self.keys += 1
        return f"{kind}-{self.keys}"

    def at(self, instant: datetime) -> None:
        # A scripted act may take a few minutes; whatever was due meanwhile happens after it.
        if instant > self.clock():
            self.clock.set(instant)

    # --- the cast ---------------------------------------------------------------------

    def set_up(self) -> None:
        plans, org_plan, self.next_plan = _catalogue(self.member_count)
        for plan in plans:
            self.engine.add_plan(plan)
        self.org_plan = next(p for p in plans if p.id == org_plan)
        self.people = self.cast()
        owner = self.people[0]
        ann = self.engine.add_user(owner.user_id, name=owner.name, email="ann@example.com",
                                   plan="starter-annual")
        self.personal_account_id = ann.personal_account_id
        for person in self.people[1:]:
            self.engine.add_user(person.user_id, name=person.name,
                                 email=f"{person.user_id}@acme.example", plan="free")
        self.engine.create_org(self.org_id, name="Acme Robotics", owner=owner.user_id,
                               plan=org_plan)
        for person in self.people[1:]:
            self.engine.add_member(self.org_id, person.user_id, role=person.role)
        self.sessions = [self.engine.session(p.user_id) for p in self.people]
        self.owner_session = self.sessions[0]
        # Limits the owner set when the org began: Dana's leaves room, Eli's is tight.
        dana, eli = self.people[3], self.people[4]
        self.owner_session.set_member_limit(
            self.org_id, dana.user_id, _round_to(dana.credits_per_month * 1.1, 500))
        self.owner_session.set_member_limit(
            self.org_id, eli.user_id, _round_to(eli.credits_per_month * 0.6, 500))
        # A few more, so the members table shows limits at every scale.
        for person in self.people[MIN_MEMBERS::9]:
            self.owner_session.set_member_limit(
                self.org_id, person.user_id, _round_to(person.credits_per_month * 2, 1_000))
        # Alerts the owner set at the start, so the story raises some: the balance halving
        # in the busy months, and members nearing (80%) and reaching their limit.
        base = self.org_plan.base_credits_per_month
        self.owner_session.configure_alerts(
            self.org_id, balance_below=[_round_to(base * 0.5, 1_000)],
            member_usage_percent=[80, 100])

    def cast(self) -> list[DemoPerson]:
        rng = self.rng
        names: list[tuple[str, str, str]] = list(FIXED_PEOPLE)
        taken = {user_id for user_id, _, _ in names}
        for index in range(len(FIXED_PEOPLE), self.member_count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            user_id = f"{first}.{last}".lower()
            suffix = 2
            while user_id in taken:
                user_id, suffix = f"{first}.{last}{suffix}".lower(), suffix + 1
            taken.add(user_id)
            # A second owner in larger orgs, and an admin for every few dozen people.
            role = ("owner" if index == 11 else
                    "admin" if index == 7 or index % 40 == 0 else "member")
            names.append((user_id, f"{first} {last}", role))
        habits = [rng.choices(HABITS, HABIT_ODDS)[0] for _ in names]
        habits[3] = habits[4] = HABITS[0]  # the limited two are heavy users
        shares = [h.share * rng.uniform(0.7, 1.3) for h in habits]
        total_share = sum(shares)
        people = []
        for (user_id, name, role), habit, share in zip(names, habits, shares):
            per_month = self.org_plan.base_credits_per_month * share / total_share
            mix = rng.sample(ORG_CAMPAIGNS, rng.randint(1, 3))
            weights = [rng.uniform(0.2, 1.0) for _ in mix]
            cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
            run_size = per_month / (habit.runs_per_week * 52 / 12)
            people.append(DemoPerson(user_id, name, role, habit, per_month, run_size,
                                     tuple(mix), tuple(cumulative)))
        return people

    # --- the story --------------------------------------------------------------------

    def script(self) -> list[tuple[datetime, Callable[[], None]]]:
        """The owner's deliberate acts, each at its instant; usage flows around them."""
        span = self.now - self.start
        base = self.org_plan.base_credits_per_month
        pack = _round_to(base / 2, 200)
        recharge = _round_to(base * 0.2, 200)
        threshold = _round_to(base * 0.25, 200)
        cap_cents = recharge // 2 * 3  # room for three recharges a period

        def declined_then_paid() -> None:
            # The card is declined once (a failed invoice), the owner fixes it in the portal
            # and retries the same request a few minutes later.
            key = self.key("demo-purchase")
            # Any period close due by now bills before the card fails, not during it.
            self.owner_session.balance(self.org_id)
            self.payments.decline(self.org_id, True)
            # Declined on purpose: the failed invoice is what this step is for.
            with suppress(PaymentDeclined):
                self.owner_session.purchase_credits(self.org_id, pack, idempotency_key=key)
            self.payments.decline(self.org_id, False)
            self.at(self.clock() + timedelta(minutes=7))
            self.owner_session.purchase_credits(self.org_id, pack, idempotency_key=key)

        def renewal_declined() -> None:
            # The card fails again at the last renewal: the subscription invoice is failed,
            # the org is past due (a payment_failed alert), and the owner can pay it now.
            self.payments.decline(self.org_id, True)
            self.owner_session.balance(self.org_id)      # the close bills the new period
            self.payments.decline(self.org_id, False)

        def enable_recharge() -> None:
            self.owner_session.configure_auto_recharge(
                self.org_id, enabled=True, threshold=threshold, amount=recharge,
                monthly_cap_cents=cap_cents)

        def schedule_annual_billing() -> None:
            self.owner_session.change_plan(self.org_id, self.next_plan)

        hours = timedelta(hours=1)
        return [
            (self._working_hour(self.start + span * 0.4), declined_then_paid),
            (self._working_hour(self.start + span * 0.45), enable_recharge),
            (self.boundaries[self.months], renewal_declined),
            (self.now - timedelta(days=2), schedule_annual_billing),
            (self.now - 4 * hours, self.bring_dana_near_her_limit),
            (self.now - 2 * hours, self.stop_eli_at_his_limit),
            (self.now - hours, self.keep_autopilot_running),
        ]

    def _working_hour(self, instant: datetime) -> datetime:
        return instant.replace(hour=10, minute=30, second=0, microsecond=0)

    def bring_dana_near_her_limit(self) -> None:
        dana = self.people[3].user_id
        usage = self.sessions[3].my_usage(self.org_id)
        if usage.used_this_period > usage.limit * 95 // 100:
            # She outgrew her limit; the owner raised it so she can finish the period.
            self.owner_session.set_member_limit(
                self.org_id, dana, _round_to(usage.used_this_period * 10 / 9 + 250, 500))
        else:
            self.work_until(3, usage.limit * 9 // 10, timedelta(minutes=10))

    def stop_eli_at_his_limit(self) -> None:
        self.work_until(4, self.sessions[4].my_usage(self.org_id).limit, timedelta(minutes=5))

    def work_until(self, who: int, used: int, pace: timedelta, runs: int = 10) -> None:
        """The person's usual runs, `pace` apart, until their period use reaches `used`
        (the last run takes what is left)."""
        person, session = self.people[who], self.sessions[who]
        left = used - session.my_usage(self.org_id).used_this_period
        for run in range(runs):
            if left <= 0:
                return
            credits = left if run == runs - 1 else min(left, person.next_run(self.rng))
            if not self.record(who, credits, person.next_campaign(self.rng)):
                return
            left -= credits
            self.at(self.clock() + pace)

    def keep_autopilot_running(self) -> None:
        # The first screen should show work flowing: an owner would have topped up by now.
        base = self.org_plan.base_credits_per_month
        balance = self.owner_session.balance(self.org_id)
        if balance.autopilot != "running" or balance.total < base // 5:
            self.owner_session.purchase_credits(self.org_id, _round_to(base / 2, 200),
                                                idempotency_key=self.key("demo-purchase"))

    def record(self, who: int, credits: int, campaign: str) -> bool:
        """One debit by person `who` for the org; False if it was refused."""
        try:
            self.sessions[who].record_usage(self.org_id, credits, campaign=campaign,
                                            idempotency_key=self.key())
        except (MemberLimitReached, InsufficientCredits):
            return False  # the agent was refused, as it would be; the story goes on
        return True

    # --- usage --------------------------------------------------------------------------

    def daily_rates(self, weekend: bool) -> list[float]:
        """Cumulative expected debits per day for each person (weights for choosing who)."""
        cumulative, total = [], 0.0
        for person in self.people:
            habit = person.habit
            mean_day = (5 * habit.weekday + 2 * habit.weekend) / 7
            today = habit.weekend if weekend else habit.weekday
            total += habit.runs_per_week / 7 * today / mean_day
            cumulative.append(total)
        return cumulative

    def day_events(self, day: datetime) -> list[tuple[int, int, int, str]]:
        """That day's debits as (second of the day, person index or -1 for the owner's
        personal account, credits, campaign), in time order."""
        rng, random_ = self.rng, self.rng.random
        weekend = day.weekday() >= 5
        period = bisect.bisect_right(self.boundaries, day + timedelta(hours=12)) - 1
        cumulative = self.rates[weekend]
        expected = cumulative[-1] * self.loads[min(period, self.months)]
        count = max(0, round(rng.gauss(expected, math.sqrt(expected))))
        people, events = self.people, []
        for _ in range(count):
            index = bisect.bisect_right(cumulative, random_() * cumulative[-1])
            person = people[index]
            # Mostly working hours (UTC); sizes vary around the person's usual run.
            second = 7 * 3600 + int(random_() * 14 * 3600)
            events.append((second, index, person.next_run(rng), person.next_campaign(rng)))
        if random_() < (0.8 if weekend else 0.3):
            # The owner's own side projects, charged to her personal account.
            events.append((8 * 3600 + int(random_() * 15 * 3600), -1,
                           50 * 5 + int(random_() * 90) * 5, rng.choice(PERSONAL_CAMPAIGNS)))
        events.sort()
        return events

    def build(self) -> DemoWorld:
        self.set_up()
        self.progress("members", self.member_count, self.member_count)
        rng = self.rng
        self.rates = {False: self.daily_rates(False), True: self.daily_rates(True)}
        shape = [RAMP[i] if i < len(RAMP) else BUSY_LOAD for i in range(self.months + 1)]
        shape[max(1, self.months - 1):] = CALM_LOADS[-self.months:]
        self.loads = [load * rng.uniform(0.92, 1.08) for load in shape]
        script = sorted(self.script(), key=lambda item: item[0])
        step = 0
        # The hot loop (a million debits at the largest scale) keeps its names local.
        record = [session.record_usage for session in self.sessions]
        org, personal, clock, start = self.org_id, self.personal_account_id, self.clock, self.start
        refused = (MemberLimitReached, InsufficientCredits)
        cutoff = self.now - timedelta(hours=4)
        day = start.replace(hour=0)
        boundaries, period = self.boundaries, 0
        while day < cutoff:
            if period + 1 < len(boundaries) and day >= boundaries[period + 1]:
                period += 1
                self.progress("months", period, self.months + 1)
            for second, who, size, campaign in self.day_events(day):
                instant = day + timedelta(seconds=second)
                if instant <= start or instant >= cutoff:
                    continue
                while step < len(script) and script[step][0] <= instant:
                    self.at(script[step][0])
                    script[step][1]()
                    step += 1
                if instant > clock():
                    clock.set(instant)
                self.keys += 1
                try:
                    record[max(who, 0)](personal if who < 0 else org, size, campaign=campaign,
                                        idempotency_key=f"demo-{self.keys}")
                except refused:
                    pass  # the agent was refused, as it would be; the story goes on
            day += timedelta(days=1)
        for instant, act in script[step:]:
            self.at(instant)
            act()
        self.at(self.now)
        self.progress("months", self.months + 1, self.months + 1)
        return self.world()

    def world(self) -> DemoWorld:
        people = self.people
        return DemoWorld(
            engine=self.engine, clock=self.clock, payments=self.payments, now=self.now,
            started_at=self.start, seed=self.seed, org_id=self.org_id,
            org_name="Acme Robotics", owner=people[0].user_id, admin=people[1].user_id,
            member=people[2].user_id, members_near_limit=(people[3].user_id,),
            stopped_member=people[4].user_id, personal_account_id=self.personal_account_id,
            member_ids=tuple(p.user_id for p in people), campaigns=ORG_CAMPAIGNS,
            personal_campaigns=PERSONAL_CAMPAIGNS, people=tuple(people),
            activity_weights=tuple(self.rates[False]))
