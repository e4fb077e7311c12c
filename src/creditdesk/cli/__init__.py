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
    parser.add_argument("--version", action="version", version=f"creditdesk {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(command_parsers=sub.choices)

    demo = sub.add_parser(
        "demo", help="open the dashboard offline on the demo world",
        description="Open the dashboard on a made-up organization (Acme Robotics) with "
                    "months of history, built in memory: nothing is saved and no server is "
                    "needed. In the dashboard, l starts live activity and t jumps to the "
                    "next period close.")
    add_world_arguments(demo)

    from . import (  # small: heavy parts are imported late
        account,
        admin,
        figures,
        serve,
        web,
    )
    serve.add_parser(sub)
    admin.add_parser(sub)
    account.add_parsers(sub)
    figures.add_parsers(sub)
    web.add_parser(sub)
    return parser


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo world's flags (`--as`, `--members`, `--months`, `--seed`), shared by
    `creditdesk demo`, `creditdesk web --demo` and the figure commands' `--demo`."""
    parser.add_argument("--as", dest="role", choices=["owner", "admin", "member"],
                        default="owner", help="whose eyes to see the demo org through")
    parser.add_argument("--members", type=_demo_members, default=24,
                        help="members in the demo org (default 24)")
    parser.add_argument("--months", type=_demo_months, default=6,
                        help="months of history (default 6)")
    parser.add_argument("--seed", type=_seed, default=7, help="random seed (default 7)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("creditdesk")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse would print the top-level usage; the command's own usage is the useful one.
        command = args.command_parsers.get(args.command, parser)
        if args.command == "admin" and getattr(args, "admin_command", None):
            command = getattr(args, "admin_parsers", {}).get(args.admin_command, command)
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "demo":
        from .demo import run_demo
        return run_demo(args)
    if args.command is None:
        from .account import run_dashboard
        return run_dashboard(args)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
