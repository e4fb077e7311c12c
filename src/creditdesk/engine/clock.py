"""Clocks the engine reads `now` from: the real UTC clock, and a manual one for tests and demos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..errors import InvalidRequest


def utc_now() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved; never moves backwards (periods close forward)."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start, "start")

    def __call__(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> datetime:
        if type(now) is not datetime or now.tzinfo is not UTC:    # inline: a demo's hot path
            now = _aware(now, "now")
        if now < self._now:
            raise InvalidRequest(f"the clock cannot go back from {self._now.isoformat()} "
                                 f"to {now.isoformat()}", field="now")
        self._now = now
        return now

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self._now + delta)


def _aware(value: object, field: str) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value                    # the common case, and on the demo's hot path
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidRequest(f"{field} must be a datetime with a UTC offset", field=field)
    return value.astimezone(UTC)
