"""Live ticks on the Usage screen send little to the terminal (bench/tui_bytes.py measures it).

Textual sends a repainted line from the left edge of the widget covering the change, and a
new y scale moves every point of the chart. So the axis keeps its scale while today's
figure grows, the chart is shown through narrow slices, and the caption's total is a widget
of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.app import App, ComposeResult

from creditdesk.tui.screens.base import DataChanged
from creditdesk.tui.widgets.usage_chart import UsageChart, UsageTable

from .pilot_helpers import SIZE, settle
from .test_repaints import spy_refreshes

START = datetime(2026, 10, 17, tzinfo=UTC)
DAYS = 30  # at 80 columns, a line per source (too many buckets for bars)


def days_table(newest: int) -> UsageTable:
    """Thirty days of base credits; the older days stay put, the newest one grows."""
    rows = [(1_000 + 150 * (day % 7), 0, 0) for day in range(DAYS - 1)] + [(newest, 0, 0)]
    return UsageTable(granularity="day", group_by="source",
                      buckets=tuple(START + timedelta(days=d) for d in range(DAYS)),
                      keys=("base", "rollover", "purchased"),
                      labels=("base", "rollover", "purchased"),
                      rows=tuple(rows), folded=0)


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield UsageChart(id="chart")


def y_labels(chart: UsageChart) -> list[str]:
    plot = chart.query_one("#chart-plot")
    lines = [plot.render_line(y).text for y in range(plot.size.height)]
    # A y label is the number before the axis' tick mark, top first.
    return [line.split("┤")[0].strip() for line in lines if "┤" in line]


async def show(pilot, chart: UsageChart, table: UsageTable) -> list[str]:
    chart.show(table)
    await settle(pilot)
    return y_labels(chart)


async def test_a_growing_figure_keeps_the_y_axis_until_it_passes_the_top() -> None:
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(UsageChart)
        assert (await show(pilot, chart, days_table(10_000)))[0] == "10,000"
        passed = await show(pilot, chart, days_table(10_500))
        # Past the top, room to grow: a peak of 10,500 gets a top of at least 15,750.
        assert int(passed[0].replace(",", "")) >= 10_500 * 3 // 2
        # Growing under the new top draws the very same axis (no repaint of every point).
        assert await show(pilot, chart, days_table(12_600)) == passed
        # Figures that shrank far below the top get a tight axis again.
        assert (await show(pilot, chart, days_table(2_000)))[0] == "2,000"


async def test_a_moved_point_repaints_only_the_slices_it_falls_in() -> None:
    from creditdesk.tui.widgets.usage_plot import PlotSlice

    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(UsageChart)
        await show(pilot, chart, days_table(10_000))
        await show(pilot, chart, days_table(10_500))  # the axis steps up once
        plot = chart.query_one("#chart-plot")
        slices = list(plot.query_children(PlotSlice))
        spied = [spy_refreshes(piece) for piece in slices]
        await show(pilot, chart, days_table(11_800))
        touched = [index for index, calls in enumerate(spied) if calls]
        # Only the newest day moved: the slices at the right edge, never the y labels'.
        assert touched and min(touched) >= len(slices) // 2, touched
        assert all(regions for calls in spied for regions, _ in calls)
        # Side by side, the slices show exactly the figure plotext built.
        for y in range(plot.size.height):
            assert "".join(piece.render_line(y).text for piece in slices) == \
                plot.render_line(y).text


async def test_a_tick_repaints_the_captions_total_not_its_range(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        screen = app.screen
        words = screen.query_one("#caption-range"), screen.query_one("#caption-used")
        before = [str(part.content) for part in words]
        ranges, totals = spy_refreshes(words[0]), spy_refreshes(words[1])
        demo_world.engine.session(demo_world.owner).record_usage(
            demo_world.org_id, 1_235, campaign="live", idempotency_key="caption-tick")
        screen.post_message(DataChanged())
        await settle(pilot)
        assert not ranges, "the range was repainted for a new total"
        assert totals and not any(options.get("layout") for _, options in totals)
        total = screen.usage_table.total
        assert str(words[1].content) != before[1] and f"{total:,} credits" in \
            str(words[1].content)
        # Read together, the two parts still say the one sentence.
        assert "".join(str(part.content) for part in words).endswith(" used")
        assert str(words[0].content).endswith("(UTC):")
