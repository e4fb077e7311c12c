"""The debit's shortcuts (bench/engine_scale.py) answer exactly what the slow ways do:
the key test against `check_key`, the memory store's C look-ups and id counter, the clock
the debit reads, the day roll-ups' index (the micros clock: test_micros_clock.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditdesk import rules
from creditdesk.engine import BillingEngine, ManualClock
from creditdesk.errors import InvalidRequest
from creditdesk.store import MemoryStore
from creditdesk.store.ledger import to_micros
from creditdesk.store.state import DayRollups

KEYS = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=260),
    st.text(alphabet=" ab~\t\n\x1f\xa0é", max_size=8),
    st.text(max_size=20),
    st.sampled_from(["", " ", "a", " a", "a ", "a b", "x" * 255, "x" * 256, "\x1c"]),
)


def _check_key_accepts(value: object) -> bool:
    try:
        rules.check_key(value)
    except InvalidRequest:
        return False
    return True


@given(KEYS)
def test_the_fast_key_test_accepts_exactly_what_check_key_accepts(key):
    assert rules.key_is_valid(key) is _check_key_accepts(key)


@pytest.mark.parametrize("value", [None, 7, b"key", ["key"]])
def test_the_fast_key_test_refuses_what_is_no_text(value):
    assert rules.key_is_valid(value) is False


def test_the_memory_store_counts_entry_ids_and_names_the_next():
    store = MemoryStore()
    assert store.next_entry_id == 1
    assert [store.take_entry_id() for _ in range(3)] == [1, 2, 3]
    assert store.next_entry_id == 4
    assert store.next_entry_id == 4         # reading it takes nothing


def test_an_unknown_account_opens_as_none_for_writes_and_reads():
    store = MemoryStore()
    with store.write("nobody") as account:
        assert account is None
    with store.read("nobody") as account:
        assert account is None


def test_a_subclass_keeps_the_store_methods_it_overrides():
    class Counting(MemoryStore):
        def __init__(self) -> None:
            self.writes = 0
            super().__init__()

        def write(self, account_id: str):
            self.writes += 1
            return super().write(account_id)

        def take_entry_id(self) -> int:
            return 100 + super().take_entry_id()

    store = Counting()
    with store.write("nobody"):
        pass
    assert store.writes == 1
    with store.read("nobody"):          # read is the base class's, not the override
        pass
    assert store.writes == 1
    assert store.take_entry_id() == 101


def test_the_debit_reads_the_clock_the_engine_has_now():
    start = datetime(2025, 1, 6, tzinfo=UTC)
    first, second = ManualClock(start), ManualClock(start + timedelta(days=3))
    engine = BillingEngine(clock=first)
    assert engine.clock is first and engine.read_micros() == to_micros(start)
    engine.clock = second
    assert engine.clock is second
    assert engine.read_micros() == to_micros(start + timedelta(days=3))
    engine.clock = lambda: start
    assert engine.read_micros() == to_micros(start)


def test_reading_a_day_without_usage_does_not_make_it():
    days = DayRollups()
    assert days.get(5) is None
    assert days.between(0, 10) == []
    days.add(5, 3, 0, 0, member=1, campaign=2, credits=3)
    days.add(5, 0, 2, 0, member=1, campaign=4, credits=2)
    assert list(days) == [5]
    day = days[5]
    assert (day.base, day.rollover, day.purchased) == (3, 2, 0)
    assert day.by_member == {1: 5} and day.by_campaign == {2: 3, 4: 2}
