"""Usage screen at scale: how long the chart takes to redraw for a 10,000-member, 12-month org.

Run by hand (it prints figures, it is not a test):

    .venv/bin/python bench/tui_usage.py                          # 10,000 members, 12 months
    .venv/bin/python bench/tui_usage.py --members 1000 --months 6   # a quicker look

For every granularity and split over the screen's "Last 12 months" range, in a headless app
at 80x24 and 160x50, it times separately (best of --repeats, wall and this process's CPU):
- fetch: the backend's usage_history answer (the engine's cost, not the screen's);
- table: folding the answer into the screen's table (top members/campaigns + "other");
- redraw: loading the figure into plotext and building the plot at the widget's size, which
  is what happens on every switch, resize or live tick once the answer is in.
Target: table + redraw under 100 ms. The same figures for the 24-member, 6-month demo world,
measured in the same run, are the baseline the ratio column compares against.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

from creditdesk.backends import MemoryBackend
from creditdesk.demo import build_demo
from creditdesk.tui import CreditDeskApp
from creditdesk.tui.screens.usage import UsageScreen, build_query
from creditdesk.tui.widgets.usage_chart import TOP_KEYS, UsageChart, tabulate_usage

NOW = datetime(2026, 11, 15, tzinfo=UTC)
TARGET_MS = 100.0
SIZES = ((80, 24), (160, 50))
CHOICES = tuple((granularity, group_by) for granularity in ("day", "week", "month")
                for group_by in ("source", "member", "campaign"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args(argv)


def timed(action, repeats: int) -> tuple[float, float, object]:
    """Best wall and best CPU milliseconds of `repeats` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return min(walls), min(cpus), result


async def measure(world, size: tuple[int, int], repeats: int) -> dict[tuple, dict]:
    """Figures per (granularity, group_by) for one world at one terminal size."""
    backend = MemoryBackend(world.engine, world.owner)
    app = CreditDeskApp(backend=backend, clock=world.clock, cursor_blink=False)
    figures = {}
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("u")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, UsageScreen), screen
        chart = screen.query_one(UsageChart)
        plot = chart.query_one("#chart-plot")
        members = await backend.members(world.org_id)
        names = {member.user_id: member.name for member in members}
        for granularity, group_by in CHOICES:
            query = build_query("12m", granularity, group_by, world.clock())
            wall, cpu = time.perf_counter(), time.process_time()
            # As the screen asks: the biggest few members or campaigns, the rest summed.
            series = await backend.usage_history(world.org_id, start=query.start,
                                                 end=query.end, granularity=granularity,
                                                 group_by=group_by,
                                                 top=None if group_by == "source" else TOP_KEYS)
            fetch = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
            table_ms = timed(lambda: tabulate_usage(series, names=names), repeats)
            table = table_ms[2]
            chart.show(table)
            await pilot.pause()  # lay the plot out so its size is the real one

            def redraw():
                chart._load_figure()
                return plot.render()

            redraw_ms = timed(redraw, repeats)
            figures[granularity, group_by] = {
                "points": len(series.points), "buckets": len(table.buckets),
                "bars": chart.is_bars, "fetch": fetch, "table": table_ms[:2],
                "redraw": redraw_ms[:2]}
    return figures


def report(label: str, figures: dict, baseline: dict | None) -> None:
    print(f"\n{label}")
    print(f"{'per':<6}{'split':<10}{'points':>9}{'buckets':>8}{'chart':>6}"
          f"{'fetch ms':>10}{'table ms':>10}{'redraw ms':>11}{'table+redraw':>14}"
          f"{'cpu':>8}{'vs base':>9}  target {TARGET_MS:.0f} ms")
    for (granularity, group_by), f in figures.items():
        total = f["table"][0] + f["redraw"][0]
        cpu = f["table"][1] + f["redraw"][1]
        ratio = ""
        if baseline is not None:
            base = baseline[granularity, group_by]
            ratio = f"{total / max(0.001, base['table'][0] + base['redraw'][0]):.1f}x"
        verdict = "ok" if total < TARGET_MS else "OVER"
        # Wall far above CPU means other processes had the cores (a shared machine).
        if total >= TARGET_MS and cpu < TARGET_MS and total > 1.5 * cpu:
            verdict = "OVER (wall; cpu ok: machine busy)"
        print(f"{granularity:<6}{group_by:<10}{f['points']:>9,}{f['buckets']:>8}"
              f"{'bars' if f['bars'] else 'lines':>6}{f['fetch'][0]:>10.1f}"
              f"{f['table'][0]:>10.1f}{f['redraw'][0]:>11.1f}{total:>14.1f}"
              f"{cpu:>8.1f}{ratio:>9}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("building the baseline demo world (24 members, 6 months)...", flush=True)
    small = build_demo(now=NOW, seed=7, members=24, months=6)
    print(f"building the demo world ({args.members:,} members, {args.months} months)...",
          flush=True)
    started = time.perf_counter()
    big = build_demo(now=NOW, seed=7, members=args.members, months=args.months)
    print(f"built in {time.perf_counter() - started:.1f} s")
    for size in SIZES:
        base = asyncio.run(measure(small, size, args.repeats))
        report(f"baseline: 24 members, 6 months, {size[0]}x{size[1]}", base, None)
        figures = asyncio.run(measure(big, size, args.repeats))
        report(f"{args.members:,} members, {args.months} months, {size[0]}x{size[1]}",
               figures, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
