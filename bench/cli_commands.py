"""Wall time of the figure commands (`creditdesk balance|usage|members|invoices|ledger`) on
the 10,000-member demo and against a server holding that world, and of `creditdesk web
--demo` until the overview's balance shows in headless Chromium.

Run by hand: `.venv/bin/python bench/cli_commands.py [--members 10000] [--runs 3]
[--skip-demo] [--skip-server] [--skip-browser]`. Every figure is a whole process, from
launch to exit (output to /dev/null), the median of --runs; the baseline, measured in the same
run, is `creditdesk --help` (Python start and the command line, no backend), and each line
prints its ratio to it. With `--demo` every run builds the world again (that is most of it).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
OPERATOR = "operator-token-for-the-cli-bench"
SERVING = re.compile(r"creditdesk serving on (http://127\.0\.0\.1:\d+)\n")
COMMANDS = {
    "balance": ["balance"],
    "members": ["members"],
    "invoices": ["invoices"],
    "usage (30 days by source)": ["usage"],
    "usage (6 months by member, top 5)": ["usage", "--since", "6m", "--by", "member",
                                          "--per", "month", "--top", "5"],
    "ledger (one page)": ["ledger"],
    "ledger --all --csv": ["ledger", "--all", "--csv"],
}


def timed(argv: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MAIN, *argv], env=env, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return statistics.median(times)


def report(label: str, seconds: float, baseline: float) -> None:
    print(f"  {label:<36} {seconds:8.2f} s   {seconds / baseline:7.1f}x baseline", flush=True)


BUILD_ONLY = ("import sys; from datetime import UTC, datetime; from creditdesk.demo import "
              "build_demo; build_demo(now=datetime.now(UTC), seed=7, members=int(sys.argv[1]), "
              "months=6)")


def bench_demo(members: int, env: dict, runs: int, baseline: float) -> None:
    print(f"--demo --members {members:,} (each run builds the world):")
    build = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BUILD_ONLY, str(members)], env=env, check=True)
        build.append(time.perf_counter() - started)
    # What a command adds to building the world is its figure minus this one.
    report("building the world alone (python -c)", statistics.median(build), baseline)
    for label, argv in COMMANDS.items():
        report(label, timed([*argv, "--demo", "--members", str(members)], env, runs), baseline)


class Server:
    """`creditdesk serve` on a temporary database, loaded with the demo world."""

    def __init__(self, folder: Path, members: int) -> None:
        token_file = folder / "operator"
        token_file.write_text(OPERATOR + "\n")
        token_file.chmod(0o600)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("CREDITDESK_OPERATOR_TOKEN", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", MAIN, "serve", "--port", "0", "--db",
             str(folder / "billing.db"), "--operator-token-file", str(token_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for line in self.process.stdout:
            found = SERVING.fullmatch(line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise SystemExit(f"the server did not start: {self.process.stderr.read()}")
        admin = [sys.executable, "-c", MAIN, "admin", "--url", self.url,
                 "--operator-token-file", str(token_file)]
        started = time.perf_counter()
        subprocess.run([*admin, "load-demo", "--members", str(members)], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"  (loading the {members:,}-member demo into the server took "
              f"{time.perf_counter() - started:.1f} s)")
        issued = subprocess.run([*admin, "issue-token", "ann"], check=True, text=True,
                                capture_output=True).stdout
        self.token = issued.split()[-1]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)


def bench_server(members: int, env: dict, runs: int, baseline: float) -> None:
    print(f"against a server holding the {members:,}-member demo (loopback):")
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder), members)
        try:
            remote = {**env, "CREDITDESK_URL": server.url, "CREDITDESK_TOKEN": server.token}
            for label, argv in COMMANDS.items():
                report(label, timed(argv, remote, runs), baseline)
        finally:
            server.stop()


def bench_browser(env: dict, runs: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.cli.test_web import browser_missing
    reason = browser_missing()
    if reason:
        print(f"browser: skipped, {reason}")
        return
    times = [browser_once(env) for _ in range(runs)]
    print(f"creditdesk web --demo (24 members): the balance shows in Chromium after "
          f"{statistics.median(times):.2f} s (median of {runs}; from loading the page)")


def browser_once(env: dict) -> float:
    from datetime import UTC, datetime

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from creditdesk.demo import build_demo
    from tests.cli.test_web import (
        CATCH_TERMINALS,
        CHROMEDRIVER,
        CHROMIUM,
        READ_BUFFER,
        WEB_LINE,
    )
    world = build_demo(now=datetime.now(UTC).replace(microsecond=0), seed=7, members=24,
                       months=6)
    figure = f"{world.engine.session(world.owner).balance(world.org_id).total:,}"
    web = subprocess.Popen([sys.executable, "-c", MAIN, "web", "--demo", "--port", "0"],
                           stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        found = WEB_LINE.fullmatch(web.stdout.readline())
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": CATCH_TERMINALS})
        started = time.perf_counter()
        driver.get(f"{found.group(1)}/?key={found.group(2)}")
        while time.perf_counter() - started < 120:
            if figure in (driver.execute_script(READ_BUFFER) or ""):
                return time.perf_counter() - started
            time.sleep(0.05)
        raise SystemExit("the balance never showed in the browser")
    finally:
        driver.quit()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "CREDITDESK_CONFIG": os.devnull, "COLUMNS": "100"}
    baseline = timed(["--help"], env, max(args.runs, 5))
    print(f"baseline: `creditdesk --help` {baseline:.2f} s")
    if not args.skip_demo:
        bench_demo(args.members, env, args.runs, baseline)
    if not args.skip_server:
        bench_server(args.members, env, args.runs, baseline)
    if not args.skip_browser:
        bench_browser(env, args.runs)


if __name__ == "__main__":
    main()
