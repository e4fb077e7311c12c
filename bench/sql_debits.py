"""In-process debits on the SQL store (SQLite file) against a bare sqlite3 baseline.

What a durable debit costs the engine over the store, without HTTP: each debit is one
transaction (BEGIN IMMEDIATE, the account row, the ledger row, roll-ups, idempotency,
commit). The baseline, in the same run and on the same kind of file with the same pragmas
(WAL, synchronous=NORMAL), is one bare `INSERT` per `BEGIN IMMEDIATE ... COMMIT`: the floor
any durable debit on SQLite stands on. Prints both, per debit, and the ratio.

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


def engine_round(folder: Path, debits: int) -> float:
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
    start = time.perf_counter()
    for n in range(debits):
        session.record_usage("acme", 1, campaign=f"c{n % 5}", idempotency_key=f"k-{n}")
    elapsed = time.perf_counter() - start
    engine.verify("acme")
    store.close()
    return elapsed / debits


def bare_round(folder: Path, debits: int) -> float:
    db = sqlite3.connect(folder / "bare.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, account TEXT, credits INTEGER)")
    start = time.perf_counter()
    for n in range(debits):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO entries (account, credits) VALUES (?, ?)", ("acme", n))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed / debits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine_best = bare_best = float("inf")
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            engine_best = min(engine_best, engine_round(Path(folder), args.debits))
        with tempfile.TemporaryDirectory() as folder:
            bare_best = min(bare_best, bare_round(Path(folder), args.debits))
    print(f"{args.rounds} rounds of {args.debits:,} debits, best round each")
    print(f"  engine on SqlStore (SQLite): {engine_best * 1e3:7.3f} ms a debit, "
          f"{1 / engine_best:8,.0f} debits/s")
    print(f"  bare sqlite3 insert+commit:  {bare_best * 1e3:7.3f} ms a debit, "
          f"{1 / bare_best:8,.0f} debits/s")
    print(f"  ratio: {engine_best / bare_best:.1f}x the bare transaction")


if __name__ == "__main__":
    main()
