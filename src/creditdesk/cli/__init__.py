"""`creditdesk` command line: parses arguments and hands off to one module per subcommand.

Only the command line knows every part of the project; each subcommand module imports its
heavy parts (Textual, httpx, the server) when it runs, so `creditdesk --help` stays instant.
"""

from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _demo_members(text: str) -> int:
    value = _positive_int(text)
    # The demo casts five different people (owner, admin, member, near-limit, stopped).
    if not 5 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"the demo needs 5 to 100,000 members, got {value}")
    return value


def _demo_months(text: str) -> int:
    value = _positive_int(text)
    if value > 60:
        raise argparse.ArgumentTypeError(f"the demo covers 1 to 60 months, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditdesk",
        description="Credit-based organization billing. With no command, opens the dashboard "
                    "on the server you logged in to.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="open the dashboard offline on the demo world")
    demo.add_argument("--as", dest="role", choices=["owner", "admin", "member"],
                      default="owner", help="whose eyes to see the demo org through")
    demo.add_argument("--members", type=_demo_members, default=24,
                      help="members in the demo org (default 24)")
    demo.add_argument("--months", type=_demo_months, default=6,
                      help="months of history (default 6)")
    demo.add_argument("--seed", type=_seed, default=7, help="random seed (default 7)")

    from . import account, admin, serve  # small modules: they import their heavy parts late
    serve.add_parser(sub)
    admin.add_parser(sub)
    account.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo
        return run_demo(args)
    if args.command is None:
        from .account import run_dashboard
        return run_dashboard(args)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
