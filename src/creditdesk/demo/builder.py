"""build_demo: months of believable org billing, written through the engine's public API.

The build is the engine's own work: every debit, close, invoice and alert is the engine's,
made by the members' sessions at past instants of a ManualClock stepped forward. What the
builder saves is its own work around those calls (see `Builder.write_usage`).
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from ..engine import BillingEngine, BillingSession, ManualClock, TestPaymentGateway
from ..engine.bulk_usage import record_usage_in_bulk
from ..errors import InsufficientCredits, InvalidRequest, MemberLimitReached
from ..rules import add_months
from . import story
from .catalogue import catalogue, round_to
from .people import MIN_MEMBERS, ORG_CAMPAIGNS, PERSONAL_CAMPAIGNS, cast
from .usage import UsageDraw
from .world import DemoWorld

# Guards against a typo turning the demo into an hour-long build.
MAX_MEMBERS = 100_000
MAX_MONTHS = 60
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
ONE_DAY = timedelta(days=1)
REFUSED = (MemberLimitReached, InsufficientCredits)

Progress = Callable[[str, int, int], None]


def build_demo(now: datetime, seed: int = 7, members: int = 24, months: int = 6, *,
               progress: Progress | None = None) -> DemoWorld:
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
        return Builder(now, seed, members, months, progress).build()
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


class Builder:
    """Writes the world's history in time order; one instance builds one world."""

    def __init__(self, now: datetime, seed: int, members: int, months: int,
                 progress: Progress | None = None) -> None:
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

    def record(self, who: int, credits: int, campaign: str) -> bool:
        """One debit by person `who` for the org; False if it was refused."""
        try:
            self.sessions[who].record_usage(self.org_id, credits, campaign=campaign,
                                            idempotency_key=self.key())
        except REFUSED:
            return False  # the agent was refused, as it would be; the story goes on
        return True

    # --- the cast ---------------------------------------------------------------------

    def set_up(self) -> None:
        engine, org = self.engine, self.org_id
        plans, org_plan, self.next_plan = catalogue(self.member_count)
        for plan in plans:
            engine.add_plan(plan)
        self.org_plan = next(p for p in plans if p.id == org_plan)
        self.people = cast(self.rng, self.member_count, self.org_plan.base_credits_per_month)
        owner = self.people[0]
        ann = engine.add_user(owner.user_id, name=owner.name, email="ann@example.com",
                              plan="starter-annual")
        self.personal_account_id = ann.personal_account_id
        for person in self.people[1:]:
            engine.add_user(person.user_id, name=person.name,
                            email=f"{person.user_id}@acme.example", plan="free")
        engine.create_org(org, name="Acme Robotics", owner=owner.user_id, plan=org_plan)
        for person in self.people[1:]:
            engine.add_member(org, person.user_id, role=person.role)
        self.sessions = [engine.session(p.user_id) for p in self.people]
        self.owner_session = owner_session = self.sessions[0]
        # Limits the owner set when the org began: Dana's leaves room, Eli's is tight.
        dana, eli = self.people[3], self.people[4]
        owner_session.set_member_limit(org, dana.user_id,
                                       round_to(dana.credits_per_month * 1.1, 500))
        owner_session.set_member_limit(org, eli.user_id,
                                       round_to(eli.credits_per_month * 0.6, 500))
        # A few more, so the members table shows limits at every scale.
        for person in self.people[MIN_MEMBERS::9]:
            owner_session.set_member_limit(org, person.user_id,
                                           round_to(person.credits_per_month * 2, 1_000))
        # Alerts the owner set at the start, so the story raises some: the balance halving
        # in the busy months, and members nearing (80%) and reaching their limit.
        base = self.org_plan.base_credits_per_month
        owner_session.configure_alerts(org, balance_below=[round_to(base * 0.5, 1_000)],
                                       member_usage_percent=[80, 100])

    # --- the history ------------------------------------------------------------------

    def build(self) -> DemoWorld:
        self.set_up()
        self.progress("members", self.member_count, self.member_count)
        rng = self.rng
        shape = [RAMP[i] if i < len(RAMP) else BUSY_LOAD for i in range(self.months + 1)]
        shape[max(1, self.months - 1):] = CALM_LOADS[-self.months:]
        loads = [load * rng.uniform(0.92, 1.08) for load in shape]
        self.draw = UsageDraw(rng, self.people, self.boundaries, loads)
        acts = story.script(self)
        step = self.write_usage(acts)
        for instant, act in acts[step:]:
            self.at(instant)
            act()
        self.at(self.now)
        self.progress("months", self.months + 1, self.months + 1)
        return self.world()

    def write_usage(self, acts: list[tuple[datetime, story.Act]]) -> int:
        """Every day's debits up to four hours before `now`, each at its instant, with the
        owner's acts run in their turn; returns how many acts ran.

        The org's debits go to the engine in bulk (engine/bulk_usage.py: each under
        record_usage's rules, no receipts), drawn one by one from `org_debits`, which moves
        the clock, runs the acts and records the owner's personal debits between them."""
        ran = [0]
        record_usage_in_bulk(self.engine, self.org_id, self.org_debits(acts, ran))
        return ran[0]

    def org_debits(self, acts: list[tuple[datetime, story.Act]],
                   ran: list[int]) -> Iterator[tuple[BillingSession, int, str, str]]:
        """(session, credits, campaign, key) of each org debit in time order; `ran[0]` is
        the number of acts run so far.

        The hot loop of a build (a million debits at the largest scale): names are local,
        the clock is set only when time moves, and an instant's date part is added to a
        cached offset rather than built from keyword arguments each time."""
        sessions = self.sessions
        personal = self.owner_session.record_usage
        clock, start, draw = self.clock, self.start, self.draw.day
        cutoff = self.now - timedelta(hours=4)
        offsets: list[timedelta | None] = [None] * (24 * 3600)
        step, next_act = 0, acts[0][0] if acts else None
        keys, now = self.keys, clock()
        boundaries, period = self.boundaries, 0
        day = start.replace(hour=0)
        while day < cutoff:
            if period + 1 < len(boundaries) and day >= boundaries[period + 1]:
                period += 1
                self.progress("months", period, self.months + 1)
            # Only the first and the last day hold instants outside the history.
            edge = day <= start or day + ONE_DAY >= cutoff
            for second, who, size, campaign in draw(day):
                offset = offsets[second]
                if offset is None:
                    offset = offsets[second] = timedelta(seconds=second)
                instant = day + offset
                if edge and (instant <= start or instant >= cutoff):
                    continue
                if next_act is not None and next_act <= instant:
                    self.keys = keys
                    step = ran[0] = self.act_until(acts, step, instant)
                    keys, now = self.keys, clock()
                    next_act = acts[step][0] if step < len(acts) else None
                if instant > now:
                    clock.set(instant)
                    now = instant
                keys += 1
                if who >= 0:
                    yield sessions[who], size, campaign, f"demo-{keys}"
                    continue
                try:        # index -1: the owner's personal account, not the org's
                    personal(self.personal_account_id, size, campaign=campaign,
                             idempotency_key=f"demo-{keys}")
                except REFUSED:
                    pass  # the agent was refused, as it would be; the story goes on
            day += ONE_DAY
        self.keys = keys

    def act_until(self, acts: list[tuple[datetime, story.Act]], step: int,
                  instant: datetime) -> int:
        """Run the acts due by `instant` from `step` on; returns the next act's index."""
        while step < len(acts) and acts[step][0] <= instant:
            self.at(acts[step][0])
            acts[step][1]()
            step += 1
        return step

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
            activity_weights=tuple(self.draw.rates[False]))
