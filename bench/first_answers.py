"""What keeping first answers costs: this tree against a baseline tree, in one run.

Idempotency records on the SQL store keep each first answer's JSON (store/sql_keys.py); the
memory store keeps none. This runs the same measurements on the code of this tree and of a
baseline tree (e.g. the commit before, unpacked with `git archive HEAD | tar -x -C /tmp/old`),
alternating child processes round by round so both see the same load, and prints the best
round of each and their ratio. CPU time of the process (not wall time: the machine is
shared), per operation:

- `memory debit`: an in-process debit on the memory store (the hot path);
- `sqlite debit`: an in-process durable debit on a SQLite file, one transaction each;
- `bulk load`: writing a demo world's books into SQLite (store/bulk.py), per ledger entry;
- `idempotency bytes`: the idempotency table's bytes per record in that file (SQLite's
  dbstat), which the answers grow.

    python bench/first_answers.py --baseline /tmp/old/src [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import json, sys, tempfile, time
from datetime import UTC, datetime
from creditdesk.engine import BillingEngine, ManualClock, StoredPaymentGateway
from creditdesk.models import Plan
from creditdesk.store import SqlStore

BIG = Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
           billing_period="monthly", price_cents=0)


def world(engine):
    engine.add_plan(BIG)
    engine.add_user("ann", name="Ann", email="ann@example.com", plan="big")
    engine.create_org("acme", name="Acme", owner="ann", plan="big")
    return engine.session("ann")


def debits(session, count, prefix):
    for n in range(200):
        session.record_usage("acme", 1, campaign="warm", idempotency_key=f"w{prefix}{n}")
    start = time.process_time()
    for n in range(count):
        session.record_usage("acme", 1, campaign=f"c{n % 5}", idempotency_key=f"{prefix}{n}")
    return (time.process_time() - start) / count * 1e6


clock = ManualClock(datetime(2026, 1, 5, tzinfo=UTC))
found = {"memory debit": debits(world(BillingEngine(clock=clock)), 100_000, "m")}
folder = tempfile.mkdtemp()
store = SqlStore(f"sqlite:///{folder}/debits.db")
store.migrate()
engine = BillingEngine(clock=clock, payments=StoredPaymentGateway(store), store=store)
found["sqlite debit"] = debits(world(engine), 2_000, "s")
store.close()

from creditdesk.demo import build_demo
from creditdesk.store.bulk import load_books
demo = build_demo(now=datetime(2026, 3, 20, tzinfo=UTC), seed=7, members=200, months=3)
target = SqlStore(f"sqlite:///{folder}/demo.db")
target.migrate()
start = time.process_time()
loaded = load_books(demo.engine.store, target)
found["bulk load"] = (time.process_time() - start) / loaded.ledger_entries * 1e6
target.close()
import sqlite3
db = sqlite3.connect(f"{folder}/demo.db")
size, = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'idempotency'").fetchone()
records, = db.execute("SELECT count(*) FROM idempotency").fetchone()
found["idempotency bytes"] = size / records
print(json.dumps(found))
'''


def measure(src: str) -> dict[str, float]:
    environment = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          env=environment, check=False, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"the run on {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the baseline tree's src folder")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    best: dict[str, dict[str, float]] = {"baseline": {}, "this tree": {}}
    for _ in range(args.rounds):
        for name, src in (("baseline", args.baseline), ("this tree", here)):
            for figure, value in measure(src).items():
                best[name][figure] = min(value, best[name].get(figure, value))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load {' '.join(load)}, best of {args.rounds} rounds")
    for figure, value in best["this tree"].items():
        unit = "B/record" if figure.endswith("bytes") else "µs CPU"
        base = best["baseline"][figure]
        print(f"{figure:18} baseline {base:9.2f} {unit}   this tree {value:9.2f} {unit}"
              f"   ratio {value / base:.3f}")


if __name__ == "__main__":
    main()
