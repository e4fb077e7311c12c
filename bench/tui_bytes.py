"""Bytes the dashboard writes to a real terminal, per second, against htop in the same run.

Run by hand: `.venv/bin/python bench/tui_bytes.py [--seconds 30]`. Needs tmux and htop
(`apt-get install -y tmux htop`). Each program runs alone in a fresh 80x24 tmux pane whose
output is counted with `tmux pipe-pane` (everything the program sends to the terminal,
escape codes included) for the measured window, once its first screen is up and it has
settled:

- the idle overview over HTTP: `creditdesk` on a real server on 127.0.0.1 (the demo world,
  figures refreshed every 10 s, nothing changing);
- live activity on the overview: `creditdesk demo`, `l` pressed (debits every second);
- live activity on the Usage screen: the same, then `u` (the chart moves every second);
- htop, the baseline an admin over SSH already accepts.

Target: each of the first two at most htop's bytes per second; the Usage figure is
reported against htop too (its chart must move, so it is brought as low as it goes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURES = ("remote", "live", "usage")
SETTLE_SECONDS = 4.0
# On a busy machine start-up alone can take longer than SETTLE_SECONDS; counting only
# starts once the program shows this text (its first real screen), then settles.
READY_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.1

# A real server on loopback with the demo world; prints its URL and the owner's token.
SERVER = '''
import sys, time
sys.path.insert(0, {repo!r})
from datetime import UTC, datetime
from creditdesk.demo import build_demo
from tests.support.live_server import LiveServer
world = build_demo(now=datetime.now(UTC).replace(microsecond=0), seed=7)
with LiveServer(world.engine) as server:
    print(server.url, server.token_for(world.owner), flush=True)
    while True:
        time.sleep(3600)
'''


def tmux(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", *args], check=check, capture_output=True,
                          text=True).stdout


def wait_until_shown(session: str, marker: str) -> None:
    started = time.monotonic()
    while marker not in tmux("capture-pane", "-t", session, "-p", check=False):
        if time.monotonic() - started > READY_TIMEOUT_SECONDS:
            raise TimeoutError(f"{marker!r} never appeared in {session}")
        time.sleep(POLL_SECONDS)


def bytes_per_second(command: str, seconds: float, session: str, keys: tuple[str, ...] = (),
                     env: dict[str, str] | None = None, ready: str = "",
                     shown: str = "", keep: Path | None = None) -> float:
    """Run `command` in an 80x24 pane; count what it writes during `seconds` once it
    shows `ready` and has settled (start-up is not what is measured), after `keys`, and
    once it shows `shown` (the screen those keys open)."""
    tmux("kill-session", "-t", session, check=False)
    exports = " ".join(f"{name}={value!r}" for name, value in (env or {}).items())
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
         f"env {exports} TERM=xterm-256color {command}")
    try:
        wait_until_shown(session, ready)
        time.sleep(SETTLE_SECONDS)
        for key in keys:
            tmux("send-keys", "-t", session, key)
        if shown:
            wait_until_shown(session, shown)
        time.sleep(SETTLE_SECONDS / 2)
        with tempfile.NamedTemporaryFile(suffix=".out", delete=False) as out:
            counted = Path(out.name)
        tmux("pipe-pane", "-t", session, "-o", f"cat > {counted}")
        time.sleep(seconds)
        tmux("pipe-pane", "-t", session)  # stop counting
        time.sleep(0.2)
        written = counted.stat().st_size
        if keep is not None:  # what was written, to see which lines and cells repaint
            counted.replace(keep / f"{session}.out")
        else:
            counted.unlink()
        return written / seconds
    finally:
        tmux("kill-session", "-t", session, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=FIGURES, action="append",
                        help="measure only these figures (repeatable); htop always runs")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each capture as DIR/<session>.out")
    args = parser.parse_args()
    wanted = set(args.only or FIGURES)
    python = sys.executable
    pythonpath = os.environ.get("PYTHONPATH", "")
    base_env = {"PYTHONPATH": pythonpath} if pythonpath else {}
    config = Path(tempfile.mkdtemp()) / "config.toml"  # no saved theme or keys
    base_env["CREDITDESK_CONFIG"] = str(config)
    cli = f"{python} -c 'import sys; from creditdesk.cli import main; sys.exit(main())'"

    measured: dict[str, float] = {}
    if "remote" in wanted:
        measured["remote"] = remote_figure(python, cli, base_env, args)
    if "live" in wanted:
        measured["live"] = bytes_per_second(f"{cli} demo", args.seconds, "bytes-live",
                                            keys=("l",), env=base_env, ready="credits ($",
                                            keep=args.keep)
    if "usage" in wanted:
        # The caption under the Usage controls ends "(UTC): ... used" once the chart is up.
        measured["usage"] = bytes_per_second(f"{cli} demo", args.seconds, "bytes-usage",
                                             keys=("l", "u"), env=base_env,
                                             ready="credits ($", shown="(UTC):",
                                             keep=args.keep)
    htop = bytes_per_second("htop", args.seconds, "bytes-htop", ready="Load average",
                            keep=args.keep)
    report(measured, htop, args.seconds)
    return 0


def remote_figure(python: str, cli: str, base_env: dict[str, str], args) -> float:
    """The idle overview against a real server on loopback (the demo world)."""
    server = subprocess.Popen([python, "-c", SERVER.format(repo=str(REPO))],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, **base_env})
    try:
        url, token = server.stdout.readline().split()
        return bytes_per_second(cli, args.seconds, "bytes-remote",
                                env={**base_env, "CREDITDESK_URL": url,
                                     "CREDITDESK_TOKEN": token}, ready="credits ($",
                                keep=args.keep)
    finally:
        server.terminate()
        server.wait(10)


def report(measured: dict[str, float], htop: float, seconds: float) -> None:
    print(f"bytes written to an 80x24 tmux pane, per second, over {seconds:.0f} s:")
    labels = {"remote": "idle overview over HTTP", "live": "live activity on the overview",
              "usage": "live activity on Usage"}
    for name, value in [*measured.items(), ("htop", htop)]:
        ratio = f"{value / htop:.2f}x htop" if htop else "htop wrote nothing"
        print(f"  {labels.get(name, name):<30} {value:8.0f} B/s  ({ratio})")
    targeted = [measured[name] for name in ("remote", "live") if name in measured]
    if targeted:
        met = htop and all(value <= htop for value in targeted)
        print(f"target: idle and live overview each at most htop's bytes/s -> "
              f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
