"""In-process debits on a SQLite file, one a transaction against groups of N in one
transaction with a savepoint each (`SqlStore.grouped` / `savepoint`, as the server's group
commit runs them), over 16 orgs or one org; CPU time a debit, rounds alternated.

    .venv/bin/python bench/group_commit.py [--debits 3000] [--rounds 2] [--orgs 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def books(orgs: int):
    from creditdesk.engine import BillingEngine, StoredPaymentGateway
    from creditdesk.models import Plan
    from creditdesk.store import SqlStore
    folder = tempfile.mkdtemp()
    store = SqlStore(f"sqlite:///{folder}/books.sqlite3")
    store.migrate()
    engine = BillingEngine(payments=StoredPaymentGateway(store), store=store)
    engine.add_plan(Plan(id="big", name="Big", base_credits_per_month=10**9, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    engine.add_user("ann", name="Ann", email="ann@example.com", plan="big")
    for n in range(orgs):
        engine.create_org(f"org{n}", name=f"Org {n}", owner="ann", plan="big")
    session = engine.session("ann")
    for n in range(50):         # the pool and the statement caches warm
        session.record_usage("org0", 1, campaign="warm", idempotency_key=f"warm{n}")
    return store, session


def per_debit(store, session, orgs: int, debits: int, group: int, tag: str) -> float:
    """CPU µs a debit, `group` debits a transaction (1: each its own, as before)."""
    started = time.process_time()
    for first in range(0, debits, group):
        keys = range(first, min(first + group, debits))
        if group == 1:
            for n in keys:
                session.record_usage(f"org{n % orgs}", 1, campaign="c",
                                     idempotency_key=f"{tag}{n}")
            continue
        with store.without_waiting(), store.grouped():
            for n in keys:
                with store.savepoint():
                    session.record_usage(f"org{n % orgs}", 1, campaign="c",
                                         idempotency_key=f"{tag}{n}")
    return (time.process_time() - started) / debits * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--orgs", type=int, default=16)
    args = parser.parse_args()
    store, session = books(args.orgs)
    sizes = (1, 2, 4, 8, 16)
    print(f"{args.orgs} org(s), {args.debits} debits a figure, CPU µs a debit")
    print("round  " + "  ".join(f"{'alone' if n == 1 else f'of {n}':>7}" for n in sizes))
    for r in range(args.rounds):
        cells = [per_debit(store, session, args.orgs, args.debits, n, f"r{r}g{n}-")
                 for n in sizes]
        print(f"{r + 1:>5}  " + "  ".join(f"{cell:7.0f}" for cell in cells))
    store.close()


if __name__ == "__main__":
    main()
