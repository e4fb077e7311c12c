"""The debit reads its time in micros (engine/clock.py, `micros_reader`): a ManualClock
stepped in micros and one stepped in datetimes give the same books, to the last credit,
across period ends (one debit exactly on the boundary), recharges and limit refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditdesk.engine import BillingEngine, ManualClock, utc_now
from creditdesk.engine.clock import micros_reader, utc_now_micros
from creditdesk.errors import BillingError, InvalidRequest
from creditdesk.store.ledger import DAY_US, from_micros, to_micros

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
INSTANTS = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                        timezones=st.just(UTC))


@given(INSTANTS)
def test_a_clock_set_either_way_reads_the_same_both_ways(at):
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    by_datetime, by_micros = ManualClock(epoch), ManualClock(epoch)
    by_datetime.set(at)
    by_micros.set_micros(to_micros(at))
    assert by_datetime.micros() == by_micros.micros() == to_micros(at)
    assert by_micros() == by_datetime() == at and by_micros().tzinfo is UTC


def test_the_clock_never_goes_back_whichever_way_it_is_set():
    clock = ManualClock(START)
    later = to_micros(START) + 1
    assert clock.set_micros(later) == later
    with pytest.raises(InvalidRequest):
        clock.set(START)                        # one microsecond back
    with pytest.raises(InvalidRequest):
        clock.set_micros(later - 1)
    assert clock.set(from_micros(later)) == from_micros(later)    # standing still is fine
    assert clock.advance(timedelta(seconds=1)) == from_micros(later + 1_000_000)
    assert clock.micros() == later + 1_000_000


@pytest.mark.parametrize("value", [1.5, "1", None, True])
def test_set_micros_refuses_what_is_no_whole_number(value):
    with pytest.raises(InvalidRequest):
        ManualClock(START).set_micros(value)


def test_the_reader_is_the_clocks_own_micros_where_it_keeps_them():
    clock = ManualClock(START)
    assert micros_reader(clock) == clock.micros
    assert micros_reader(utc_now) is utc_now_micros

    class Elsewhere(ManualClock):               # keeps its time elsewhere (a server's)
        def __call__(self) -> datetime:
            return START + timedelta(days=1)

    assert micros_reader(Elsewhere(START))() == to_micros(START + timedelta(days=1))
    assert micros_reader(lambda: START)() == to_micros(START)


def test_the_real_clocks_micros_are_its_datetimes_micros():
    before = to_micros(utc_now())
    now = utc_now_micros()
    after = to_micros(utc_now())
    assert before <= now <= after


def _books(world):
    ann = world.session("ann")
    balance = ann.balance("acme")
    days = ann.usage_history("acme", start=START - timedelta(days=1),
                             end=START + timedelta(days=90), granularity="day",
                             group_by="campaign")
    return (balance, ann.ledger("acme", limit=1000), ann.invoices("acme"),
            ann.members("acme"), days)


def _run(world, step):
    """The same debits on `world`, its clock moved by `step(clock, datetime)`."""
    ann, cat = world.session("ann"), world.session("cat")
    ann.configure_auto_recharge("acme", enabled=True, threshold=200, amount=400)
    ann.set_member_limit("acme", "cat", 700)
    period_end = ann.balance("acme").period_end
    moments = [START + timedelta(hours=n * 37) for n in range(12)]
    moments += [period_end - timedelta(microseconds=1), period_end,
                period_end + timedelta(days=40, microseconds=7)]
    answers = []
    for n, at in enumerate(moments):
        step(world.clock, at)
        for who, session, credits in (("ann", ann, 150), ("cat", cat, 130)):
            try:
                answers.append(session.record_usage("acme", credits, campaign=f"c{n % 3}",
                                                    idempotency_key=f"{who}-{n}"))
            except BillingError as refusal:
                answers.append((type(refusal), str(refusal)))
    answers.append(ann.record_usage("acme", 150, campaign="c0", idempotency_key="ann-0"))
    return answers, _books(world)


def test_micros_and_datetimes_give_the_same_books(make_world):
    by_datetime = _run(make_world(), lambda clock, at: clock.set(at))
    by_micros = _run(make_world(), lambda clock, at: clock.set_micros(to_micros(at)))
    assert by_micros == by_datetime
    answers, (balance, *_) = by_micros
    assert balance.period_start > START                 # periods closed on the way
    assert any(isinstance(answer, tuple) for answer in answers)    # a limit refused


@given(st.lists(st.integers(min_value=-10 * DAY_US, max_value=10**17), max_size=30))
def test_the_debits_day_is_the_division_whatever_came_before(moments):
    """spending.debit keeps the last day's span (`engine.today`) and divides only when a
    debit leaves it: any order of times gives each its own day."""
    engine = BillingEngine(clock=ManualClock(START))
    for at_us in moments:
        first, end, index = engine.today
        if not first <= at_us < end:
            index = engine.enter_day(at_us)
        assert index == at_us // DAY_US
