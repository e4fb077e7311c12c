"""The longest event-loop stall while touring every screen and key of the big demo.

Run by hand: `.venv/bin/python bench/tui_stall.py [--members 10000 --months 12]`.
Builds the demo world (tens of seconds at that size), then drives the dashboard headless at
80x24 as the owner through every screen and its keys (sorting, filtering, ranges, splits,
live activity, time travel), waiting after each until the app is idle. A probe task on the
same loop sleeps 2 ms at a time and notes how late it wakes: that lateness is a stall,
the time the dashboard could not have drawn a frame or taken a key. One stall may be several
callbacks run back to back in one turn of the loop (a worker's wake-up, then a repaint), so
the longest single callback (its CPU time, and what it was) is reported beside it: that is
the piece one fix can shorten. The same probe runs
during the same tour of keys on a minimal Textual app (nothing bound to them), in the same
run, as the baseline. Target: no stall over 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pilot import settle

NOW = datetime(2026, 11, 15, tzinfo=UTC)
TARGET_MS = 50.0
TRACE_MS = 2.0  # --trace lists the callbacks of at least this much CPU
PROFILED, PROFILE_LINES = 10, 40  # --profile: the heaviest callbacks, their top functions
PROBE_SECONDS = 0.002
SIZE = (80, 24)

# (what it is, keys): every screen, then its keys, in the order a person might try them.
TOUR = (
    ("overview", ("o",)),
    ("usage", ("u",)),
    ("usage: range", ("d", "d", "d")),
    ("usage: day/week/month", ("g", "g", "g")),
    ("usage: split by", ("b", "b", "b")),
    ("members", ("m",)),
    ("members: sort", ("1", "2", "3", "4")),
    ("members: page down, end", ("pagedown", "end")),
    ("members: filter", ("slash", "a", "backspace", "enter")),
    ("invoices", ("i",)),
    ("invoices: move, details", ("down", "enter", "escape")),
    ("activity", ("v",)),
    ("activity: kind", ("k", "k", "x")),
    ("activity: scroll", ("pagedown", "pagedown", "end")),
    ("settings", ("s",)),
    ("context picker", ("c", "escape")),
    ("help", ("question_mark", "escape")),
    ("live activity (3 s) on the overview", ("o", "l")),
    ("time travel", ("t",)),
)


class LoopProbe:
    """Notes the largest lateness of a short sleep on the running loop (a stall), and the
    largest CPU time the loop's own thread spent in one such sleep: on a loaded machine
    the lateness also counts waiting for a core (or for the GIL, held by the engine's
    thread), the CPU time only the work the loop itself did meanwhile."""

    def __init__(self, trace: StepTrace | None = None) -> None:
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.trace = trace
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            asked, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_SECONDS)
            late = time.perf_counter() - asked - PROBE_SECONDS
            spent = time.thread_time() - cpu
            self.worst = max(self.worst, late)
            self.worst_cpu = max(self.worst_cpu, spent)
            if self.trace is not None:
                self.trace.stall(late, spent)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def take(self) -> tuple[float, float]:
        """(longest stall, most loop CPU in one sleep) since the last take, in seconds."""
        worst, self.worst = self.worst, 0.0
        worst_cpu, self.worst_cpu = self.worst_cpu, 0.0
        return worst, worst_cpu

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class StepTrace:
    """For one step named on the command line (`--trace`), every loop callback that took
    at least TRACE_MS of the loop thread's CPU, numbered by the turn of the loop it ran in
    (callbacks in one turn run back to back: together they are one stall), and, with
    `--profile`, a cProfile of each of the PROFILED heaviest of them. For finding what to
    split; the profiler slows what it watches, so only its proportions count."""

    def __init__(self, label: str | None, profile: bool) -> None:
        self.label = label
        self.profile = profile
        self.turn = 0
        self.rows: list[tuple[int, float, str]] = []
        self.profiles: list[tuple[float, int, str, object]] = []
        self.recording = False

    def turn_started(self) -> None:
        self.turn += 1

    def stall(self, late: float, spent: float) -> None:
        """A probe's wake-up: noted among the callbacks when it was late by TRACE_MS."""
        if self.recording and late * 1000 >= 5 * TRACE_MS:
            what = f"PROBE woke {late * 1000:.1f} ms late (loop CPU {spent * 1000:.1f} ms)"
            self.rows.append((self.turn, spent, what))

    def run(self, original, handle: asyncio.Handle) -> float:
        """Run one callback; its CPU time, noted (and profiled) while recording."""
        profiler = None
        if self.recording and self.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.thread_time()
        original(handle)
        spent = time.thread_time() - started
        if profiler is not None:
            profiler.disable()
        if self.recording and spent * 1000 >= TRACE_MS:
            self.rows.append((self.turn, spent, describe(handle)))
            if profiler is not None:
                self.profiles.append((spent, self.turn, describe(handle), profiler))
                self.profiles = sorted(self.profiles, key=lambda row: -row[0])[:PROFILED]
        return spent

    def begin(self, label: str) -> None:
        self.recording = label in self.label.split(",")
        if self.recording:
            self.rows.append((self.turn, 0.0, f"--- step {label!r}"))

    def end(self) -> None:
        self.recording = False

    def report(self) -> None:
        print(f"callbacks of {self.label!r} over {TRACE_MS} ms (turn of the loop, CPU):")
        for turn, spent, what in self.rows:
            print(f"  turn {turn:6d}  {spent * 1000:6.1f} ms  {what}")
        import pstats

        for spent, turn, what, profiler in self.profiles:
            print(f"=== turn {turn}, {spent * 1000:.1f} ms (profiled): {what}")
            stats = pstats.Stats(profiler).strip_dirs()
            stats.sort_stats("cumulative").print_stats(PROFILE_LINES)


class CallbackTimer:
    """The longest single loop callback (CPU time of the loop's thread) and what it ran: a
    task's name and coroutine, or the callback. asyncio has no hook for this, so while
    installed it wraps `asyncio.Handle._run`, the one place every callback runs through."""

    def __init__(self, trace: StepTrace | None = None) -> None:
        self.worst = 0.0
        self.what = ""
        self.trace = trace
        self._original = None
        self._original_turn = None

    def install(self) -> None:
        original = self._original = asyncio.Handle._run
        timer = self

        def timed(handle: asyncio.Handle) -> None:
            if timer.trace is not None:
                spent = timer.trace.run(original, handle)
            else:
                started = time.thread_time()
                original(handle)
                spent = time.thread_time() - started
            if spent > timer.worst:
                timer.worst, timer.what = spent, describe(handle)

        asyncio.Handle._run = timed
        if self.trace is not None:  # number the turns of the loop (asyncio's own step)
            loop_type = type(asyncio.get_running_loop())
            turn = self._original_turn = loop_type._run_once

            def counted(loop) -> None:
                timer.trace.turn_started()
                turn(loop)

            loop_type._run_once = counted

    def uninstall(self) -> None:
        if self._original is not None:
            asyncio.Handle._run = self._original
        if self._original_turn is not None:
            type(asyncio.get_running_loop())._run_once = self._original_turn

    def take(self) -> tuple[float, str]:
        worst, what = self.worst, self.what
        self.worst, self.what = 0.0, ""
        return worst, what


def describe(handle: asyncio.Handle) -> str:
    callback = handle._callback
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):  # a task's step: name it by its coroutine
        coroutine = owner.get_coro()
        return f"{owner.get_name()}: {getattr(coroutine, '__qualname__', coroutine)}"
    return getattr(callback, "__qualname__", repr(callback))[:60]


async def tour(app, live_seconds: float, trace: StepTrace | None = None,
               until: str | None = None) -> list[tuple[str, tuple[float, float, float, str]]]:
    """Each tour step with (longest stall, most loop CPU in one stall, longest callback's
    CPU, what that callback was), in seconds."""
    probe, callbacks, steps = LoopProbe(trace), CallbackTimer(trace), []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        probe.start()
        callbacks.install()
        for label, keys in TOUR:
            probe.take()
            callbacks.take()
            if trace is not None:
                trace.begin(label)
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
            if "live" in label:
                await asyncio.sleep(live_seconds)  # ticks every second meanwhile
                await pilot.press("l")
                await settle(pilot)
            if trace is not None:
                trace.end()
            steps.append((label, (*probe.take(), *callbacks.take())))
            if label == until:
                break
        callbacks.uninstall()
        probe.stop()
    return steps


def minimal_app():
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Minimal(App):
        def compose(self):
            yield Header()
            yield Static("minimal app")
            yield Footer()

    return Minimal()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--live-seconds", type=float, default=3.0)
    parser.add_argument("--trace", metavar="STEP",
                        help="list the callbacks of these steps (e.g. 'usage,help') by turn")
    parser.add_argument("--profile", action="store_true",
                        help="with --trace: cProfile that step's heaviest callbacks")
    parser.add_argument("--until", metavar="STEP", help="end the tour after this step")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="leave out the minimal app's tour (quicker, for --trace)")
    args = parser.parse_args()

    from creditdesk.backends import MemoryBackend
    from creditdesk.cli.demo import LiveDemo
    from creditdesk.demo import build_demo
    from creditdesk.tui import CreditDeskApp

    started = time.perf_counter()
    world = build_demo(now=NOW, seed=7, members=args.members, months=args.months)
    print(f"demo world: {args.members:,} members x {args.months} months, built in "
          f"{time.perf_counter() - started:.1f} s")
    gc.freeze()  # as `creditdesk demo` does: the world is never collected
    live = LiveDemo(world, seed=7)
    app = CreditDeskApp(MemoryBackend(world.engine, world.owner), clock=world.clock,
                        demo=live.controls(), cursor_blink=False)
    load = Path("/proc/loadavg").read_text().strip()
    trace = StepTrace(args.trace, args.profile) if args.trace else None
    steps = asyncio.run(tour(app, args.live_seconds, trace, args.until))
    baseline = steps if args.skip_baseline else asyncio.run(
        tour(minimal_app(), args.live_seconds, until=args.until))
    if trace is not None:
        trace.report()

    width = max(len(label) for label, _ in steps)
    print(f"load average before the tour: {load}")
    print(f"{'step':<{width}}  creditdesk: stall (loop CPU) [longest callback]   "
          f"minimal app: stall (loop CPU) [longest callback]")
    for (label, (worst, cpu, one, _)), (_, (base, base_cpu, base_one, _)) in zip(steps,
                                                                               baseline):
        print(f"{label:<{width}}  {worst * 1000:8.1f} ms ({cpu * 1000:6.1f}) "
              f"[{one * 1000:6.1f}]   {base * 1000:8.1f} ms ({base_cpu * 1000:6.1f}) "
              f"[{base_one * 1000:6.1f}]")
    print("the longest callback of each step:")
    for label, (_, _, one, what) in steps:
        print(f"  {label:<{width}}  {one * 1000:6.1f} ms  {what}")
    for name, column in (("stall", 0), ("loop CPU in one stall", 1),
                         ("single callback (CPU)", 2)):
        worst_label, worst = max(((label, pair[column]) for label, pair in steps),
                                 key=lambda step: step[1])
        base = max(pair[column] for _, pair in baseline)
        print(f"longest {name}: {worst * 1000:.1f} ms ({worst_label}); minimal app's: "
              f"{base * 1000:.1f} ms; ratio {worst / base if base else float('inf'):.1f}x; "
              f"target: at most {TARGET_MS:.0f} ms -> "
              f"{'met' if worst * 1000 <= TARGET_MS else 'NOT met'}")
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
