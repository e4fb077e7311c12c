"""The Usage screen's first visit in short steps of the event loop (bench/tui_stall.py).

The chart is built by plotext in a thread and handed to the widget; a long table gets its
rows a chunk per paint; the footer is rebuilt only when its keys change. What the person
finally sees is the same: every row, the whole chart, the cursor on the newest bucket.
"""

from __future__ import annotations

import threading

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from creditdesk.tui.screens.usage import UsageScreen
from creditdesk.tui.widgets import usage_grid, usage_plot
from creditdesk.tui.widgets.quiet_footer import QuietFooter

from .pilot_helpers import SIZE, settle


def plot_lines(screen) -> list[str]:
    plot = screen.query_one("#chart-plot")
    return [plot.render_line(y).text.rstrip() for y in range(plot.size.height)]


def built_now(screen) -> list[str]:
    """The figure the plot holds, built here at its size: what it must show."""
    plot = screen.query_one("#chart-plot")
    return [line.rstrip() for line in plot.render().plain.splitlines()]


def assert_whole(screen: UsageScreen) -> None:
    """The table has every bucket and the total, the cursor on the newest bucket, and the
    chart shows the figure of this very table."""
    grid = screen.query_one("#table", DataTable)
    table = screen.usage_table
    assert grid.complete and not grid.loading
    assert grid.row_count == len(table.buckets) + 1
    assert str(grid.get_row_at(grid.row_count - 1)[0]) == "Total"
    assert grid.cursor_row == len(table.buckets) - 1
    assert plot_lines(screen) == built_now(screen)
    assert any(line.strip() for line in plot_lines(screen))


async def test_the_chart_is_built_in_a_thread_and_shown_whole(make_app, monkeypatch) -> None:
    threads = []
    build = usage_plot.build_figure

    def noting(*args):
        threads.append(threading.current_thread())
        return build(*args)

    monkeypatch.setattr(usage_plot, "build_figure", noting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert threads and threading.main_thread() not in threads
        # One figure per change: the new table and the plot's first size ask for one.
        assert len(threads) <= 2
        monkeypatch.setattr(usage_plot, "build_figure", build)
        assert_whole(app.screen)


async def test_switching_away_and_back_quickly_still_shows_it_all(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # No waiting between keys: builds under way are replaced or resumed.
        for key in ("u", "o", "u", "d", "d", "o", "u"):
            await pilot.press(key)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UsageScreen)
        assert screen.query_shown.granularity == "day"
        assert len(screen.usage_table.buckets) > usage_grid.CHUNK_ROWS  # 12 months
        assert_whole(screen)


async def test_a_long_table_is_added_a_chunk_at_a_time(make_app, monkeypatch) -> None:
    chunks = []
    add_rows = usage_grid.UsageGrid._add_rows

    def noting(self, table, rows):
        chunks.append(len(rows))
        return add_rows(self, table, rows)

    monkeypatch.setattr(usage_grid.UsageGrid, "_add_rows", noting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        chunks.clear()
        await pilot.press("d", "d")  # 90 days, then 12 months of days
        await settle(pilot)
        screen = app.screen
        assert max(chunks) <= usage_grid.CHUNK_ROWS
        assert sum(chunks) == 90 + len(screen.usage_table.buckets)
        assert_whole(screen)


async def test_a_month_of_days_is_one_chunk_after_the_first_paint(make_app,
                                                                 monkeypatch) -> None:
    painted = []
    add_rows = usage_grid.UsageGrid._add_rows

    def noting(self, table, rows):
        # The screen's first paint lays the table out: it has a size by the first chunk.
        painted.append((len(rows), self.size.height > 0))
        return add_rows(self, table, rows)

    monkeypatch.setattr(usage_grid.UsageGrid, "_add_rows", noting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert painted == [(30, True)]
        assert_whole(app.screen)
        assert app.screen.query_one("#table", DataTable).row_count == 31  # 30 days + total


# --- the footer -------------------------------------------------------------------------

class Switchable(Screen):
    """A screen whose one shown key can be enabled or disabled."""

    BINDINGS = [Binding("z", "zap", "Zap"), Binding("y", "other", "Other")]  # noqa: RUF012
    allowed = True

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield QuietFooter()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return None if action == "zap" and not self.allowed else True


class FooterApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(Switchable())


async def test_the_footer_is_rebuilt_only_when_its_keys_change(monkeypatch) -> None:
    rebuilt = []
    recompose = QuietFooter.recompose

    async def noting(self):
        rebuilt.append(self)
        return await recompose(self)

    monkeypatch.setattr(QuietFooter, "recompose", noting)
    app = FooterApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        first = len(rebuilt)
        assert first >= 1 and len(screen.query("FooterKey")) == 3  # z, y and the palette
        for _ in range(3):  # nothing changed: no rebuild
            screen.refresh_bindings()
            await pilot.pause()
        assert len(rebuilt) == first
        screen.allowed = False
        screen.refresh_bindings()
        await pilot.pause()
        assert len(rebuilt) == first + 1
        zap = next(key for key in screen.query("FooterKey") if key.key == "z")
        assert zap.has_class("-disabled")


async def test_a_first_visit_builds_the_footer_once(make_app, monkeypatch) -> None:
    rebuilt = []
    recompose = QuietFooter.recompose

    async def noting(self):
        rebuilt.append(self.screen)
        return await recompose(self)

    monkeypatch.setattr(QuietFooter, "recompose", noting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rebuilt.clear()
        await pilot.press("u")
        await settle(pilot)
        assert rebuilt == [app.screen]  # Textual's Footer: four to six times
        keys = {key.key for key in app.screen.query("FooterKey")}
        assert {"d", "g", "b", "e"} <= keys


async def test_the_usage_table_ends_on_its_newest_bucket_with_the_total_row_in_view(
        make_app) -> None:
    """Fed in chunks, the table scrolled to its end before measuring the last chunk, so
    it stopped one row short (the total row hidden) on some runs and not others."""
    for size in ((80, 24), (160, 50)):
        app = make_app("owner")
        async with app.run_test(size=size) as pilot:
            await pilot.press("u")
            await settle(pilot)
            grid = app.screen.query_one(usage_grid.UsageGrid)
            assert grid.complete
            assert grid.scroll_y == grid.max_scroll_y
            assert grid.cursor_row == grid.row_count - 2       # the newest bucket
