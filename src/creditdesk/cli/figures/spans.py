"""`usage --since/--until`: a date (`--until` includes that day) or a span back from now.

Parsed by argparse (so a bad value is exit 2 before any backend call) into a `When`, which is
turned into an instant only once `now` is known; everything is UTC, like the engine.
"""

from __future__ import annotations

import argparse
import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

SPAN = re.compile(r"(\d{1,4})([dwm])")
UNITS = {"d": "days", "w": "weeks", "m": "months"}


@dataclass(frozen=True)
class When:
    day: date | None = None      # a calendar date, or
    count: int = 0               # a span back from now: count of unit
    unit: str = ""

    def start_of(self, now: datetime) -> datetime:
        """The instant this names as the start of a range."""
        if self.day is not None:
            return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return back_from(now, self.count, self.unit)

    def end_of(self, now: datetime) -> datetime:
        """The exclusive end of a range: a date includes its whole day."""
        if self.day is not None:
            return self.start_of(now) + timedelta(days=1)
        return back_from(now, self.count, self.unit)


def back_from(now: datetime, count: int, unit: str) -> datetime:
    if unit == "d":
        return now - timedelta(days=count)
    if unit == "w":
        return now - timedelta(weeks=count)
    # Calendar months: the same day of the month, clamped (31 Mar - 1m = 28/29 Feb).
    year, month = divmod(now.year * 12 + now.month - 1 - count, 12)
    month += 1
    return now.replace(year=year, month=month,
                       day=min(now.day, calendar.monthrange(year, month)[1]))


def parse_when(text: str) -> When:
    """argparse type: `2026-11-01`, or `30d`, `12w`, `6m`."""
    text = text.strip()
    span = SPAN.fullmatch(text)
    if span:
        count = int(span.group(1))
        if count == 0:
            raise argparse.ArgumentTypeError(f"a span must be at least 1, got {text!r}")
        if span.group(2) == "m" and count > 1200:
            raise argparse.ArgumentTypeError(f"at most 1200 months back, got {text!r}")
        return When(count=count, unit=span.group(2))
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (YYYY-MM-DD) or a span back from now (30d, 12w, 6m), "
            f"got {text!r}") from None
    if not 1970 <= day.year <= 9998:
        raise argparse.ArgumentTypeError(f"a date from 1970 to 9998, got {text!r}")
    return When(day=day)


def describe(when: When) -> str:
    if when.day is not None:
        return when.day.isoformat()
    return f"{when.count}{when.unit}"
