"""Start-up time of `creditdesk demo` (first screen with real figures) against a minimal
Textual app (header, one line, footer), both measured in tmux in the same run.

Run by hand: `.venv/bin/python bench/tui_startup.py [--runs 7]`. Needs tmux
(`apt-get install -y tmux`). Prints the median wall time of each, from launching the
process to its screen showing the awaited text, and their ratio (target: at most 1.1x).
"""

from __future__ import annotations

import argparse
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

REPO = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 60.0


def time_until_shown(command: str, marker: str, session: str) -> float:
    """Seconds from starting `command` in a fresh 80x24 tmux pane until `marker` shows."""
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    started = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    command], check=True)
    try:
        while time.perf_counter() - started < TIMEOUT_SECONDS:
            pane = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"],
                                  capture_output=True, text=True).stdout
            if marker in pane:
                return time.perf_counter() - started
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"{marker!r} never appeared for: {command}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed: apt-get install -y tmux", file=sys.stderr)
        return 2
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        minimal = Path(folder) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        commands = {
            "minimal Textual app": (f"{python} {minimal}", "minimal app ready"),
            # "credits ($" only appears once the overview shows backend figures.
            "creditdesk demo": (f"{Path(python).parent / 'creditdesk'} demo", "credits ($"),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        time_until_shown(*commands["minimal Textual app"], "cd-bench-warm")  # warm caches
        for _ in range(args.runs):
            # Alternate, so both see the same machine load.
            for name, (command, marker) in commands.items():
                times[name].append(time_until_shown(command, marker, "cd-bench"))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:22} median {medians[name] * 1000:7.0f} ms   "
              f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, "
              f"{len(values)} runs)")
    ratio = medians["creditdesk demo"] / medians["minimal Textual app"]
    print(f"ratio                  {ratio:.2f}x   (target <= 1.10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
