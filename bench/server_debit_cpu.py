"""The server's CPU per debit in process: raw ASGI calls into the app of one worker, no
socket and no HTTP parser, so the figure is the app's own work (the guards, FastAPI, the
gate, the thread hop, the engine and the store, the JSON answer).

    .venv/bin/python bench/server_debit_cpu.py [--store sqlite|memory] [--debits 2000]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/server_debit_cpu.py --debits 120     # and --debits 20
    .venv/bin/python bench/server_debit_cpu.py --profile            # cProfile, top 30

`--store memory` serves an in-memory engine (the HTTP layer's share stands out);
`bare` is server_debits.py's bare FastAPI endpoint (the floor); `sqlite` (the default) is `creditdesk serve`'s worker over a fresh SQLite file
(runner.sql_app), rate limit on. Instructions per debit under callgrind: the difference of
two runs divided by the difference of their debits (start-up cancels out). It uses only
names every tree has, so a baseline tree runs it too:
`PYTHONPATH=/tmp/head-tree/src .venv/bin/python bench/server_debit_cpu.py`.
"""

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

OPERATOR = "bench-operator-token-0123456789"


def build_app(store: str, folder: str):
    """(the ASGI app, a closer) for `store`, the rate limit on (its defaults, raised so
    the loop is never refused)."""
    limits = {"rate": 1e9, "burst": 10**9}
    if store == "bare":
        from server_debits import bare_app
        return bare_app("constant", "-"), lambda: None
    if store == "memory":
        from creditdesk.server.app import create_app
        return create_app(operator_token=OPERATOR, limits=limits), lambda: None
    from creditdesk.server.database import sqlite_database
    from creditdesk.server.runner import migrate, sql_app
    database = sqlite_database(Path(folder) / "books.sqlite3")
    migrate(database, None, lambda line: None)
    app, books = sql_app(database, OPERATOR, None, limits)
    return app, books.close


async def call(app, method: str, path: str, token: str, body: dict | None = None,
               extra: tuple = ()) -> tuple[int, bytes]:
    """One request through the ASGI app, as uvicorn hands it over."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = [(b"host", b"api"), (b"authorization", b"Bearer " + token.encode()),
               (b"content-type", b"application/json"),
               (b"content-length", str(len(raw)).encode()), *extra]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000), "state": {}}
    sent = False
    answer: dict = {"status": 0, "body": b""}

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


async def set_up(app) -> str:
    """A plan, ann owning `acme`; ann's token."""
    steps = [("/v1/admin/plans", {"id": "big", "name": "Big", "base_credits_per_month": 10**11,
                                  "rollover_cap": 0, "billing_period": "monthly",
                                  "price_cents": 0}),
             ("/v1/admin/users", {"id": "ann", "name": "Ann", "plan": "big"}),
             ("/v1/admin/orgs", {"id": "acme", "name": "Acme", "owner": "ann", "plan": "big"}),
             ("/v1/admin/users/ann/tokens", {})]
    for path, body in steps:
        status, text = await call(app, "POST", path, OPERATOR, body)
        if status != 201:
            raise RuntimeError(f"{path}: {status} {text[:200]!r}")
    return json.loads(text)["token"]


async def debits(app, token: str, count: int, first: int = 0) -> None:
    body = {"credits": 1, "campaign": "bench"}
    for n in range(first, first + count):
        status, text = await call(app, "POST", "/v1/accounts/acme/usage", token, body,
                                  ((b"idempotency-key", f"k{n}".encode()),))
        if status != 200:
            raise RuntimeError(f"debit {n}: {status} {text[:200]!r}")


async def run(store: str, count: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app, close = build_app(store, folder)
        try:
            token = "none" if store == "bare" else await set_up(app)
            await debits(app, token, 5, first=-5)          # the caller's session, the WAL
            if profile:
                import cProfile
                import pstats
                profiler = cProfile.Profile()
                profiler.enable()
                await debits(app, token, count)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
                return
            before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            await debits(app, token, count)
            after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            print(f"{store}: {count} debits, {cpu / count * 1e3:.3f} ms CPU and "
                  f"{(wall - started) / count * 1e3:.3f} ms wall a debit")
        finally:
            close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "memory", "bare"), default="sqlite")
    parser.add_argument("--debits", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    import creditdesk
    print(f"creditdesk from {Path(creditdesk.__file__).parent}")
    asyncio.run(run(args.store, args.debits, args.profile))


if __name__ == "__main__":
    main()
