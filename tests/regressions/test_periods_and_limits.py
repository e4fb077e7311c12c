"""Periods (a debit exactly at a boundary, months skipped in one jump, a close raced by
many threads) and a member's limit under concurrent debits (check-then-act)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from creditdesk.errors import MemberLimitReached


def grants(world) -> list:
    return [e for e in world.engine.ledger_entries("acme") if e.kind == "grant"]


def test_a_debit_at_exactly_the_boundary_belongs_to_the_new_period(world):
    """OpenMeter #1408 (an event at 00:00:00 of a window counted in the old one): the
    period closes first, then the debit is taken from the new grant."""
    ann = world.session("ann")
    ann.record_usage("acme", 100, campaign="c", idempotency_key="old")
    boundary = ann.balance("acme").period_end
    world.clock.set(boundary)
    receipt = world.session("bob").record_usage("acme", 40, campaign="c",
                                                idempotency_key="edge")
    balance = ann.balance("acme")
    assert balance.period_start == boundary and balance.used_this_period == 40
    assert receipt.from_base == 40 and balance.base == 1_000 - 40
    assert balance.rollover == 500                  # 900 unused, cut to the cap
    entries = world.engine.ledger_entries("acme")
    edge = [e for e in entries if e.at == boundary]
    assert [e.kind for e in edge][-1] == "usage" and "grant" in [e.kind for e in edge]


def test_several_months_skipped_in_one_jump_close_each_month_once(world):
    """OpenMeter #4252 (a gap of several windows closed as one), Autumn #2022 (a
    subscription resumed months later was granted once, or for every call)."""
    ann = world.session("ann")
    first_end = ann.balance("acme").period_end
    before = len(grants(world))
    world.clock.advance(timedelta(days=100))        # three boundaries pass unseen
    balance = ann.balance("acme")
    ann.balance("acme")                              # reading again closes nothing more
    closes = grants(world)[before:]
    assert len(closes) == 3
    assert closes[0].at == first_end and sorted(e.at for e in closes) == [e.at for e in closes]
    assert balance.base == 1_000 and balance.rollover == 500    # the cap held each time
    assert balance.period_start == closes[-1].at


def test_a_close_raced_by_many_threads_happens_once(world):
    """OpenMeter #4846 (two workers both closed a window, granting twice): 12 threads read
    and debit right after the boundary on the same database."""
    end = world.session("ann").balance("acme").period_end
    before = len(grants(world))
    world.clock.set(end + timedelta(minutes=5))
    barrier = threading.Barrier(12)

    def touch(n: int):
        barrier.wait()
        session = world.session(("ann", "bob", "cat")[n % 3])
        if n % 2:
            return session.record_usage("acme", 10, campaign="c", idempotency_key=f"t{n}")
        return session.my_usage("acme")

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(touch, range(12)))
    assert len(grants(world)) == before + 1
    assert world.session("ann").balance("acme").base == 1_000 - 60


def test_concurrent_debits_never_take_a_member_over_their_limit(world):
    """The check-then-act race of the issue's last bullet (each debit read the limit's room
    before the others wrote): 16 threads of one member race against a limit of 500."""
    world.session("ann").set_member_limit("acme", "cat", 500)
    barrier = threading.Barrier(16)
    cat = world.session("cat")

    def spend(n: int) -> int:
        barrier.wait()
        taken = 0
        for i in range(4):
            try:
                taken += cat.record_usage("acme", 45, campaign="c",
                                          idempotency_key=f"l{n}-{i}").credits
            except MemberLimitReached:
                pass
        return taken

    with ThreadPoolExecutor(16) as pool:
        spent = sum(pool.map(spend, range(16)))
    used = cat.my_usage("acme").used_this_period
    assert used == spent == 495                      # eleven debits of 45 fit, no twelfth
