"""Runs engine calls for the HTTP API: one clock instant per call, journal what changed state.

Every call runs under `engine.lock`. When the server owns its engine, the engine's clock is
a ManualClock that the service sets to the call's instant first (the real time, or the test
clock, never going backwards), so the call can be replayed later at exactly that instant.
A call that changed the engine (`engine.mutations` moved; reads can close periods, refusals
can buy recharge credits) is queued for the store with its instant, actor, method and
arguments; the caller then awaits that batch's commit before answering. A call that changed
nothing still waits for the newest pending batch, so no answer shows state a crash could
take back. Operator set-up, gateway decline flags and test-clock moves are journaled too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel

from ..engine import BillingEngine, ManualClock, TestPaymentGateway
from ..errors import AlreadyExists, BillingError, InvalidRequest, NotFound
from ..models import Plan
from .store import Batch, JournalRecord, Store
from .tokens import OPERATOR

DEMO_LIMITS = {"members": (5, 20_000), "months": (1, 36)}
LATEST_TEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_TEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)


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


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Plan):
        return {"$plan": value.model_dump()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$plan" in value:
            return Plan.model_validate(value["$plan"])
    return value


class BillingService:
    """The engine behind the API, with its clock, its journal and its operator commands."""

    def __init__(self, engine: BillingEngine | None = None, store: Store | None = None, *,
                 test_clock: ManualClock | datetime | bool | None = None) -> None:
        self.store = store
        if engine is None:
            # The server owns this engine: it drives the clock so calls can be replayed.
            start = datetime.now(UTC)
            if isinstance(test_clock, datetime):
                start = test_clock
            self.driven: ManualClock | None = ManualClock(start)
            engine = BillingEngine(clock=self.driven, payments=TestPaymentGateway())
            self.test_clock = ManualClock(start) if test_clock not in (None, False) else None
        else:
            # A given engine keeps its own clock (a test moves it); a test clock, if any,
            # is that clock, moved by PUT /v1/admin/clock.
            self.driven = None
            self.test_clock = test_clock if isinstance(test_clock, ManualClock) else None
            if test_clock is True and isinstance(engine.clock, ManualClock):
                self.test_clock = engine.clock
        self.engine = engine
        self.last_instant = self.driven() if self.driven is not None else None

    # --- time -------------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """The instant of the next call; sets the engine's clock to it when driven."""
        if self.driven is None:
            return self.engine.clock()
        now = self.test_clock() if self.test_clock is not None else datetime.now(UTC)
        if now < self.last_instant:
            now = self.last_instant      # the wall clock stepped back: never go back
        self.driven.set(now)
        self.last_instant = now
        return now

    # --- running calls ----------------------------------------------------------------------

    def execute(self, actor: str, method: str, kwargs: dict) -> tuple[Any, Batch | None]:
        """Run one call; returns (result or the BillingError it raised, batch to wait on)."""
        engine = self.engine
        with engine.lock:
            store = self.store
            if store is not None and store.failure is not None:
                from .store import StorageFailure
                raise StorageFailure(f"the store failed earlier: {store.failure}")
            at = self._tick()
            if kwargs.get("now", 0) is None:
                kwargs["now"] = at      # "now" means the call's own instant (load_demo)
            before = engine.mutations
            first_entry = engine.next_entry_id
            try:
                outcome = self._apply(actor, method, kwargs)
                failed = False
            except BillingError as error:
                outcome, failed = error, True
            except Exception as error:
                # A bug, not a refusal. If it struck after the engine changed, memory is
                # ahead of the journal: stop taking requests (503) rather than answer from
                # books a restart would not rebuild.
                if store is not None and engine.mutations != before:
                    store.failure = error
                raise
            engine = self.engine          # load_demo swaps it
            changed = engine.mutations != before or (actor == OPERATOR and not failed)
            if store is None:
                return outcome, None
            if not changed:
                return outcome, store.pending()
            return outcome, self._journal(at, actor, method, kwargs, outcome, failed,
                                          first_entry)

    async def run(self, actor: str, method: str, **kwargs: Any) -> Any:
        # In a worker thread: an engine call can take seconds (a year of history by member)
        # and must never stall the event loop, where every other caller waits.
        outcome, batch = await anyio.to_thread.run_sync(self.execute, actor, method, kwargs)
        if batch is not None:
            await batch.wait()
        if isinstance(outcome, BillingError):
            raise outcome
        return outcome

    def run_sync(self, actor: str, method: str, **kwargs: Any) -> Any:
        outcome, batch = self.execute(actor, method, kwargs)
        if batch is not None:
            batch.wait_sync()
        if isinstance(outcome, BillingError):
            raise outcome
        return outcome

    def _apply(self, actor: str, method: str, kwargs: dict) -> Any:
        if actor == OPERATOR:
            return getattr(self, f"_op_{method}")(**kwargs)
        return getattr(self.engine.session(actor), method)(**kwargs)

    # --- the journal ------------------------------------------------------------------------

    def _journal(self, at: datetime, actor: str, method: str, kwargs: dict, outcome: Any,
                 failed: bool, first_entry: int) -> Batch:
        store = self.store
        seq = store.take_seq()
        args = json.dumps({name: _encode(value) for name, value in kwargs.items()})
        ledger = [(e.account_id, e.id, e.at.isoformat(), e.kind, e.actor, e.base, e.rollover,
                   e.purchased, e.balance_after, e.ref, e.idempotency_key, seq)
                  for e in self.engine.ledger_since(first_entry, self._touched(method, kwargs))]
        idempotency = []
        if not failed and method in ("record_usage", "purchase_credits") and ledger:
            idempotency.append((kwargs["account_id"], method, kwargs["idempotency_key"],
                                outcome.model_dump_json(), seq))
        return store.submit(journal=(seq, at.isoformat(), actor, method, args), ledger=ledger,
                            idempotency=idempotency)

    def _touched(self, method: str, kwargs: dict) -> list[str]:
        if method == "add_user":
            return [f"personal:{kwargs['user_id']}"]
        if method == "create_org":
            return [kwargs["org_id"]]
        return [kwargs["account_id"]] if "account_id" in kwargs else []

    def replay(self, records: Iterable[JournalRecord]) -> int:
        """Re-run journaled calls at their instants; the engine ends where it was."""
        count = 0
        start_of_time = self.last_instant
        for record in records:
            if self.driven is not None:
                if count == 0 and self.engine.mutations == 0:
                    # Start the fresh engine at the journal's first instant: a ManualClock
                    # never goes back, and the server may restart later than it began.
                    self.driven = ManualClock(record.at)
                    self.engine = BillingEngine(clock=self.driven,
                                                payments=TestPaymentGateway())
                    self.last_instant = record.at
                if record.at > self.driven():
                    self.driven.set(record.at)
                self.last_instant = self.driven()
            kwargs = {name: _decode(value) for name, value in record.args.items()}
            try:
                self._apply(record.actor, record.method, kwargs)
            except BillingError:
                pass    # it was refused the first time too, after changing what it changed
            count += 1
        if self.test_clock is not None and self.last_instant is not None:
            if self.last_instant > self.test_clock():
                self.test_clock.set(self.last_instant)
        if count and self.driven is not None and start_of_time > self.last_instant:
            self.driven.set(start_of_time)     # where the restarted clock stands
            self.last_instant = start_of_time
        return count

    # --- operator commands (journaled with actor OPERATOR) ----------------------------------

    def _op_add_plan(self, plan: Plan) -> Plan:
        return self.engine.add_plan(plan)

    def _op_add_user(self, user_id: str, name: str, email: str, plan: str):
        return self.engine.add_user(user_id, name=name, email=email, plan=plan)

    def _op_create_org(self, org_id: str, name: str, owner: str, plan: str):
        return self.engine.create_org(org_id, name=name, owner=owner, plan=plan)

    def _op_add_member(self, org_id: str, user_id: str, role: str):
        return self.engine.add_member(org_id, user_id, role=role)

    def _op_decline(self, account_id: str, decline: bool) -> None:
        if account_id not in self.engine.account_ids():
            raise NotFound(f"no account {account_id!r}")
        self.engine.payments.decline(account_id, decline)

    def _op_set_clock(self, now: datetime) -> datetime:
        if self.test_clock is None:
            raise NotFound("the clock can only be set on a server started with --test-clock")
        if isinstance(now, datetime) and now.utcoffset() is not None:
            clock_instant_in_utc(now)   # every account closes each month it passes
        now = self.test_clock.set(now)
        if self.driven is not None and now > self.driven():
            self.driven.set(now)
            self.last_instant = now
        return now

    def _op_load_demo(self, now: datetime, seed: int, members: int, months: int):
        """Replace an empty engine by the demo world built at `now` (deterministic, so the
        journal needs only these four arguments to rebuild it)."""
        from ..demo import build_demo
        if self.engine.account_ids() or self.engine.plan_list():
            raise AlreadyExists("the demo world can only be loaded into an empty server")
        for field, (low, high) in DEMO_LIMITS.items():
            value = {"members": members, "months": months}[field]
            if type(value) is not int or not low <= value <= high:
                raise InvalidRequest(f"{field} must be a whole number from {low} to {high}",
                                     field=field)
        if type(seed) is not int:
            raise InvalidRequest("seed must be a whole number", field="seed")
        world = build_demo(now=now, seed=seed, members=members, months=months)
        if self.engine.store.kind == "sql":
            # The books are in a database that other workers share: write the world
            # there in short transactions instead of swapping in the in-memory engine.
            from .upgrade import copy_into
            copy_into(world.engine, self.engine.store)
            self.engine.names = self.engine.store.names     # copy_into took the world's
            return world
        self.engine = world.engine
        if self.driven is not None:
            self.driven = world.clock
        return world


def model_json(value: Any) -> bytes:
    """JSON of a model, a list of models or plain data, without revalidating it."""
    if isinstance(value, BaseModel):
        return value.__pydantic_serializer__.to_json(value)
    from pydantic_core import to_json
    return to_json(value)
