"""`creditdesk` command line: parses arguments and hands off to one module per subcommand.

Only the command line knows every part of the project, yet a start builds only the parser
of the command it runs (`creditdesk demo` never imports the serve, admin or figure modules):
the others are listed by name and summary (`COMMAND_HELP`), which is all the top-level
`--help` and argparse's "invalid choice" need. Each subcommand module imports its heavy
parts (Textual, httpx, the server) when it runs, so `creditdesk --help` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

# The subcommands in `--help` order, grouped by the module that defines their parsers
# (None: defined here) and the function of it that adds them to the subparsers.
COMMAND_GROUPS: tuple[tuple[str | None, str, dict[str, str]], ...] = (
    (None, "", {"demo": "open the dashboard offline on the demo world"}),
    ("serve", "add_parser", {"serve": "run the billing HTTP API"}),
    ("admin", "add_parser", {"admin": "operator set-up of a running server"}),
    ("account", "add_parsers", {
        "login": "store a token for a billing server in the keyring",
        "logout": "forget the stored token"}),
    ("figures", "add_parsers", {
        "balance": "the balance of an account: buckets, use this period, autopilot",
        "usage": "credits used over a range, by source, member or campaign",
        "members": "each member's use this period and limit",
        "invoices": "the invoices, newest first",
        "ledger": "ledger entries, newest first (--all streams every one)",
        "alerts": "the alerts raised, newest first"}),
    ("web", "add_parser", {"web": "serve the dashboard to a browser (textual-serve)"}),
)
# Each subcommand's one-line summary; the modules' parsers take theirs from here.
COMMAND_HELP = {name: summary for _, _, names in COMMAND_GROUPS
                for name, summary in names.items()}


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


class LazyVersion(argparse.Action):
    """`--version`, worked out only when asked: finding the installed version scans the
    installed distributions, tens of milliseconds that every other start would pay."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit") -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default,
                         nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"creditdesk {_version()}")
        parser.exit()


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand an argument list runs: its first word that is not an option (the
    top-level options, -h and --version, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given `argv`, only the parsers that argv can reach are built
    in full, every other subcommand is a name and its summary (same `--help`)."""
    parser = argparse.ArgumentParser(
        prog="creditdesk",
        description="Credit-based organization billing. With no command, opens the dashboard "
                    "on the server you logged in to.")
    parser.add_argument("--version", action=LazyVersion)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(command_parsers=sub.choices)
    wanted = None if argv is None else chosen_command(argv)
    for module, adder, names in COMMAND_GROUPS:
        if argv is not None and wanted not in names:
            for name, summary in names.items():
                sub.add_parser(name, help=summary)
        elif module is None:
            add_demo_parser(sub)
        else:
            getattr(import_module(f".{module}", __name__), adder)(sub)
    return parser


def add_demo_parser(sub) -> None:
    demo = sub.add_parser(
        "demo", help=COMMAND_HELP["demo"],
        description="Open the dashboard on a made-up organization (Acme Robotics) with "
                    "months of history, built in memory: nothing is saved and no server is "
                    "needed. In the dashboard, l starts live activity and t jumps to the "
                    "next period close.")
    add_world_arguments(demo)


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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
