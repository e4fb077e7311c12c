"""In-process debits on the SQL store (a SQLite file; PostgreSQL if asked) against a bare
driver transaction, and against another tree's store in the same run if asked.

What a durable debit costs the engine over the store, without HTTP: each debit is one
transaction (BEGIN IMMEDIATE or SELECT ... FOR UPDATE, the account row, the ledger row,
roll-ups, idempotency, commit). The baseline, in the same run and on the same kind of
database (SQLite: WAL, synchronous=NORMAL; PostgreSQL: the tests' embedded server), is one
bare `INSERT` per `BEGIN ... COMMIT` on the driver: the floor any durable debit stands on.
Prints, per debit, the wall and this process's CPU time (steadier on a shared machine; on
PostgreSQL the server's own CPU is not in it), the ratio, and the statements a debit sends
(counted on extra debits after the timed ones, BEGIN and COMMIT included).

`--against DIR` also runs every round on the creditdesk of another tree (e.g. a copy of
HEAD made with `git archive HEAD | tar -x -C DIR`), alternating with this one, each round
in a fresh process, and prints the ratio of the two.

`--instructions` counts instead the instructions this process executes per debit, under
valgrind's callgrind (a round of `--debits` minus a round of none, so set-up and warm-up
cancel out): the figure a loaded machine does not move. Keep `--debits` small (~200).

    python bench/sql_debits.py [--debits 2000] [--rounds 3] [--postgresql] [--against DIR]
                               [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def statements_per_debit(store, session, debits: int = 20) -> float:
    """The statements sent per debit: those SQLAlchemy executes and those the store sends
    to the driver itself (store/sql_driver.py, in a tree that has it)."""
    from sqlalchemy import event
    seen = [0]

    def count(*_args) -> None:
        seen[0] += 1
    event.listen(store.engine, "before_cursor_execute", count)
    event.listen(store.engine, "commit", count)
    driver = getattr(store, "driver", None)
    stop = driver.watch(count) if driver is not None else None
    for n in range(debits):
        session.record_usage("acme", 1, campaign="counted", idempotency_key=f"counted-{n}")
    event.remove(store.engine, "before_cursor_execute", count)
    event.remove(store.engine, "commit", count)
    if stop is not None:
        stop()
    return seen[0] / debits


def engine_round(url: str, debits: int) -> dict:
    from creditdesk.engine import BillingEngine, StoredPaymentGateway
    from creditdesk.models import Plan
    from creditdesk.store import SqlStore
    store = SqlStore(url)
    store.migrate()
    engine = BillingEngine(payments=StoredPaymentGateway(store), store=store)
    engine.add_plan(Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    engine.add_user("ann", name="Ann", email="ann@example.com", plan="big")
    engine.create_org("acme", name="Acme", owner="ann", plan="big")
    session = engine.session("ann")
    for n in range(50):       # warm the connection pool and the statement caches
        session.record_usage("acme", 1, campaign="warm", idempotency_key=f"warm-{n}")
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(debits):
        session.record_usage("acme", 1, campaign=f"c{n % 5}", idempotency_key=f"k-{n}")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    debits = max(debits, 1)     # a round of none (--instructions) divides by one
    statements = statements_per_debit(store, session)
    engine.verify("acme")
    store.close()
    return {"wall": elapsed / debits, "cpu": cpu / debits, "statements": statements}


def bare_round(url: str, debits: int) -> dict:
    """BEGIN; one INSERT; COMMIT on the bare driver, `debits` times."""
    if url.startswith("sqlite"):
        import sqlite3
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        begin, insert = "BEGIN IMMEDIATE", "INSERT INTO entries (account, credits) VALUES (?, ?)"
    else:
        import psycopg
        db = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True)
        begin, insert = "BEGIN", "INSERT INTO entries (account, credits) VALUES (%s, %s)"
    db.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, account TEXT, credits INTEGER)"
               if url.startswith("sqlite") else
               "CREATE TABLE entries (id SERIAL PRIMARY KEY, account TEXT, credits BIGINT)")
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(debits):
        db.execute(begin)
        db.execute(insert, ("acme", n))
        db.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    debits = max(debits, 1)
    return {"wall": elapsed / debits, "cpu": cpu / debits, "statements": 3}


def in_child(kind: str, url: str, debits: int, src: str | None,
             instructions: bool = False) -> dict:
    """One round in a fresh process (on the creditdesk under `src`, or this tree's)."""
    env = dict(os.environ, PYTHONPATH=src or str(ROOT / "src"))
    command = [sys.executable, __file__, "--child", kind, url, str(debits)]
    if instructions:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    found = json.loads(done.stdout.splitlines()[-1])
    if instructions:
        found["instructions"] = int(re.search(r"Collected : (\d+)", done.stderr).group(1))
    return found


def instructions_per_debit(kind: str, databases, debits: int, src: str | None) -> dict:
    """Instructions of a round of `debits` minus those of a round of none, per debit."""
    some = in_child(kind, databases.fresh(), debits, src, instructions=True)
    none = in_child(kind, databases.fresh(), 0, src, instructions=True)
    return {"instructions": (some["instructions"] - none["instructions"]) / debits,
            "statements": some["statements"]}


class Databases:
    """A fresh database for each round: a file in a temporary folder, or a new database on
    an embedded PostgreSQL (the tests' tests/support/postgres.py), started once."""

    def __init__(self, postgresql: bool) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="sql-debits-"))
        self.numbers = iter(range(1, 10**6))
        self.cluster = None
        if postgresql:
            sys.path.insert(0, str(ROOT))
            from tests.support.postgres import start_cluster
            self.cluster = start_cluster()

    def fresh(self) -> str:
        if self.cluster is None:
            return f"sqlite:///{self.folder}/books-{next(self.numbers)}.db"
        return self.cluster.url(self.cluster.create_database())

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        import shutil
        shutil.rmtree(self.folder, ignore_errors=True)


def show(label: str, best: dict) -> None:
    print(f"  {label:<30} {best['wall'] * 1e3:7.3f} / {best['cpu'] * 1e3:7.3f} ms a debit, "
          f"{1 / best['wall']:8,.0f} debits/s, {best['statements']:.1f} statements a debit")


def show_instructions(args, counted: dict[str, dict]) -> None:
    where = "PostgreSQL" if args.postgresql else "SQLite"
    print(f"instructions per debit on {where} (callgrind, this process only; "
          f"{args.debits} debits minus none)")
    for name, found in counted.items():
        label = {"engine": "this tree", "bare": "bare driver insert+commit",
                 "against": Path(args.against or ".").name}[name]
        print(f"  {label:<28} {found['instructions']:12,.0f}, "
              f"{found['statements']:.1f} statements a debit")
    engine = counted["engine"]["instructions"]
    print(f"  ratio: {engine / counted['bare']['instructions']:.1f}x the bare transaction")
    if "against" in counted:
        print(f"  this tree / {Path(args.against).name}: "
              f"{engine / counted['against']['instructions']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--against", metavar="DIR", help="another tree to compare with")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per debit under callgrind instead")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, debits = args.child
        round_of = engine_round if kind == "engine" else bare_round
        print(json.dumps(round_of(url, int(debits))))
        return
    runs = {"bare": None, "engine": str(ROOT / "src")}
    if args.against:
        runs["against"] = str(Path(args.against).resolve() / "src")
    databases = Databases(args.postgresql)
    if args.instructions:
        try:
            counted = {name: instructions_per_debit(
                "bare" if name == "bare" else "engine", databases, args.debits, src)
                for name, src in runs.items()}
        finally:
            databases.close()
        show_instructions(args, counted)
        return
    rounds: dict[str, list[dict]] = {name: [] for name in runs}
    try:
        for number in range(args.rounds):
            for name, src in runs.items():       # alternated, round after round
                kind = "bare" if name == "bare" else "engine"
                rounds[name].append(in_child(kind, databases.fresh(), args.debits, src))
                print(f"round {number + 1} {name}: {rounds[name][-1]['cpu'] * 1e3:.3f} ms "
                      f"CPU a debit", flush=True)
    finally:
        databases.close()
    best = {name: {key: min(r[key] for r in found) for key in found[0]}
            for name, found in rounds.items()}
    where = "PostgreSQL" if args.postgresql else "SQLite"
    print(f"{args.rounds} rounds of {args.debits:,} debits on {where}, best round each "
          f"(wall / this process's CPU)")
    show("engine on SqlStore (this tree):", best["engine"])
    if "against" in best:
        show(f"engine on SqlStore ({Path(args.against).name}):", best["against"])
    show("bare driver insert+commit:", best["bare"])
    engine, bare = best["engine"], best["bare"]
    print(f"  ratio: {engine['wall'] / bare['wall']:.1f}x (wall), "
          f"{engine['cpu'] / bare['cpu']:.1f}x (CPU) the bare transaction")
    if "against" in best:
        other = best["against"]
        print(f"  this tree / {Path(args.against).name}: {engine['wall'] / other['wall']:.2f}x "
              f"(wall), {engine['cpu'] / other['cpu']:.2f}x (CPU)")


if __name__ == "__main__":
    main()
