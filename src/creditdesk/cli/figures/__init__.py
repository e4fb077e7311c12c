"""`creditdesk balance | usage | members | invoices | ledger | alerts`: the dashboard's figures for
scripts and cron, over the same backends and context rules as the dashboard.

Exit codes (contract.md, "For scripts"): 0 done; 1 the backend refused (any BillingError, its
code and message on stderr); 2 bad usage, found before any backend call (argparse's own
errors are 2 as well); 3 no answer from the backend, or `unavailable`. A traceback is never
what a script gets: anything unforeseen is one line on stderr and exit 3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

from .. import COMMAND_GROUPS
from .spans import describe, parse_when

if TYPE_CHECKING:
    from ...backends import BillingBackend

DONE, REFUSED, BAD_USAGE, NO_ANSWER = 0, 1, 2, 3
# Their summaries live with every command's in the CLI's table (its --help lists them all).
COMMANDS = next(names for module, _, names in COMMAND_GROUPS if module == "figures")


def _count(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low:,} to {high:,}, got {value:,}")
        return value
    return parse


def add_parsers(sub) -> None:
    from .. import add_world_arguments

    for name, summary in COMMANDS.items():
        parser = sub.add_parser(name, help=summary, description=f"Print {summary}.",
                                epilog="Exit codes: 0 done, 1 refused by the backend, "
                                       "2 bad usage, 3 no answer from the backend.")
        parser.add_argument("--context", metavar="ID",
                            help="the account (default: as the dashboard: the saved context, "
                                 "else your first org, else personal)")
        form = parser.add_mutually_exclusive_group()
        form.add_argument("--json", dest="form", action="store_const", const="json",
                          help="the contract's models as one JSON document")
        form.add_argument("--csv", dest="form", action="store_const", const="csv",
                          help="one CSV row per object")
        parser.set_defaults(form="table", run=run, figures=name)
        parser.add_argument("--demo", action="store_true",
                            help="the offline demo world instead of the server")
        add_world_arguments(parser)
        if name == "usage":
            parser.add_argument("--since", type=parse_when, default=parse_when("30d"),
                                help="a date (YYYY-MM-DD) or a span back from now (30d, 12w, "
                                     "6m); default 30d")
            parser.add_argument("--until", type=parse_when, default=None,
                                help="a date (that whole day included) or a span back from "
                                     "now; default now")
            parser.add_argument("--by", choices=["source", "member", "campaign"],
                                default="source", help="split by (default source)")
            parser.add_argument("--per", choices=["day", "week", "month"], default="day",
                                help="one figure per (default day)")
            parser.add_argument("--top", type=_count(1, 10_000), default=None,
                                help="only the N biggest keys, the rest summed as (other)")
        if name == "ledger":
            parser.add_argument("--limit", type=_count(1, 1000), default=None,
                                help="entries to print (default 100); with --all, per page")
            parser.add_argument("--before", type=_count(1, 2**63 - 1), default=None,
                                metavar="ID", help="only entries older than this entry id")
            parser.add_argument("--all", action="store_true",
                                help="every entry, fetched page by page (constant memory)")
        if name == "alerts":
            parser.add_argument("--limit", type=_count(1, 1000), default=None,
                                help="alerts to print (default 100)")
            parser.add_argument("--before", type=_count(1, 2**63 - 1), default=None,
                                metavar="ID", help="only alerts older than this alert id")


def run(args: argparse.Namespace) -> int:
    prog = f"creditdesk {args.figures}"
    if not args.demo and _world_flags_given(args):
        return _usage_error(prog, "--as, --members, --months and --seed need --demo")
    if args.figures == "usage":
        problem = _set_range(args)
        if problem:
            return _usage_error(prog, problem)
    try:
        backend, preferred = open_backend(args)
    except _ConfigError as error:
        return _usage_error(prog, str(error))
    except Exception as error:  # noqa: BLE001 - the demo world failed to build: a bug, said once
        print(f"{prog}: the demo world could not be built: {type(error).__name__}: {error}",
              file=sys.stderr)
        return NO_ANSWER
    return asyncio.run(_answer(prog, args, backend, preferred))


def _set_range(args) -> str | None:
    """`--since/--until` as instants on args (start, end), or what is wrong with them."""
    from datetime import UTC, datetime
    now = datetime.now(UTC)
    args.start = args.since.start_of(now)
    args.end = args.until.end_of(now) if args.until else now
    if args.start >= args.end:
        until = describe(args.until) if args.until else "now"
        return f"--since {describe(args.since)} is not before --until {until}"
    return None


def _world_flags_given(args) -> bool:
    return (args.role, args.members, args.months, args.seed) != ("owner", 24, 6, 7)


def _usage_error(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return BAD_USAGE


class _ConfigError(Exception):
    """The settings file or the environment cannot name a server: a usage error (exit 2)."""


def open_backend(args) -> tuple[BillingBackend, str | None]:
    """The demo world's in-process backend, or the configured server's; with the context the
    settings prefer (None for the demo)."""
    if args.demo:
        from ...backends import MemoryBackend
        world = demo_world(args)
        return MemoryBackend(world.engine, demo_user(world, args.role)), None
    from ... import config
    try:
        connection = config.connection()
    except config.ConfigError as error:
        raise _ConfigError(str(error)) from None
    from ...backends.remote import RemoteBackend
    return RemoteBackend(connection.url, connection.token), connection.context


# members x months from which building takes long enough to say so (as `creditdesk demo`).
BIG_WORLD = 6_000


def demo_world(args):
    """The demo world of `--members/--months/--seed` at the real current time."""
    from datetime import UTC, datetime

    from ...demo import build_demo
    if args.members * args.months >= BIG_WORLD:
        print(f"Building the demo world: {args.members:,} members, {args.months} months of "
              f"history…", file=sys.stderr, flush=True)
    return build_demo(now=datetime.now(UTC).replace(microsecond=0), seed=args.seed,
                      members=args.members, months=args.months)


def demo_user(world, role: str) -> str:
    """The user id behind `--as owner|admin|member`."""
    return {"owner": world.owner, "admin": world.admin, "member": world.member}[role]


async def choose_context(backend: BillingBackend, preferred: str | None) -> str:
    """As the dashboard opens: the preferred context if the user has it, else the first org,
    else the first (personal) one."""
    identity = await backend.whoami()
    contexts = identity.contexts
    chosen = ([c for c in contexts if c.account_id == preferred]
              or [c for c in contexts if c.kind == "org"] or contexts)
    return chosen[0].account_id


async def _answer(prog: str, args, backend: BillingBackend, preferred: str | None) -> int:
    from ...errors import BillingError, Unavailable
    try:
        account_id = args.context or await choose_context(backend, preferred)
        await report(args, backend, account_id, sys.stdout)
        sys.stdout.flush()
    except Unavailable as error:
        print(f"{prog}: {error.code}: {error.message}", file=sys.stderr)
        return NO_ANSWER
    except BillingError as error:
        print(f"{prog}: {error.code}: {error.message}", file=sys.stderr)
        return REFUSED
    except BrokenPipeError:
        # The reader stopped early (`| head`): not an error, but nothing more can be written.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return DONE
    except Exception as error:  # noqa: BLE001 - a script gets one line, never a traceback
        print(f"{prog}: no usable answer from the backend: {type(error).__name__}: {error}",
              file=sys.stderr)
        return NO_ANSWER
    finally:
        await backend.aclose()
    return DONE


async def report(args, backend: BillingBackend, account_id: str, out) -> None:
    """Ask for the command's figures and print them in `args.form`."""
    from . import reports
    name, form = args.figures, args.form
    if name == "balance":
        reports.print_balance(out, await backend.balance(account_id), form)
    elif name == "members":
        reports.print_members(out, await backend.members(account_id), form)
    elif name == "invoices":
        reports.print_invoices(out, await backend.invoices(account_id), form)
    elif name == "usage":
        series = await backend.usage_history(account_id, start=args.start, end=args.end,
                                             granularity=args.per, group_by=args.by,
                                             top=args.top)
        reports.print_usage(out, series, form)
    elif name == "ledger":
        await stream_ledger(backend, account_id, out, form, limit=args.limit,
                            before=args.before, every=args.all)
    elif name == "alerts":
        from .alerts import report_alerts
        await report_alerts(backend, account_id, out, form, limit=args.limit,
                            before=args.before)


async def stream_ledger(backend: BillingBackend, account_id: str, out, form: str, *,
                        limit: int | None, before: int | None, every: bool) -> int:
    """Print one page, or (every) all pages older than `before`, holding one page at a time.
    Returns the number of entries printed."""
    from .reports import MAX_LEDGER_PAGE, LedgerPrinter
    size = limit or (MAX_LEDGER_PAGE if every else 100)
    first = backend.ledger(account_id, limit=size, before=before)
    names = {}
    if form == "json":
        page = await first
    else:
        # The Who column shows names, as the dashboard does; asked beside the first page.
        page, members = await asyncio.gather(first, backend.members(account_id))
        names = {m.user_id: m.name for m in members}
    printer = LedgerPrinter(out, form, names)
    while True:
        printer.page(page)
        if not every or len(page) < size:
            break
        before = page[-1].id
        del page        # not alive while the next page is fetched: one page at a time
        page = await backend.ledger(account_id, limit=size, before=before)
    printer.finish()
    return printer.count
