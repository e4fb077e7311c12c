"""Activity's first page goes into its table a chunk per paint (bench/tui_stall.py), in
order, and a page fetched meanwhile queues behind it: the rows end up as before."""

from __future__ import annotations

from textual.widgets import DataTable

from creditdesk.tui.screens.activity import CHUNK_ROWS, PAGE, ActivityScreen
from creditdesk.tui.widgets.row_feeder import RowFeeder

from .pilot_helpers import SIZE, settle


def ids_shown(app) -> list[str]:
    grid = app.screen.query_one("#table", DataTable)
    return [str(grid.get_row_at(row)[0]) for row in range(grid.row_count)]


async def test_a_page_is_added_a_chunk_at_a_time_in_order(make_app, monkeypatch) -> None:
    chunks = []
    add_rows = DataTable.add_rows

    def noting(self, rows):
        rows = list(rows)
        if self.id == "table" and isinstance(self.screen, ActivityScreen):
            chunks.append(len(rows))
        return add_rows(self, rows)

    monkeypatch.setattr(DataTable, "add_rows", noting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert chunks and max(chunks) <= CHUNK_ROWS and sum(chunks) == PAGE
        assert screen.feeder.pending == 0
        expected = [f"{e.at:%Y-%m-%d %H:%M}" for e in screen.entries]
        assert [text.strip() for text in ids_shown(app)] == expected


async def test_rows_appended_while_feeding_queue_behind(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        grid = app.screen.query_one("#table", DataTable)
        feeder = RowFeeder(grid, 3)
        rows = [(f"{n}",) + ("",) * (len(grid.columns) - 1) for n in range(10)]
        feeder.replace(rows[:7])
        feeder.extend(rows[7:])  # before the first feeding ran
        assert grid.row_count == 3 and feeder.pending == 7
        await settle(pilot)
        assert [str(grid.get_row_at(n)[0]) for n in range(grid.row_count)] == \
            [str(n) for n in range(10)]
        feeder.replace(rows[:5], at_once=4)  # a replace drops what was still queued
        assert grid.row_count == 4
        await settle(pilot)
        assert grid.row_count == 5
