"""Crash recovery: how long `creditdesk serve` takes to answer again after kill -9, by journal size.

The server rebuilds its state by replaying its whole journal on start, so recovery time grows
with history. For each journal size this fills a fresh SQLite file with that many debits
(through the server's own service and store, in-process, which is much faster than HTTP),
starts `creditdesk serve` on it, checks the balance it serves, kills it with SIGKILL and times
the restart. The baseline is the start on an empty file in the same run; the replay rate is
compared with the same debits applied to a bare in-memory engine.

    .venv/bin/python bench/crash_recovery.py [--sizes 0,20000,100000]
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
    """Journal `debits` debits of 1 credit into `db`; returns the seconds it took."""
    from creditdesk.models import Plan
    from creditdesk.server.service import BillingService
    from creditdesk.server.store import Store
    from creditdesk.server.tokens import OPERATOR as OPERATOR_ACTOR

    store = Store(db)
    service = BillingService(None, store, test_clock=START)
    began = time.perf_counter()
    service.run_sync(OPERATOR_ACTOR, "add_plan", plan=Plan(
        id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
        billing_period="monthly", price_cents=0))
    service.run_sync(OPERATOR_ACTOR, "add_user", user_id="ann", name="Ann", email="",
                     plan="big")
    service.run_sync(OPERATOR_ACTOR, "create_org", org_id="org", name="Org", owner="ann",
                     plan="big")
    batch = None
    for n in range(debits):
        # Queue without waiting for each fsync, so group commit batches them (a busy server).
        _, batch = service.execute("ann", "record_usage", {
            "account_id": "org", "credits": 1, "campaign": "c", "idempotency_key": f"k{n}"})
    if batch is not None:
        batch.wait_sync()
    store.close()
    return time.perf_counter() - began


def bare_engine(debits: int) -> float:
    """The same debits on an in-memory engine: what replay cannot beat."""
    from creditdesk.engine import BillingEngine, ManualClock
    from creditdesk.models import Plan

    engine = BillingEngine(clock=ManualClock(START))
    engine.add_plan(Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    engine.add_user("ann", name="Ann", plan="big")
    engine.create_org("org", name="Org", owner="ann", plan="big")
    session = engine.session("ann")
    began = time.perf_counter()
    for n in range(debits):
        session.record_usage("org", 1, campaign="c", idempotency_key=f"k{n}")
    return time.perf_counter() - began


def serve(db: Path, workdir: Path) -> tuple[subprocess.Popen, str, float]:
    token_file = workdir / "operator-token"
    token_file.write_text(OPERATOR)
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
    """The org's period use as served: proves the replay rebuilt every debit."""
    with httpx.Client(base_url=url, timeout=60) as client:
        token = client.post("/v1/admin/users/ann/tokens", json={},
                            headers={"Authorization": f"Bearer {OPERATOR}"}).json()["token"]
        balance = client.get("/v1/accounts/org/balance",
                             headers={"Authorization": f"Bearer {token}"}).json()
    return balance["used_this_period"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,20000,100000",
                        help="journal sizes (debits), comma-separated; 0 is the baseline")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    if 0 not in sizes:
        sizes.insert(0, 0)
    print(f"{'debits':>8} {'fill s':>8} {'start s':>8} {'restart s':>9} {'vs empty':>8} "
          f"{'replay/s':>10} {'engine/s':>10}")
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
            process.terminate()
            process.wait()
        empty = again if empty is None else empty
        extra = again - empty
        replay_rate = f"{debits / extra:>10,.0f}" if debits and extra > 0 else f"{'-':>10}"
        engine_rate = f"{debits / bare_engine(debits):>10,.0f}" if debits else f"{'-':>10}"
        print(f"{debits:>8,} {filled:>8.2f} {first:>8.2f} {again:>9.2f} "
              f"{again / empty:>7.1f}x {replay_rate} {engine_rate}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
