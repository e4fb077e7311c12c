"""Live ticks repaint only what changed: the overview's figures, the usage chart and table.

Over SSH every repainted cell costs bytes (bench/tui_bytes.py measures them); these tests
check which regions the widgets mark dirty, and that what they then draw is right.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

from creditdesk.money import format_credits_dollars
from creditdesk.tui.screens.base import DataChanged
from creditdesk.tui.widgets.changed_cells import changed_regions, changed_span
from creditdesk.tui.widgets.figure_rows import VALUES_AT, FigureRows
from creditdesk.tui.widgets.usage_chart import UsageTable
from creditdesk.tui.widgets.usage_grid import changed_cells, same_layout

from .pilot_helpers import SIZE, settle

BOLD = Style(bold=True)


def strip(*parts: tuple[str, Style | None]) -> Strip:
    from rich.segment import Segment

    return Strip([Segment(text, style) for text, style in parts])


# --- which cells differ ---------------------------------------------------------------------

@pytest.mark.parametrize(("before", "after", "span"), [
    (strip(("Balance 88,210", None)), strip(("Balance 88,210", None)), None),
    (strip(("Balance 88,210", None)), strip(("Balance 88,195", None)), (11, 14)),
    (strip(("Used 9 credits", None)), strip(("Used 10 credits", None)), (5, 15)),
    # A shorter line: the cells it no longer covers are blanked, so they count too.
    (strip(("Used 10 credits", None)), strip(("Used 9 credits", None)), (5, 15)),
    # Same characters in another style.
    (strip(("Total ", None), ("42", None)), strip(("Total ", None), ("42", BOLD)), (6, 8)),
    # Segments split differently but drawing the same cells: nothing to repaint.
    (strip(("ab", None), ("cd", None)), strip(("abcd", None)), None),
    # A wide character: the line is compared whole.
    (strip(("日本 1", None)), strip(("日本 2", None)), (0, 6)),
])
def test_changed_span(before: Strip, after: Strip, span: tuple[int, int] | None) -> None:
    assert changed_span(before, after) == span


def test_changed_regions_are_one_line_each() -> None:
    before = [strip(("a 1", None)), strip(("b 2", None)), strip(("c 3", None))]
    after = [strip(("a 1", None)), strip(("b 5", None)), strip(("c 6", None))]
    assert changed_regions(before, after) == [Region(2, 1, 1, 1), Region(2, 2, 1, 1)]


# --- FigureRows -------------------------------------------------------------------------------

class FiguresApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FigureRows(id="figures")


def spy_refreshes(widget) -> list[tuple[tuple[Region, ...], dict]]:
    """Every refresh the widget asks for from now on: (regions, options)."""
    calls: list[tuple[tuple[Region, ...], dict]] = []
    original = widget.refresh

    def refresh(*regions, **options):
        calls.append((regions, options))
        return original(*regions, **options)

    widget.refresh = refresh
    return calls


def lines_of(widget) -> list[str]:
    return [widget.render_line(y).text.rstrip() for y in range(widget.size.height)]


ROWS = [(" ", "Balance", Text("88,210 credits ($441.05)", style="bold")),
        ("█", "Base", "24,690 credits ($123.45)"),
        ("▓", "Rollover", "28,215 credits ($141.08)")]


def spy_columns(figures) -> tuple[list, list]:
    """The refreshes of the labels' and the values' columns of a FigureRows."""
    labels = figures.query_one(".figure-labels")
    values = figures.query_one(".figure-values")
    assert labels.region.right == values.region.x == figures.region.x + VALUES_AT
    return spy_refreshes(labels), spy_refreshes(values)


async def test_a_changed_figure_repaints_only_its_cells() -> None:
    app = FiguresApp()
    async with app.run_test(size=(80, 10)) as pilot:
        figures = app.query_one(FigureRows)
        figures.set_rows(ROWS)
        await pilot.pause()
        labels, values = spy_columns(figures)
        figures.set_rows([ROWS[0], ("█", "Base", "24,675 credits ($123.38)"), ROWS[2]])
        await pilot.pause()
        assert labels == [], "the labels were repainted"
        assert values, "the new figure was never repainted"
        assert all(found for found, _ in values), "the whole column was repainted"
        # Only line 1 changed: from its first changed digit ("24,6" stays) to its last.
        regions = [region for found, _ in values for region in found]
        assert regions == [Region(4, 1, 19, 1)]
        assert figures.lines == ["  Balance          88,210 credits ($441.05)",
                                     "█ Base             24,675 credits ($123.38)",
                                     "▓ Rollover         28,215 credits ($141.08)"]


async def test_the_same_figures_repaint_nothing_and_a_new_row_lays_out_again() -> None:
    app = FiguresApp()
    async with app.run_test(size=(80, 10)) as pilot:
        figures = app.query_one(FigureRows)
        figures.set_rows(ROWS)
        await pilot.pause()
        labels, values = spy_columns(figures)
        figures.set_rows(list(ROWS))
        assert labels == values == []
        figures.set_rows([*ROWS, ("▒", "Purchased", "35,305 credits ($176.52)")])
        await pilot.pause()
        assert any(options.get("layout") for _, options in values)
        assert figures.size.height == 4
        assert figures.lines[3] == "▒ Purchased        35,305 credits ($176.52)"


async def test_a_live_tick_on_the_overview_repaints_only_changed_cells(make_app,
                                                                       demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        total, buckets = app.screen.query_one("#total"), app.screen.query_one("#buckets")
        spied = {"total": spy_columns(total), "buckets": spy_columns(buckets)}
        session = demo_world.engine.session(demo_world.owner)
        session.record_usage(demo_world.org_id, 1_235, campaign="live",
                             idempotency_key="repaint-test")
        app.screen.post_message(DataChanged())
        await settle(pilot)
        after = session.balance(demo_world.org_id).total
        assert format_credits_dollars(after) in total.lines[0]
        for name, (labels, values) in spied.items():
            assert labels == [], f"the labels of #{name} were repainted"
            assert values, f"#{name} was not repainted"
            assert all(regions for regions, _ in values), f"all of #{name} was repainted"


# --- the Usage screen -----------------------------------------------------------------------

def usage_table(rows: tuple[tuple[int, ...], ...]) -> UsageTable:
    buckets = tuple(datetime(2026, 11, day, tzinfo=UTC) for day in range(1, len(rows) + 1))
    return UsageTable(granularity="day", group_by="source", buckets=buckets,
                      keys=("base", "rollover", "purchased"),
                      labels=("base", "rollover", "purchased"), rows=rows, folded=0)


def test_changed_cells_names_only_the_figures_that_moved() -> None:
    before = usage_table(((10, 0, 0), (20, 5, 0)))
    after = usage_table(((10, 0, 0), (35, 5, 0)))
    assert same_layout(before, after)
    changes = changed_cells(before, after)
    assert {key: cell.plain for key, cell in changes.items()} == {
        ("2026-11-02", "column:0"): "35", ("2026-11-02", "total"): "40",
        ("total", "column:0"): "45", ("total", "total"): "50"}
    assert changes["2026-11-02", "total"].style == "bold"


def test_a_figure_outgrowing_its_column_changes_the_layout() -> None:
    assert not same_layout(usage_table(((10, 0, 0),)), usage_table(((10_000, 0, 0),)))


async def open_usage_and_tick(pilot, demo_world, before_tick=None):
    await settle(pilot)
    await pilot.press("u")
    await settle(pilot)
    screen = pilot.app.screen
    if before_tick is not None:
        await before_tick(screen)
    session = demo_world.engine.session(demo_world.owner)
    session.record_usage(demo_world.org_id, 1_235, campaign="live",
                         idempotency_key="usage-repaint-test")
    screen.post_message(DataChanged())
    await settle(pilot)
    return screen


async def test_a_live_tick_keeps_the_table_cursor_and_repaints_only_cells(
        make_app, demo_world, monkeypatch) -> None:
    app = make_app("owner")
    dirty: list[tuple[Region, ...]] = []
    refresh = DataTable.refresh

    def recording(self, *regions, **options):
        if self.id == "table":
            dirty.append(regions)
        return refresh(self, *regions, **options)

    async def move_up(screen) -> None:
        screen.query_one("#table").focus()
        for _ in range(3):
            await pilot.press("up")
        await settle(pilot)
        monkeypatch.setattr(DataTable, "refresh", recording)

    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage_and_tick(pilot, demo_world, move_up)
        grid = screen.query_one("#table", DataTable)
        newest = grid.row_count - 2  # the total row follows the newest bucket
        # The person's place in the table survives the tick (it used to jump back).
        assert grid.cursor_row == newest - 3
        total = sum(screen.usage_table.bucket_totals)
        assert str(grid.get_row_at(grid.row_count - 1)[-1]) == f"{total:,}"
        assert dirty and all(dirty), "the whole table was repainted for a tick"


async def test_a_live_tick_redraws_only_the_lines_of_the_chart_that_moved(
        make_app, demo_world) -> None:
    app = make_app("owner")
    spied: dict[str, list] = {}

    async def spy(screen) -> None:
        spied["plot"] = spy_refreshes(screen.query_one("#chart-plot"))

    async with app.run_test(size=SIZE) as pilot:
        screen = await open_usage_and_tick(pilot, demo_world, spy)
        plot = screen.query_one("#chart-plot")
        made = spied["plot"]
        assert made, "the chart did not move"
        assert all(regions for regions, _ in made), "the whole chart was repainted"
        # What it shows is the new figure, as plotext builds it.
        assert lines_of(plot) == [line.rstrip() for line in plot.render().plain.splitlines()]


# --- the balance bar ------------------------------------------------------------------------

def test_the_bar_repaints_from_the_first_to_the_last_cell_that_moved() -> None:
    from creditdesk.tui.widgets.balance_bar import changed_cells as bar_changes

    # 10/5/5 cells become 9/6/5: only the cell between base and rollover changes.
    assert bar_changes((50, 25, 25), (45, 30, 25), 20) == (9, 10)
    # 10/5/5 become 9/5/6: both boundaries move.
    assert bar_changes((50, 25, 25), (45, 25, 30), 20) == (9, 15)
    assert bar_changes((50, 25, 25), (50, 25, 25), 20) is None


async def test_a_moved_bar_cell_repaints_only_that_span() -> None:
    from creditdesk.tui.widgets.balance_bar import BalanceBar

    class BarApp(App[None]):
        def compose(self) -> ComposeResult:
            yield BalanceBar()

    app = BarApp()
    async with app.run_test(size=(20, 3)) as pilot:
        bar = app.query_one(BalanceBar)
        bar.parts = (50, 25, 25)
        await pilot.pause()
        calls = spy_refreshes(bar)
        bar.parts = (45, 30, 25)
        await pilot.pause()
        assert [regions for regions, _ in calls] == [(Region(9, 0, 1, 1),)]
        assert bar.render().plain == "█" * 9 + "▓" * 6 + "▒" * 5


async def test_a_new_alert_count_repaints_only_the_headers_first_line(make_app) -> None:
    from creditdesk.tui.widgets.context_header import ContextHeader

    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = app.screen.query_one(ContextHeader)
        calls = spy_refreshes(header)
        app.alert_badge = "99 new alerts (n)"
        await pilot.pause()
        assert [regions for regions, _ in calls] == [(Region(0, 0, SIZE[0], 1),)]
        assert "99 new alerts (n)" in header.render().plain


async def test_the_grid_repaints_one_span_per_row_where_its_cells_are(make_app,
                                                                      demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        grid = app.screen.query_one("#table", DataTable)
        newest = grid.row_count - 2
        # Columns 1 to 4 (base to total) of the newest row: right of the period column,
        # on the screen line the row is drawn on (the header is the first).
        region = grid.cells_region(newest, 1, 4)
        widths = [column.get_render_width(grid) for column in grid.ordered_columns]
        assert (region.x, region.width) == (widths[0], sum(widths[1:5]))
        first_shown = round(grid.scroll_offset.y)
        assert region.y == 1 + newest - first_shown
        assert 0 < region.y < grid.size.height
