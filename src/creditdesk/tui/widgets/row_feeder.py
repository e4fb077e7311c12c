"""RowFeeder: rows into a DataTable a chunk per paint, so no one step of the loop adds them all.

DataTable adds a row in ~0.1 ms and measures every new cell when it is next idle: a page of
100 ledger rows took 20-40 ms of the event loop in one go on Activity's first visit. The
first chunk goes in at once (what the person sees first); the rest follow, a chunk after
each paint, in order; rows appended meanwhile (the next page) queue behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import DataTable
from textual.worker import Worker


async def next_refresh(widget: Widget) -> None:
    """Wait until `widget` has been refreshed (what was added before is measured and drawn)."""
    painted = asyncio.Event()
    widget.call_after_refresh(painted.set)
    await painted.wait()


class RowFeeder:
    """Feeds `table` its rows `chunk` at a time (the first `chunk` at once)."""

    def __init__(self, table: DataTable, chunk: int) -> None:
        self.table = table
        self.chunk = chunk
        self._pending: list[tuple] = []
        self._feeding: Worker | None = None

    @property
    def pending(self) -> int:
        """Rows not yet in the table."""
        return len(self._pending)

    def replace(self, rows: Iterable[tuple], *, at_once: int = 0) -> None:
        """Clear the table and feed it these rows; the first `at_once` (at least a chunk)
        go in now, e.g. down to the row the cursor must land on."""
        self.table.clear()
        self._pending = []
        rows = list(rows)
        now = max(self.chunk, at_once)
        self.table.add_rows(rows[:now])
        self._queue(rows[now:])

    def extend(self, rows: Iterable[tuple]) -> None:
        """Append these rows after every row fed so far."""
        self._queue(list(rows))

    def _queue(self, rows: list[tuple]) -> None:
        if not rows:
            return
        self._pending.extend(rows)
        # One feeding at a time: a running one reads the queue until it is empty (a
        # replace() empties it). The method, not a coroutine: a worker cancelled before it
        # starts leaves no coroutine never awaited.
        if self._feeding is None or self._feeding.is_finished:
            self._feeding = self.table.run_worker(self._feed, group="row-feeder")

    async def _feed(self) -> None:
        while self._pending:
            await next_refresh(self.table)  # the last chunk measured and drawn first
            chunk, self._pending = self._pending[:self.chunk], self._pending[self.chunk:]
            self.table.add_rows(chunk)
