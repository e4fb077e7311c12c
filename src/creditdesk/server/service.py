"""Runs engine calls for the HTTP API, off the event loop, and the operator's commands.

The books are in the engine's store (memory, SQLite or PostgreSQL), which takes each
account's lock for one transaction and retries a transaction the database gave up; so the
service takes no lock of its own and keeps no journal: what a call changed is committed by
the store before the call returns. A database that cannot be written (a read-only file, a
server gone away) is `StorageFailure`, answered 503 `unavailable`, never a 500.

Operator commands are the methods of `Operator`, dispatched through `OPERATOR_COMMANDS`, a
table built and checked at import: the HTTP admin paths and the journal upgrade
(server/upgrade.py) both run them from there, so set-up is written once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from ..engine import BillingEngine, BillingSession, ManualClock
from ..errors import AlreadyExists, InvalidRequest, NotFound
from ..models import Plan
from ..store.first_answers import StoredAnswer
from ..store.retry import RetryTransaction
from .group_commit import Call, DebitGroups, Outcome
from .tokens import OPERATOR

DEMO_LIMITS = {"members": (5, 20_000), "months": (1, 36)}
LATEST_TEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_TEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Sessions kept by a service at most (a few hundred bytes each); past it they are dropped
# and made again, so a process serving millions of users does not keep them all.
MAX_SESSIONS = 100_000


# The session's calls that only read the books (one may still close a period that the
# clock has passed; on SQLite it then waits for the file's write lock like any write). Any
# other session call counts as a write.
READ_COMMANDS = frozenset({
    "whoami", "balance", "my_usage", "members", "usage_history", "ledger", "invoices",
    "plans", "credit_packs", "portal_url", "alerts", "alert_settings", "auto_recharge",
    "subscription"})


# Writes short enough to run on the event loop when SQLite's write lock is free: a debit
# (its auto-recharge charges the gateway kept in the database, in the same transaction).
LOOP_WRITES = frozenset({"record_usage"})


class StorageFailure(Exception):
    """The database cannot take or give the books right now (answered 503 `unavailable`)."""


def clock_instant_in_utc(now: datetime, field: str = "now") -> datetime:
    """`now` in UTC if a test clock may stand there, else InvalidRequest on `field`.

    The bounds keep every date the engine derives from it (period ends a month on, a year
    of history back) inside what datetime can hold: 0001-01-01T00:00:00+14:00 is before
    year 1 in UTC, and from 9999-12 the next period's start does not exist.
    """
    words = (f"{field} must be an instant from {EARLIEST_TEST_TIME:%Y-%m-%d} to before "
             f"{LATEST_TEST_TIME:%Y-%m-%d} (UTC)")
    try:
        utc = now.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(words, field=field) from None
    if not EARLIEST_TEST_TIME <= utc < LATEST_TEST_TIME:
        raise InvalidRequest(words, field=field)
    return utc


class Operator:
    """The operator's set-up commands over one engine (and its test clock, if any)."""

    def __init__(self, engine: BillingEngine, test_clock: ManualClock | None) -> None:
        self.engine = engine
        self.test_clock = test_clock

    def add_plan(self, plan: Plan) -> Plan:
        return self.engine.add_plan(plan)

    def add_user(self, user_id: str, name: str, email: str, plan: str):
        return self.engine.add_user(user_id, name=name, email=email, plan=plan)

    def create_org(self, org_id: str, name: str, owner: str, plan: str):
        return self.engine.create_org(org_id, name=name, owner=owner, plan=plan)

    def add_member(self, org_id: str, user_id: str, role: str):
        return self.engine.add_member(org_id, user_id, role=role)

    def decline(self, account_id: str, decline: bool) -> None:
        if not self.engine.store.has_account(account_id):
            raise NotFound(f"no account {account_id!r}")
        self.engine.payments.decline(account_id, decline)

    def set_clock(self, now: datetime) -> datetime:
        if self.test_clock is None:
            raise NotFound("the clock can only be set on a server started with --test-clock")
        if isinstance(now, datetime) and now.utcoffset() is not None:
            clock_instant_in_utc(now)   # every account closes each month it passes
        return self.test_clock.set(now)

    def load_demo(self, now: datetime | None, seed: int, members: int, months: int):
        """Fill empty books with the demo world built at `now` (None: the clock's now).

        On the SQL store the world is written in short batches (store/bulk.py), so other
        workers keep answering; an in-memory engine takes the world's books as they are."""
        from ..demo import build_demo
        from ..store.bulk import load_books
        engine = self.engine
        if engine.account_ids() or engine.plan_list():
            raise AlreadyExists("the demo world can only be loaded into an empty server")
        for field, value in (("members", members), ("months", months)):
            low, high = DEMO_LIMITS[field]
            if type(value) is not int or not low <= value <= high:
                raise InvalidRequest(f"{field} must be a whole number from {low} to {high}",
                                     field=field)
        if type(seed) is not int:
            raise InvalidRequest("seed must be a whole number", field="seed")
        world = build_demo(now=now or engine.clock(), seed=seed, members=members,
                           months=months)
        if engine.store.kind == "sql":
            load_books(world.engine.store, engine.store)
        else:
            self.engine = BillingEngine(clock=engine.clock, payments=world.engine.payments,
                                        store=world.engine.store)
        return world


def _operator_table() -> dict[str, Callable]:
    """Every public method of Operator, checked once: each takes keyword-style arguments
    only, so a route or a journaled call can never pass something positional by mistake."""
    table: dict[str, Callable] = {}
    for name, function in inspect.getmembers(Operator, inspect.isfunction):
        if name.startswith("_"):
            continue
        parameters = list(inspect.signature(function).parameters.values())[1:]
        if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters):
            raise TypeError(f"Operator.{name} must take named arguments only")
        table[name] = function
    return table


OPERATOR_COMMANDS: dict[str, Callable] = _operator_table()


def operator_command(command: Callable) -> str:
    """The table's name for `command`, once it is sure it is one of Operator's methods."""
    name = getattr(command, "__name__", "")
    if OPERATOR_COMMANDS.get(name) is not command:
        raise TypeError(f"{command!r} is not an operator command")
    return name


def session_command(method: Callable) -> str:
    """The name of `method`, once it is sure it is a public BillingSession method."""
    name = getattr(method, "__name__", "")
    if name.startswith("_") or getattr(BillingSession, name, None) is not method:
        raise TypeError(f"{method!r} is not a public BillingSession method")
    return name


class BillingService:
    """The engine behind the API, with its test clock and its operator."""

    def __init__(self, engine: BillingEngine, *,
                 test_clock: ManualClock | None = None) -> None:
        self.test_clock = test_clock
        self.operator = Operator(engine, test_clock)
        # Each caller's session, once the engine has found the user: users are never
        # removed, so the check need not run again (on SQL books it was two queries in two
        # transactions, a fifth of a debit's CPU). Kept per engine: loading the demo into
        # an in-memory engine replaces the engine, and its users with it.
        self._sessions: dict[str, BillingSession] = {}
        self._sessions_engine: BillingEngine | None = None
        self.calls_at_once = calls_at_once(engine.store)
        # Engine calls run on these threads, at most `calls_at_once` of them at a time: a
        # plain executor hop costs a debit about 100k fewer instructions than anyio's
        # to_thread (its limiter, cancel scope and worker bookkeeping), ~9% of a debit
        # on the memory store. Started lazily, so a forked worker makes its own.
        self._threads: ThreadPoolExecutor | None = None
        # SQLite admits one writer at a time, so a worker's writing calls take turns on one
        # thread of their own: on many threads they only queued on the file's lock while
        # sharing the GIL, which cost a debit ~1 ms more CPU with 16 callers at once
        # (bench/server_debits.py). Reads keep the pool: WAL lets them run beside a write.
        self._one_writer = getattr(engine.store, "dialect", None) == "sqlite"
        self._writer: ThreadPoolExecutor | None = None
        # Writing calls on the writer's thread now (queued or running), and so whether a
        # debit may be tried on the event loop (see `run`).
        self._writes_on_lane = 0
        self._debit_groups = DebitGroups(self.run_together)

    @property
    def engine(self) -> BillingEngine:
        # The operator's: loading the demo into an in-memory engine replaces it.
        return self.operator.engine

    def execute(self, actor: str, command: Callable, kwargs: dict) -> Any:
        """Run `command` (a BillingSession method, or an Operator one for OPERATOR)."""
        from sqlalchemy.exc import DBAPIError
        try:
            if actor == OPERATOR:
                return OPERATOR_COMMANDS[operator_command(command)](self.operator, **kwargs)
            return getattr(self.session(actor), session_command(command))(**kwargs)
        except DBAPIError as error:
            self._after_failure()
            raise StorageFailure(_storage_words(error)) from error

    def session(self, actor: str) -> BillingSession:
        """The engine's session for `actor` (NotFound for an unknown user, every time)."""
        engine = self.engine
        if self._sessions_engine is not engine or len(self._sessions) >= MAX_SESSIONS:
            self._sessions, self._sessions_engine = {}, engine
        session = self._sessions.get(actor)
        if session is None:
            session = self._sessions[actor] = engine.session(actor)
            session.answers_as_stored = True    # a replay sends its first answer's bytes
        return session

    def _after_failure(self) -> None:
        discard = getattr(self.engine.store, "discard_connections", None)
        if discard is not None:
            discard()

    def off_loop(self, function: Callable, *args: Any) -> asyncio.Future:
        """`function(*args)` on one of the service's threads, awaitable on the loop."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.calls_at_once,
                                               thread_name_prefix="creditdesk-engine")
        return asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    def _writing_lane(self) -> ThreadPoolExecutor:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="creditdesk-writer")
        return self._writer

    async def run(self, actor: str, command: Callable, **kwargs: Any) -> Any:
        # In a worker thread: an engine call can take seconds (a year of history by member)
        # and waits on the database; it must never stall the event loop.
        # Operator commands keep the pool: loading the demo writes in short batches, and
        # on the writer's thread it would hold this worker's debits for the whole load.
        name = getattr(command, "__name__", "")
        if self._one_writer and actor != OPERATOR and name not in READ_COMMANDS:
            if name in LOOP_WRITES and not self._writes_on_lane:
                outcome = await self._debit_groups.run(actor, command, kwargs)
                if outcome is not None:
                    done, value = outcome
                    if done:
                        return value
                    raise value
            self._writes_on_lane += 1
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self._writing_lane(), self.execute, actor, command, kwargs)
            finally:
                self._writes_on_lane -= 1
        return await self.off_loop(self.execute, actor, command, kwargs)

    def run_together(self, calls: list[Call]) -> list[Outcome] | None:
        """Each call's outcome ((True, its answer) or (False, what it raised)), run here, on
        the event loop, in one SQLite transaction if the write lock was free; None if it
        was not, or the group failed as a whole: then nothing of any call was written.

        A debit is a fraction of a millisecond of work, and handing it to the writer's
        thread cost it about 1 ms more CPU with 16 callers at once: the loop and that
        thread passing the GIL to each other around every SQLite call (bench/README.md).
        The loop never waits for the lock: another process's transaction (a second
        worker, a load) could hold it for long, so then the calls take the writer's thread,
        which may wait. Several calls share one COMMIT (group_commit.py), each in a
        savepoint, so a refusal or a failure of one leaves the others as they were."""
        from sqlalchemy.exc import DBAPIError
        store = self.engine.store
        # One call too: its savepoint is two statements, and a lock held elsewhere is
        # then found once, at the group's BEGIN (the engine's own retries would try it
        # eight times more, each failing at once).
        outcomes: list[Outcome] = []
        try:
            with store.without_waiting(), store.grouped():
                for actor, command, kwargs in calls:
                    try:
                        with store.savepoint():
                            outcomes.append((True, self.execute(actor, command, kwargs)))
                    except (RetryTransaction, StorageFailure, DBAPIError):
                        raise       # the group's transaction is no longer to be trusted
                    except Exception as error:  # noqa: BLE001 - raised again in its caller
                        outcomes.append((False, error))
        except (RetryTransaction, StorageFailure, DBAPIError) as failure:
            if isinstance(failure, DBAPIError):     # at COMMIT: as `execute` does
                self._after_failure()
            return None
        return outcomes

    def run_sync(self, actor: str, command: Callable, **kwargs: Any) -> Any:
        return self.execute(actor, command, kwargs)

    async def read(self, function: Callable[[], Any]) -> Any:
        """Run a store read (e.g. does this user exist) off the loop, as `run` does."""
        from sqlalchemy.exc import DBAPIError

        def guarded() -> Any:
            try:
                return function()
            except DBAPIError as error:
                self._after_failure()
                raise StorageFailure(_storage_words(error)) from error
        return await self.off_loop(guarded)


# Engine calls at once where the store sets no bound (anyio's default for its threads).
DEFAULT_CALLS_AT_ONCE = 40


def calls_at_once(store) -> int:
    """How many engine calls may run at once on `store` (DEFAULT_CALLS_AT_ONCE if it
    sets no bound).

    A PostgreSQL pool holds a bounded number of connections, and a call inside its
    transaction may need a second one (the test gateway keeps its charges in a transaction
    of their own, whatever becomes of the caller's). With more calls than the pool's
    connections, each holding one and waiting for another, none could go on: 16
    concurrent debits on one account held every connection while the lock's holder waited
    for one (to read the test clock, which now joins the open transaction instead). As
    many calls as the pool keeps open (5 of its 15 with the overflow), so every call can
    have its second. SQLite's pool has no bound."""
    engine = getattr(store, "engine", None)
    pool = getattr(engine, "pool", None)
    if getattr(store, "dialect", "sqlite") == "sqlite" or pool is None:
        return DEFAULT_CALLS_AT_ONCE
    return max(1, pool.size())


def _storage_words(error: Exception) -> str:
    """Why the database failed, in a few words for the log (never shown with secrets)."""
    text = str(getattr(error, "orig", error)).splitlines()
    return text[0][:200] if text else type(error).__name__


def model_json(value: Any) -> bytes:
    """JSON of a model, a list of models or plain data, without revalidating it; a first
    answer the store kept goes out exactly as it was first sent."""
    if isinstance(value, StoredAnswer):
        return value.encode()
    if isinstance(value, BaseModel):
        return value.__pydantic_serializer__.to_json(value)
    from pydantic_core import to_json
    return to_json(value)


__all__ = ["OPERATOR_COMMANDS", "BillingService", "Operator",
           "StorageFailure", "clock_instant_in_utc", "model_json"]
