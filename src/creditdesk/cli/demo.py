"""`creditdesk demo`: the dashboard on the deterministic demo world, with live activity."""

from __future__ import annotations

import gc
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..demo import DemoWorld
    from ..tui import DemoControls, LiveNews

# Debits per one-second tick of live activity: enough to watch figures move.
DEBITS_PER_TICK = 3


class LiveDemo:
    """The demo's moving parts, handed to the app as DemoControls callables.

    Simulated agents act through each member's own MemoryBackend, exactly like the
    dashboard, so limits, pauses and auto-recharge behave as for real users. The demo clock
    follows real time while live activity runs, and jumps when asked to time-travel."""

    def __init__(self, world: DemoWorld, *, seed: int) -> None:
        from ..backends import MemoryBackend

        self.world = world
        self.rng = random.Random(seed)  # its own Random: the world stays as built
        self._backends: dict[str, MemoryBackend] = {}
        self._backend_type = MemoryBackend
        self._last_tick: float | None = None
        self._names = {person.user_id: person.name for person in world.people}
        self._stopped: set[str] = set()  # told once per period, not every second
        self._out_of_credits = False      # likewise: told once, until a debit goes through

    def _backend(self, user_id: str):
        backend = self._backends.get(user_id)
        if backend is None:
            backend = self._backends[user_id] = self._backend_type(self.world.engine, user_id)
        return backend

    def _follow_real_time(self) -> None:
        now = time.monotonic()
        if self._last_tick is not None:
            self.world.clock.advance(timedelta(seconds=now - self._last_tick))
        self._last_tick = now

    async def simulate_activity(self) -> LiveNews | None:
        from ..errors import InsufficientCredits, MemberLimitReached
        from ..money import format_credits
        from ..tui import LiveNews

        self._follow_real_time()
        tick_began = self.world.clock()
        news, stops = [], []
        for _ in range(DEBITS_PER_TICK):
            user_id, credits, campaign = self.world.next_activity(self.rng)
            try:
                receipt = await self._backend(user_id).record_usage(
                    self.world.org_id, credits, campaign=campaign,
                    idempotency_key=f"live-{uuid.uuid4()}")
            except MemberLimitReached:
                if user_id not in self._stopped:
                    self._stopped.add(user_id)
                    stops.append(user_id)
            except InsufficientCredits:
                # Said once until credits come back; the overview's banner carries the state.
                if not self._out_of_credits:
                    self._out_of_credits = True
                    news.append("The org ran out of credits: autopilot paused.")
            else:
                self._out_of_credits = False
                if receipt.recharged:
                    news.append(f"Auto-recharge bought {format_credits(receipt.recharged)}.")
        alerted = []
        if stops:
            # A member's first refusal in a period raises member_limit_reached; one refused
            # before this demo began (in the built history) raises nothing now, and only the
            # live line tells of it.
            raised = {alert.user_id for alert in await self._backend(self.world.owner).alerts(
                self.world.org_id, limit=4 * DEBITS_PER_TICK)
                if alert.kind == "member_limit_reached" and alert.at >= tick_began}
            told = []
            for user_id in stops:
                line = f"{self._names.get(user_id, user_id)} was stopped at their credit limit."
                (alerted if user_id in raised else told).append(line)
            news = told + news
        if not news and not alerted:
            return None
        return LiveNews(self.world.org_id, said=tuple(dict.fromkeys(news)),
                        alerted=tuple(dict.fromkeys(alerted)))

    async def advance_to_period_close(self) -> str:
        from ..backends.memory import off_loop

        # The engine thread, like every other engine call: the screen keeps drawing.
        return await off_loop(self._close_period)

    def _close_period(self) -> str:
        from ..money import format_cents, format_credits

        world = self.world
        owner = world.engine.session(world.owner)
        balance = owner.balance(world.org_id)
        # Only what the close writes is read back (ledger_since), never the whole ledger.
        first_new = world.engine.next_entry_id
        invoices = {invoice.id for invoice in owner.invoices(world.org_id)}
        world.clock.set(balance.period_end)
        self._stopped.clear()
        self._out_of_credits = False
        self._last_tick = time.monotonic() if self._last_tick is not None else None
        after = owner.balance(world.org_id)  # the read closes the period
        entries = world.engine.ledger_since(first_new, [world.org_id])
        forfeited = -sum(entry.rollover for entry in entries
                         if entry.kind == "forfeit" and entry.account_id == world.org_id)
        parts = [f"Period closed on {balance.period_end:%d %b %Y}: "
                 f"{format_credits(after.rollover)} roll over, "
                 f"{format_credits(forfeited)} forfeited above the cap, "
                 f"and a new grant of {format_credits(after.base)}."]
        for invoice in owner.invoices(world.org_id):
            if invoice.id not in invoices:
                parts.append(f"New invoice {invoice.number}: "
                             f"{format_cents(invoice.amount_cents)} ({invoice.status}).")
        return " ".join(parts)

    def controls(self) -> DemoControls:
        from ..tui import DemoControls

        return DemoControls(simulate_activity=self.simulate_activity,
                            advance_to_period_close=self.advance_to_period_close)


# members x months from which building the world takes long enough to announce.
BIG_WORLD = 6_000


class BuildProgress:
    """Says on stderr how far a big demo build is, on one line rewritten in place."""

    def __init__(self, members: int, months: int, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.members, self.months = members, months
        self.started = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "members":
            line = f"{done:,} members ready; writing {self.months} months of history…"
        else:
            line = f"history: month {done} of {total} written"
        seconds = time.monotonic() - self.started
        end = "\n" if stage == "months" and done == total else ""
        print(f"\r{line} ({seconds:.0f} s)\033[K", end=end, file=self.stream, flush=True)


def run_demo(args) -> int:
    """Build the demo world at the real current time and open the dashboard on it."""
    # pydantic looks for plugins (`pydantic` entry points) the first time a model is built,
    # by scanning every installed distribution's metadata: ~7-13 ms of start-up CPU, before
    # the first frame, for plugins that would only observe the demo's own in-memory models.
    # PYDANTIC_DISABLE_PLUGINS is pydantic's documented switch; setdefault, so anyone who
    # sets it (even to "", which turns plugins back on) keeps their choice. Here, not in
    # main(): other commands (the server) may well want their plugins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # No cycle collection while starting: importing Textual, pydantic and the engine and
    # building the world make hundreds of thousands of objects that live as long as the
    # app, and the collector walked them over a hundred times before the first frame (a
    # seventh of start-up's CPU). They are frozen once built (see _build_app).
    gc.disable()
    app = None
    try:
        app = _build_app(args)
    finally:
        # The world lives as long as the app: keep the collector from re-scanning its
        # objects (a big world is millions) in full collections that would stall the
        # screen. What start-up left as cyclic garbage stays too: a few imports' worth.
        gc.freeze()
        if app is None:
            gc.enable()
    if app is None:
        return 2
    # Still off while Textual builds the first frame (its young passes over the widgets
    # and styles being made were ~40 collections before the figures showed): the app turns
    # the collector on once that frame is drawn.
    app.collector_off_until_first_frame = True
    app.run()
    return 0


def _build_app(args):
    """The dashboard on a new demo world, or None (said on stderr) if it cannot start."""
    from .. import config
    from ..backends import MemoryBackend
    from ..demo import build_demo
    from ..tui import CreditDeskApp

    try:
        settings = config.load_settings()  # the theme and [keys] apply to the demo too
    except config.ConfigError as error:
        print(f"creditdesk demo: {error}", file=sys.stderr)
        return None
    progress = None
    if args.members * args.months >= BIG_WORLD:
        # Seconds to tens of seconds of simulated history: say so instead of a blank screen.
        print(f"Building the demo world: {args.members:,} members, {args.months} months of "
              f"history…", file=sys.stderr, flush=True)
        progress = BuildProgress(args.members, args.months)
    world = build_demo(now=datetime.now(UTC).replace(microsecond=0), seed=args.seed,
                       members=args.members, months=args.months, progress=progress)
    user = {"owner": world.owner, "admin": world.admin, "member": world.member}[args.role]
    live = LiveDemo(world, seed=args.seed)
    # The engine is in this process: asked here, whoami costs a fraction of a millisecond,
    # and the first frame shows the context and starts loading the figures at once.
    identity = world.engine.session(user).whoami()
    return CreditDeskApp(backend=MemoryBackend(world.engine, user), clock=world.clock,
                         demo=live.controls(), keymap=settings.keys, theme=settings.theme,
                         remember_theme=config.remember_theme, identity=identity)
