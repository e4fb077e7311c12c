"""`ledger --all` over 100,000 entries holds one page at a time, not the ledger."""

from __future__ import annotations

import asyncio
import io
import tracemalloc
from datetime import UTC, datetime

import pytest

from creditdesk.backends import MemoryBackend
from creditdesk.cli.figures import stream_ledger
from creditdesk.engine import BillingEngine
from creditdesk.models import Plan

DEBITS = 100_000
NOW = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def big_ledger():
    """An org whose ledger has a grant and 100,000 debits, built in the engine directly."""
    engine = BillingEngine(clock=lambda: NOW)
    engine.add_plan(Plan(id="big", name="Big", base_credits_per_month=10_000_000,
                         rollover_cap=0, billing_period="monthly", price_cents=0))
    engine.add_user("ann", name="Ann Lee", email="ann@example.com", plan="big")
    engine.create_org("acme", name="Acme", owner="ann", plan="big")
    session = engine.session("ann")
    for number in range(DEBITS):
        session.record_usage("acme", 7, campaign=f"c{number % 13}",
                             idempotency_key=f"debit-{number}")
    return engine


class Sink(io.TextIOBase):
    """Counts what is written and keeps none of it, like a pipe to `wc`."""

    def __init__(self) -> None:
        self.chars = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        self.lines += text.count("\n")
        return len(text)


def peak_bytes(call) -> tuple[int, object]:
    tracemalloc.start()
    try:
        result = call()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


async def first_pages(backend, pages: int) -> list:
    held, before = [], None
    for _ in range(pages):
        page = await backend.ledger("acme", limit=1000, before=before)
        held.extend(page)
        before = page[-1].id
    return held


def test_all_streams_in_constant_memory(big_ledger):
    backend = MemoryBackend(big_ledger, "ann")
    sink = Sink()
    streamed, count = peak_bytes(lambda: asyncio.run(stream_ledger(
        backend, "acme", sink, "csv", limit=None, before=None, every=True)))
    assert count == DEBITS + 1                       # every debit and the grant
    assert sink.lines == count + 1                   # a header and a row per entry
    # Holding a tenth of the ledger (10 pages) costs megabytes; streaming all of it must cost
    # less than that: about one page, whatever the ledger's length.
    tenth, held = peak_bytes(lambda: asyncio.run(first_pages(backend, 10)))
    assert len(held) == 10_000
    assert streamed < tenth, (streamed, tenth)
