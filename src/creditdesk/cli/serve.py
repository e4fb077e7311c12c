"""`creditdesk serve`: run the HTTP API (needs the `server` extra: fastapi and uvicorn)."""

from __future__ import annotations

import argparse
import sys


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, got {value}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of workers, got {text!r}") \
            from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"--workers is from 1 to 64, got {value}")
    return value


def _retry_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") \
            from None
    # Above an hour the first retry would come after most of the 24 h retry window.
    if not 0.01 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"--webhook-retry-seconds is from 0.01 to 3600, "
                                         f"got {text}")
    return value


def add_parser(sub) -> None:
    from . import COMMAND_HELP

    serve = sub.add_parser("serve", help=COMMAND_HELP["serve"],
                           description="Run the billing HTTP API over a SQLite or PostgreSQL database.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on "
                       "(default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000,
                       help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--db", metavar="PATH|URL",
                       help="a SQLite file path or sqlite:///PATH (default: a file in the "
                            "user data dir), or postgresql://USER:PASSWORD@HOST/DATABASE")
    serve.add_argument("--workers", type=_workers, default=1, metavar="N",
                       help="worker processes sharing the database (default 1)")
    serve.add_argument("--operator-token-file", metavar="F",
                       help="file holding the operator token (else $CREDITDESK_OPERATOR_TOKEN, "
                            "else one is made and saved beside the database)")
    serve.add_argument("--test-clock", nargs="?", const="now", metavar="START",
                       help="a clock that stands still at START (ISO 8601 with an offset; "
                            "default now) until PUT /v1/admin/clock moves it")
    serve.add_argument("--forwarded-allow-ips", metavar="LIST",
                       help="comma-separated addresses of proxies whose X-Forwarded-For is "
                            "believed (default none: the peer's address counts)")
    serve.add_argument("--webhook-retry-seconds", type=_retry_seconds, default=30.0,
                       metavar="S", help="wait S seconds before a failed webhook's first "
                       "retry, twice as long before each next one, for 24 h (default 30)")
    serve.add_argument("--allow-http-webhooks", action="store_true",
                       help="also allow http:// webhook URLs (for tests; default https only)")
    serve.add_argument("--allow-private-webhooks", action="store_true",
                       help="allow webhooks to private, loopback and link-local addresses "
                            "(default: refused, so no one can make the server call inside "
                            "its own network)")
    serve.add_argument("--demo", action="store_true",
                       help="serve a throwaway copy of the demo world and print how to connect")
    serve.set_defaults(run=run)


def run(args) -> int:
    try:
        from ..server.runner import run_serve
    except ImportError as error:
        print(f"creditdesk serve needs the server extra ({error.name} is missing): "
              f"pip install 'creditdesk[server]'", file=sys.stderr)
        return 2
    try:
        return run_serve(args)
    except KeyboardInterrupt:
        return 0
