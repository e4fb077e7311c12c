"""`--since/--until`: dates and spans back from now."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from creditdesk.cli.figures.spans import parse_when

NOW = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("text, start", [
    ("30d", datetime(2026, 3, 1, 15, 30, tzinfo=UTC)),
    ("2w", datetime(2026, 3, 17, 15, 30, tzinfo=UTC)),
    ("1m", datetime(2026, 2, 28, 15, 30, tzinfo=UTC)),      # no 31 Feb: its last day
    ("13m", datetime(2025, 2, 28, 15, 30, tzinfo=UTC)),
    ("25m", datetime(2024, 2, 29, 15, 30, tzinfo=UTC)),     # a leap year
    ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
])
def test_start(text, start):
    assert parse_when(text).start_of(NOW) == start


def test_a_date_as_the_end_includes_that_day():
    assert parse_when("2026-03-01").end_of(NOW) == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_when("7d").end_of(NOW) == datetime(2026, 3, 24, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["0d", "3x", "-5d", "2026-02-30", "1.5m", "", "30 d"])
def test_bad_values_name_what_is_expected(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_when(text)
