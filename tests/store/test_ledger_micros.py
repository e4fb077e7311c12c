"""Ledger instants as integer microseconds: `to_micros` is the exact count since the epoch
(an aware instant at any offset, before 1970 too) and `from_micros` its inverse."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from creditdesk.store.ledger import EPOCH, from_micros, to_micros


def test_to_micros_counts_exact_microseconds_since_the_epoch():
    rng = random.Random(8)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    for _ in range(2_000):
        micros = rng.randrange(-6 * 10**16, 6 * 10**16)
        at = (EPOCH + timedelta(microseconds=micros)).astimezone(rng.choice(zones))
        assert to_micros(at) == micros == (at - EPOCH) // timedelta(microseconds=1)
        assert from_micros(to_micros(at)) == at


def test_the_edges_of_a_day_and_of_the_epoch():
    assert to_micros(EPOCH) == 0
    assert to_micros(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    assert to_micros(datetime(2025, 1, 6, tzinfo=UTC)) == 20_094 * 86_400 * 10**6
