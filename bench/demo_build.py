"""How long the demo world takes to build, against the builder before the bulk build.

    .venv/bin/python bench/demo_build.py                      # 2,000 x 6 and 10,000 x 12
    .venv/bin/python bench/demo_build.py --sizes 2000x6 --rounds 3 --compare
    .venv/bin/python bench/demo_build.py --sizes 2000x6 --profile

Each round builds every size with the old builder (src/creditdesk/demo.py at the commit
before the split, loaded from git: tests/support/demo_reference.py) and with today's
`creditdesk.demo`, alternating, and prints wall and CPU seconds of each and their ratio
(old / new: above 1 is faster). CPU time is the steadier figure on a shared machine; the
load average is printed before and after. Both builders run on today's engine, so the
ratio is what the builder saves; the engine's own speed shows in both columns.
`--compare` also checks that both builds hold the same books, table by table.
`--profile` then profiles one build of the first size with cProfile.
`--whole REV` compares whole trees instead: the build of commit REV (its engine too,
extracted with `git archive`) against the working tree's, each in a fresh process, so the
ratio is everything that changed since REV.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from creditdesk.demo import build_demo
from tests.support.demo_reference import books, demo_before

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        members, _, months = part.strip().partition("x")
        if not (members.isdigit() and months.isdigit()):
            raise argparse.ArgumentTypeError(f"a size is MEMBERSxMONTHS, like 2000x6; "
                                             f"got {part!r}")
        sizes.append((int(members), int(months)))
    return sizes


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(build, members: int, months: int):
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    world = build(NOW, members=members, months=months)
    return world, time.perf_counter() - wall, time.process_time() - cpu


def run_size(old_build, members: int, months: int, compare: bool) -> tuple[float, float]:
    old, old_wall, old_cpu = timed(old_build, members, months)
    entries = old.engine.next_entry_id - 1
    if not compare:
        del old
    new, new_wall, new_cpu = timed(build_demo, members, months)
    print(f"  {members:>6,} x {months:<2}  {entries:>9,} entries   "
          f"before {old_wall:6.2f} s wall {old_cpu:6.2f} s CPU   "
          f"now {new_wall:6.2f} s wall {new_cpu:6.2f} s CPU   "
          f"ratio {old_wall / new_wall:4.2f}x wall {old_cpu / new_cpu:4.2f}x CPU",
          flush=True)
    if compare:
        same = books(old) == books(new)
        print(f"      same books both ways: {'yes' if same else 'NO'}", flush=True)
    return old_cpu, new_cpu


# One build in a fresh process, printing its wall and CPU seconds.
CHILD = ("import sys, time; from datetime import datetime; from creditdesk.demo import "
         "build_demo; now = datetime.fromisoformat(sys.argv[1]); wall, cpu = "
         "time.perf_counter(), time.process_time(); world = build_demo(now, members="
         "int(sys.argv[2]), months=int(sys.argv[3])); print(time.perf_counter() - wall, "
         "time.process_time() - cpu, world.engine.next_entry_id - 1)")


def tree_at(commit: str, into: Path) -> Path:
    """The src/ folder of `commit`, extracted (read-only use of the repository)."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def child_build(src: Path, members: int, months: int) -> tuple[float, float, int]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, NOW.isoformat(), str(members),
                          str(months)], env=env, check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def run_whole(commit: str, sizes: list[tuple[int, int]], rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="demo-build-") as folder:
        old_src, new_src = tree_at(commit, Path(folder)), ROOT / "src"
        print(f"whole trees: {commit} against the working tree")
        for round_ in range(rounds):
            print(f"round {round_ + 1} of {rounds}")
            for members, months in sizes:
                old_wall, old_cpu, entries = child_build(old_src, members, months)
                new_wall, new_cpu, new_entries = child_build(new_src, members, months)
                print(f"  {members:>6,} x {months:<2}  {entries:>9,} entries   "
                      f"{commit[:10]} {old_wall:6.2f} s wall {old_cpu:6.2f} s CPU   "
                      f"tree {new_wall:6.2f} s wall {new_cpu:6.2f} s CPU   "
                      f"ratio {old_wall / new_wall:4.2f}x wall {old_cpu / new_cpu:4.2f}x CPU"
                      + ("" if entries == new_entries else
                         f"   (the tree wrote {new_entries:,} entries)"), flush=True)


def profile(members: int, months: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    build_demo(NOW, members=members, months=months)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of one build at {members:,} x {months} (by own time):")
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("2000x6,10000x12"),
                        help="MEMBERSxMONTHS, comma-separated (default 2000x6,10000x12)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every size")
    parser.add_argument("--compare", action="store_true",
                        help="check both builds hold the same books (slow at 10,000)")
    parser.add_argument("--profile", action="store_true",
                        help="then cProfile one build of the first size")
    parser.add_argument("--top", type=int, default=25, help="profile rows to print")
    parser.add_argument("--whole", metavar="REV",
                        help="compare the whole tree of commit REV instead (e.g. HEAD)")
    args = parser.parse_args(argv)
    if args.whole:
        print(f"load before: {load()}")
        run_whole(args.whole, args.sizes, args.rounds)
        print(f"load after: {load()}")
        return 0
    old_build = demo_before().build_demo
    print(f"load before: {load()}")
    totals: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1} of {args.rounds}")
        for members, months in args.sizes:
            totals.setdefault((members, months), []).append(
                run_size(old_build, members, months, args.compare))
    print(f"load after: {load()}")
    if args.rounds > 1:
        for (members, months), runs in totals.items():
            best_old, best_new = min(o for o, _ in runs), min(n for _, n in runs)
            print(f"best CPU at {members:,} x {months}: before {best_old:.2f} s, now "
                  f"{best_new:.2f} s, {best_old / best_new:.2f}x")
    if args.profile:
        members, months = args.sizes[0]
        profile(members, months, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
