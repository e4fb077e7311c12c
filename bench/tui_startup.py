"""Start-up time of `creditdesk demo` (first screen with real figures) against a minimal
Textual app (header, one line, footer), both measured in tmux in the same run.

Run by hand: `.venv/bin/python bench/tui_startup.py [--runs 7] [--baseline-src DIR]`, where
DIR is the `src` folder of another copy of the code (e.g. HEAD:
`git archive HEAD | tar -x -C /tmp/head`, then `--baseline-src /tmp/head/src`), measured in
the same run, alternated with the others. Both copies run as
`python -c "…main()" demo` with PYTHONPATH on their `src`, so they start alike. Needs tmux
(`apt-get install -y tmux`); it runs a tmux server of its own, so runs by several people at
once do not disturb each other's panes. Prints the median wall time of each, from launching the
process to its screen showing the awaited text, and their ratio (target: at most 1.1x),
and beside it the CPU time the process had used by then (from /proc, read when the text
shows): on a loaded machine the wall time mostly measures waiting for a core.

Both run with Python's bytecode cache on (in a temporary folder, PYTHONPYCACHEPREFIX) and
warmed by a first run, as an installed package would: with PYTHONDONTWRITEBYTECODE set, as
in some sandboxes, every start would compile CreditDesk's ~100 modules from source again
while Textual's are precompiled, which is not what a person who installed it sees.

A third program, "minimal + models", is the minimal app importing `creditdesk.models` and
`creditdesk.engine` first: the pydantic models the contract requires and the engine, which
an in-process dashboard cannot show a figure without. Its ratio is the floor of any start-up
on this design; the demo is also reported against it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MINIMAL_APP = '''
from textual.app import App
from textual.widgets import Footer, Header, Static


class Minimal(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield Static("minimal app ready")
        yield Footer()


Minimal().run()
'''

# The minimal app that first imports what the in-process dashboard cannot start without:
# the contract's models (pydantic v2, contract.md) and the engine. Its ratio to the minimal
# app is the least `creditdesk demo` could reach, whatever the dashboard does.
FLOOR_APP = "import creditdesk.models, creditdesk.engine\n" + MINIMAL_APP

REPO = Path(__file__).resolve().parent.parent
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 60.0
# A tmux server of this run's own (its own socket): two runs at once (several people share
# the machine) used the same server and session names and killed each other's panes. A
# session that only waits keeps it running, so no run pays for starting the server.
TMUX = ("tmux", "-L", f"creditdesk-bench-{os.getpid()}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its finished children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def time_until_shown(command: str, marker: str, session: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the pane's process) from starting `command` in a fresh
    80x24 tmux pane until `marker` shows."""
    subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
    started = time.perf_counter()
    subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    command], check=True)
    pid = int(subprocess.run([*TMUX, "display-message", "-p", "-t", session,
                              "#{pane_pid}"], capture_output=True, text=True,
                             check=True).stdout)
    try:
        while time.perf_counter() - started < TIMEOUT_SECONDS:
            pane = subprocess.run([*TMUX, "capture-pane", "-t", session, "-p"],
                                  capture_output=True, text=True).stdout
            if marker in pane:
                return time.perf_counter() - started, process_cpu_seconds(pid)
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"{marker!r} never appeared for: {command}")
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


def demo_command(cache: str, python: str, src: Path) -> tuple[str, str]:
    """The shell command that starts `creditdesk demo` from `src`, and its awaited text
    ("credits ($" only appears once the overview shows backend figures)."""
    return (f"{cache} PYTHONPATH={shlex.quote(str(src.resolve()))} {python} -c "
            f"{shlex.quote(MAIN)} demo", "credits ($")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline-src", type=Path, metavar="DIR",
                        help="also time `creditdesk demo` from this src folder (e.g. HEAD's)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed: apt-get install -y tmux", file=sys.stderr)
        return 2
    python = sys.executable
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    subprocess.run([*TMUX, "new-session", "-d", "-s", "keep-server", "sleep 3600"],
                   check=True)
    try:
        times = run_all(args, python)
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True, check=False)
    report(times)
    return 0


def run_all(args, python: str) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) of every run of each command, alternated."""
    with tempfile.TemporaryDirectory() as folder:
        minimal = Path(folder) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        floor = Path(folder) / "floor_app.py"
        floor.write_text(FLOOR_APP)
        # The tmux server passes its own environment on: set the cache for both commands.
        cache = (f"env -u PYTHONDONTWRITEBYTECODE "
                 f"PYTHONPYCACHEPREFIX={Path(folder) / 'pycache'}")
        commands = {
            "minimal Textual app": (f"{cache} {python} {minimal}", "minimal app ready"),
            "minimal + models": (f"{cache} PYTHONPATH={shlex.quote(str(REPO / 'src'))} "
                                 + f"{python} {floor}", "minimal app ready")}
        if args.baseline_src is not None:
            commands["baseline demo"] = demo_command(cache, python, args.baseline_src)
        commands["creditdesk demo"] = demo_command(cache, python, REPO / "src")
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for command, marker in commands.values():  # warm the file and bytecode caches
            time_until_shown(command, marker, "cd-bench-warm")
        for _ in range(args.runs):
            # Alternate, so both see the same machine load.
            for name, (command, marker) in commands.items():
                times[name].append(time_until_shown(command, marker, "cd-bench"))
    return times


def report(times: dict[str, list[tuple[float, float]]]) -> None:
    medians = {}
    for name, values in times.items():
        walls, cpus = [wall for wall, _ in values], [cpu for _, cpu in values]
        medians[name] = statistics.median(walls), statistics.median(cpus)
        print(f"{name:22} median {medians[name][0] * 1000:7.0f} ms wall "
              f"(min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}), "
              f"{medians[name][1] * 1000:5.0f} ms CPU, {len(values)} runs")
    minimal_app = medians["minimal Textual app"]
    for name in ("minimal + models", "baseline demo", "creditdesk demo"):
        if name in medians:
            demo = medians[name]
            print(f"{name + ' ratio':22} {demo[0] / minimal_app[0]:.2f}x wall, "
                  f"{demo[1] / minimal_app[1]:.2f}x CPU   (target <= 1.10x, at most 1.30x)")
    floor = medians["minimal + models"]
    for name in ("baseline demo", "creditdesk demo"):
        if name in medians:
            demo = medians[name]
            print(f"{name + ' / floor':22} {demo[0] / floor[0]:.2f}x wall, "
                  f"{demo[1] / floor[1]:.2f}x CPU   (the floor: minimal + models)")
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    sys.exit(main())
