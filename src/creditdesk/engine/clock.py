"""Clocks the engine reads `now` from: the real UTC clock, and a manual one for tests and demos.

A debit needs only the microseconds since the epoch (what the ledger stores): the engine
reads them through `micros_reader`, so a clock that has them at hand (the real one, from
`time.time_ns`; a ManualClock stepped in micros) spares every debit a datetime's
conversion (~2,500 instructions of a debit's ~42,000, bench/engine_scale.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..errors import InvalidRequest
from ..store.ledger import from_micros, to_micros


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_now_micros() -> int:
    # Floored, as datetime.now is: to_micros(utc_now()) read at the same instant.
    return time.time_ns() // 1000


class ManualClock:
    """A clock that stands still until moved; never moves backwards (periods close forward).

    It holds its time as a datetime, as micros, or both: `set` gives the datetime,
    `set_micros` the micros, and the other form is worked out when first asked for."""

    def __init__(self, start: datetime) -> None:
        self._now: datetime | None = _aware(start, "start")
        self._us: int | None = None

    def __call__(self) -> datetime:
        now = self._now
        if now is None:
            now = self._now = from_micros(self._us)
        return now

    def micros(self) -> int:
        """The time as microseconds since the epoch (`to_micros(clock())`)."""
        us = self._us
        if us is None:
            us = self._us = to_micros(self._now)
        return us

    def set(self, now: datetime) -> datetime:
        if type(now) is not datetime or now.tzinfo is not UTC:    # inline: a demo's hot path
            now = _aware(now, "now")
        current = self._now
        if current is None:
            current = self()
        if now < current:
            raise InvalidRequest(f"the clock cannot go back from {current.isoformat()} "
                                 f"to {now.isoformat()}", field="now")
        self._now = now
        self._us = None
        return now

    def set_micros(self, micros: int) -> int:
        """`set` for a time given as microseconds since the epoch: what a driver stepping
        the clock for every debit uses, so no datetime is made (bench/engine_scale.py)."""
        if type(micros) is not int:
            raise InvalidRequest("now must be a whole number of microseconds", field="now")
        current = self._us
        if current is None:
            current = self.micros()
        if micros < current:
            raise InvalidRequest(f"the clock cannot go back from {self().isoformat()} "
                                 f"to {from_micros(micros).isoformat()}", field="now")
        self._us = micros
        self._now = None
        return micros

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self() + delta)


def micros_reader(clock: Callable[[], datetime]) -> Callable[[], int]:
    """What the debit calls for its time in micros, equal to `to_micros(clock())`: the
    clock's own micros where it keeps them (a ManualClock itself, not a subclass, which
    may keep its time elsewhere), the real clock's from `time.time_ns`, else the
    conversion of whatever `clock` gives."""
    if type(clock) is ManualClock:
        return clock.micros
    if clock is utc_now:
        return utc_now_micros
    return lambda: to_micros(clock())


def _aware(value: object, field: str) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value                    # the common case, and on the demo's hot path
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidRequest(f"{field} must be a datetime with a UTC offset", field=field)
    return value.astimezone(UTC)
