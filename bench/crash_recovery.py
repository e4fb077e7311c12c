"""Crash recovery: restart time and server memory after kill -9, by the size of the books.

The books are in the database's tables and start-up replays nothing, so a restart should
cost the same with no debit and with a million, and the server's memory should not grow
with history (issue 8's targets: at most 1.2x the empty database's restart and RSS). For
each size this fills a fresh SQLite file with that many debits (built in memory and bulk
loaded, store/bulk.py: much faster than HTTP), starts `creditdesk serve` on it, checks the
use it serves, kills it with SIGKILL, and times the restart and reads its RSS once it has
answered. The baseline is the empty file, measured in the same run.

    .venv/bin/python bench/crash_recovery.py [--sizes 0,100000,1000000]
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

SERVING = re.compile(r"serving on (http://\S+)")
OPERATOR = "bench-operator-token-0123456789"
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def fill(db: Path, debits: int) -> float:
    """`debits` debits of 1 credit into the books at `db`; returns the seconds it took."""
    from creditdesk.engine import BillingEngine, ManualClock
    from creditdesk.models import Plan
    from creditdesk.store import SqlStore
    from creditdesk.store.bulk import load_books

    began = time.perf_counter()
    engine = BillingEngine(clock=ManualClock(START))
    engine.add_plan(Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    engine.add_user("ann", name="Ann", plan="big")
    engine.create_org("org", name="Org", owner="ann", plan="big")
    session = engine.session("ann")
    for n in range(debits):
        session.record_usage("org", 1, campaign="c", idempotency_key=f"k{n}")
    store = SqlStore(f"sqlite:///{db}")
    try:
        store.migrate()
        load_books(engine.store, store)
        store.save_clock(START)
    finally:
        store.close()
    return time.perf_counter() - began


def serve(db: Path, workdir: Path) -> tuple[subprocess.Popen, str, float]:
    token_file = workdir / "operator-token"
    token_file.write_text(OPERATOR)
    token_file.chmod(0o600)
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "serve", "--port", "0", "--db", str(db),
         "--operator-token-file", str(token_file), "--test-clock", START.isoformat()],
        stdout=subprocess.PIPE, text=True, cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "CREDITDESK_RATE_LIMIT": "off"})
    for line in process.stdout:
        found = SERVING.search(line)
        if found:
            return process, found.group(1), time.perf_counter() - began
    raise RuntimeError(f"the server did not start on {db}")


def used(url: str) -> int:
    """The org's period use as served: proves the server reads every debit."""
    with httpx.Client(base_url=url, timeout=60) as client:
        token = client.post("/v1/admin/users/ann/tokens", json={},
                            headers={"Authorization": f"Bearer {OPERATOR}"}).json()["token"]
        balance = client.get("/v1/accounts/org/balance",
                             headers={"Authorization": f"Bearer {token}"}).json()
    return balance["used_this_period"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100000",
                        help="debits in the books, comma-separated; 0 is the baseline")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    if 0 not in sizes:
        sizes.insert(0, 0)
    print(f"{'debits':>9} {'fill s':>8} {'start s':>8} {'restart s':>9} {'vs empty':>8} "
          f"{'RSS MB':>7} {'vs empty':>8}")
    empty = None
    for debits in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            db = workdir / "creditdesk.db"
            filled = fill(db, debits)
            process, url, first = serve(db, workdir)
            served = used(url)
            process.send_signal(signal.SIGKILL)
            process.wait()
            process, url, again = serve(db, workdir)
            assert used(url) == served == debits, (served, debits)
            rss = rss_mb(process.pid)
            process.terminate()
            process.wait()
        empty = (again, rss) if empty is None else empty
        print(f"{debits:>9,} {filled:>8.2f} {first:>8.2f} {again:>9.2f} "
              f"{again / empty[0]:>7.2f}x {rss:>7.1f} {rss / empty[1]:>7.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
