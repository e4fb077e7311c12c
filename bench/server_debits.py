"""Durable debits per second over loopback HTTP, against a bare FastAPI endpoint as baseline.

Starts `creditdesk serve` (SQLite, synchronous=FULL, group commit) in a subprocess, sets up
one org with 16 members, and has 1, 4 and 16 concurrent clients (one member each) post
debits to that org for a few seconds each. The baseline is a FastAPI app whose debit path
returns a constant, served by the same uvicorn set-up in its own subprocess. Prints debits/s
for both and their ratio (the goal is >= 0.5), after a warm-up of the durable server.

    .venv/bin/python bench/server_debits.py [--seconds 3]
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

CONCURRENCY = (1, 4, 16)
SERVING = re.compile(r"serving on (http://\S+)")
OPERATOR = "bench-operator-token-0123456789"
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"


def start(command: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1",
                                    "CREDITDESK_RATE_LIMIT": "off", **(env or {})})
    for line in process.stdout:
        found = SERVING.search(line)
        if found:
            return process, found.group(1)
    raise RuntimeError("the server did not start")


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


def set_up(url: str) -> list[str]:
    op = {"Authorization": f"Bearer {OPERATOR}"}
    with httpx.Client(base_url=url, headers=op, timeout=30) as client:
        client.post("/v1/admin/plans", json={
            "id": "big", "name": "Big", "base_credits_per_month": 10**11,
            "rollover_cap": 0, "billing_period": "monthly", "price_cents": 0}).raise_for_status()
        tokens = []
        for n in range(max(CONCURRENCY)):
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


async def hammer(url: str, tokens: list[str], clients: int, seconds: float) -> float:
    """Debits per second with `clients` concurrent connections, each its own member."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients

    async def one(index: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            n = 0
            while time.perf_counter() < stop:
                response = await client.post(
                    "/v1/accounts/acme/usage", json={"credits": 1, "campaign": "bench"},
                    headers={"Idempotency-Key": f"{index}-{n}-{time.time_ns()}"})
                if response.status_code != 200:
                    raise RuntimeError(f"debit refused: {response.text}")
                n += 1
            counts[index] = n

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server()
        return
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "operator-token"
        token_file.write_text(OPERATOR)
        served, url = start([sys.executable, "-c", MAIN, "serve", "--port", "0",
                             "--db", str(Path(tmp) / "bench.sqlite3"),
                             "--operator-token-file", str(token_file)])
        bare, bare_url = start([sys.executable, __file__, "--bare-server"])
        try:
            tokens = set_up(url)
            # Warm up: until SQLite's WAL file has grown to its working size, every commit
            # also syncs the file's new length (about 3x slower); a running server is past it.
            asyncio.run(hammer(url, tokens, max(CONCURRENCY), args.seconds))
            print(f"{'clients':>7} {'durable debits/s':>17} {'bare FastAPI/s':>15} {'ratio':>6}")
            for clients in CONCURRENCY:
                durable = asyncio.run(hammer(url, tokens, clients, args.seconds))
                baseline = asyncio.run(hammer(bare_url, tokens, clients, args.seconds))
                print(f"{clients:>7} {durable:>17,.0f} {baseline:>15,.0f} "
                      f"{durable / baseline:>6.2f}", flush=True)
        finally:
            for process in (served, bare):
                process.terminate()
                process.wait(30)


if __name__ == "__main__":
    main()
