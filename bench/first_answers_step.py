"""What schema step 5 (`_keep_first_answers`) costs on a database of ~100k idempotency
records kept without their answers: this tree against a baseline tree, in one run.

Each round, for each tree, a child process on that tree's code builds the books in memory
(20 orgs, 5,000 debits each, one idempotency key per debit), writes them into a fresh
database (store/bulk.py), takes the database back to the release before the step (answers
NULL, schema version 4) and times `migrate()`: the step rebuilds every answer from its rows
and stores it. It prints the CPU and wall time of that migrate for each tree (best round)
and their ratio, and checks that the stored answers are the ones first kept.

    .venv/bin/python bench/first_answers_step.py --baseline /tmp/head-tree/src
    .venv/bin/python bench/first_answers_step.py --baseline /tmp/head-tree/src --postgres
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = r'''
import json, sys, time
from datetime import UTC, datetime
import sqlalchemy as sa
from creditdesk.engine import BillingEngine, ManualClock
from creditdesk.engine.bulk_usage import record_usage_in_bulk
from creditdesk.models import Plan
from creditdesk.store import MemoryStore, SqlStore
from creditdesk.store.bulk import load_books

url, orgs, per_org = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BIG = Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
           billing_period="monthly", price_cents=0)
engine = BillingEngine(clock=ManualClock(datetime(2026, 1, 5, tzinfo=UTC)),
                       store=MemoryStore())
engine.add_plan(BIG)
for o in range(orgs):
    engine.add_user(f"u{o}", name=f"U {o}", email=f"u{o}@example.com", plan="big")
    engine.create_org(f"org{o}", name=f"Org {o}", owner=f"u{o}", plan="big")
    session = engine.session(f"u{o}")
    record_usage_in_bulk(engine, f"org{o}", ((session, 1 + n % 7, f"c{n % 5}", f"k{n}")
                                             for n in range(per_org)))
target = SqlStore(url)
target.migrate()
load_books(engine.store, target)
with target.engine.begin() as conn:
    kept = dict(((a, k), v) for a, k, v in conn.execute(
        sa.text("SELECT account_id, key, answer FROM idempotency")))
    conn.execute(sa.text("UPDATE idempotency SET answer = NULL"))
    conn.execute(sa.text("DELETE FROM schema_version WHERE version >= 5"))
target.close()
store = SqlStore(url)
cpu, wall = time.process_time(), time.perf_counter()
store.migrate()
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
with store.engine.connect() as conn:
    again = dict(((a, k), v) for a, k, v in conn.execute(
        sa.text("SELECT account_id, key, answer FROM idempotency")))
store.close()
print(json.dumps({"records": len(kept), "cpu": cpu, "wall": wall, "same": again == kept}))
'''


def child(src: str, url: str, orgs: int, per_org: int) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run([sys.executable, "-c", CHILD, url, str(orgs), str(per_org)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{src}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the baseline tree's src folder")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--per-org", type=int, default=5_000)
    parser.add_argument("--postgres", action="store_true",
                        help="an embedded PostgreSQL rather than SQLite files")
    args = parser.parse_args()
    trees = {"baseline": args.baseline, "tree": str(ROOT / "src")}
    cluster = None
    if args.postgres:
        from server_debits import postgres_cluster
        cluster = postgres_cluster()
    folder = tempfile.mkdtemp()
    best: dict[str, dict] = {}
    try:
        for round_ in range(args.rounds):
            for name, src in trees.items():
                url = (cluster.url(cluster.create_database()) if cluster else
                       f"sqlite:///{folder}/{name}-{round_}.db")
                found = child(src, url, args.orgs, args.per_org)
                print(f"round {round_ + 1} {name:8}: {found['records']:,} records, "
                      f"cpu {found['cpu']:.2f} s, wall {found['wall']:.2f} s, "
                      f"answers as kept: {found['same']}", flush=True)
                if name not in best or found["cpu"] < best[name]["cpu"]:
                    best[name] = found
    finally:
        if cluster is not None:
            cluster.close()
    base, tree = best["baseline"], best["tree"]
    print(f"step 5, best of {args.rounds} ({'postgresql' if cluster else 'sqlite'}): "
          f"baseline cpu {base['cpu']:.2f} s wall {base['wall']:.2f} s | tree cpu "
          f"{tree['cpu']:.2f} s wall {tree['wall']:.2f} s | tree/baseline cpu "
          f"{tree['cpu'] / base['cpu']:.2f}x wall {tree['wall'] / base['wall']:.2f}x")


if __name__ == "__main__":
    main()
