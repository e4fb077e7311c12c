"""In-process debits on the SQL store (SQLite file) against a bare sqlite3 baseline.

What a durable debit costs the engine over the store, without HTTP: each debit is one
transaction (BEGIN IMMEDIATE, the account row, the ledger row, roll-ups, idempotency,
commit). The baseline, in the same run and on the same kind of file with the same pragmas
(WAL, synchronous=NORMAL), is one bare `INSERT` per `BEGIN IMMEDIATE ... COMMIT`: the floor
any durable debit on SQLite stands on. Prints both, per debit, in wall and in this
process's CPU time (steadier on a shared machine), the ratio, and the statements a debit
sends (counted on extra debits after the timed ones, COMMIT included).

    python bench/sql_debits.py [--debits 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from creditdesk.engine import BillingEngine, StoredPaymentGateway
from creditdesk.models import Plan
from creditdesk.store import SqlStore


def statements_per_debit(store, session, debits: int = 20) -> float:
    """The statements the driver is sent per debit (BEGIN and COMMIT each count one)."""
    from sqlalchemy import event
    seen = [0]

    def count(*_args) -> None:
        seen[0] += 1
    event.listen(store.engine, "before_cursor_execute", count)
    event.listen(store.engine, "commit", count)
    for n in range(debits):
        session.record_usage("acme", 1, campaign="counted", idempotency_key=f"counted-{n}")
    event.remove(store.engine, "before_cursor_execute", count)
    event.remove(store.engine, "commit", count)
    return seen[0] / debits


def engine_round(folder: Path, debits: int) -> tuple[float, float, float]:
    store = SqlStore(f"sqlite:///{folder}/books.db")
    store.migrate()
    engine = BillingEngine(payments=StoredPaymentGateway(store), store=store)
    engine.add_plan(Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    engine.add_user("ann", name="Ann", email="ann@example.com", plan="big")
    engine.create_org("acme", name="Acme", owner="ann", plan="big")
    session = engine.session("ann")
    for n in range(50):       # warm the connection pool and the statement cache
        session.record_usage("acme", 1, campaign="warm", idempotency_key=f"warm-{n}")
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(debits):
        session.record_usage("acme", 1, campaign=f"c{n % 5}", idempotency_key=f"k-{n}")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    statements = statements_per_debit(store, session)
    engine.verify("acme")
    store.close()
    return elapsed / debits, cpu / debits, statements


def bare_round(folder: Path, debits: int) -> tuple[float, float]:
    db = sqlite3.connect(folder / "bare.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, account TEXT, credits INTEGER)")
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(debits):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO entries (account, credits) VALUES (?, ?)", ("acme", n))
        db.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    db.close()
    return elapsed / debits, cpu / debits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine_wall = engine_cpu = bare_wall = bare_cpu = float("inf")
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            wall, cpu, statements = engine_round(Path(folder), args.debits)
            engine_wall, engine_cpu = min(engine_wall, wall), min(engine_cpu, cpu)
        with tempfile.TemporaryDirectory() as folder:
            wall, cpu = bare_round(Path(folder), args.debits)
            bare_wall, bare_cpu = min(bare_wall, wall), min(bare_cpu, cpu)
    print(f"{args.rounds} rounds of {args.debits:,} debits, best round each "
          f"(wall / this process's CPU)")
    print(f"  engine on SqlStore (SQLite): {engine_wall * 1e3:7.3f} / {engine_cpu * 1e3:7.3f} "
          f"ms a debit, {1 / engine_wall:8,.0f} debits/s, {statements:.1f} statements a debit")
    print(f"  bare sqlite3 insert+commit:  {bare_wall * 1e3:7.3f} / {bare_cpu * 1e3:7.3f} "
          f"ms a debit, {1 / bare_wall:8,.0f} debits/s, 3 statements")
    print(f"  ratio: {engine_wall / bare_wall:.1f}x (wall), {engine_cpu / bare_cpu:.1f}x (CPU) "
          f"the bare transaction")


if __name__ == "__main__":
    main()
