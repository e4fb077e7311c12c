"""UsageChart: credits used per bucket, stacked by key, drawn by plotext (loaded when shown).

`tabulate_usage` turns the backend's sparse `UsageSeries` into a dense table (every bucket of
the range, the keys worth a colour each, the rest folded into "other"); the chart and the
table under it on the Usage screen both read that one table, so they always agree.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.widget import Widget
from textual.widgets import Static

from ...models import OTHER_KEY, UsageSeries

# Members and campaigns can number in the thousands: a chart of more than a handful of
# series is unreadable, so the biggest keep their own colour and the rest share "other".
TOP_KEYS = 5
OTHER = "other"
SOURCE_KEYS = ("base", "rollover", "purchased")
# Bars need this many columns each to read as separate bars; past BAR_LIMIT buckets plotext's
# rectangles also get slow. Beyond either, the chart draws one line per key.
MIN_BAR_CELLS = 3
BAR_LIMIT = 40
# Columns the y labels and the frame take from the widget's width.
AXIS_CELLS = 12
# A live figure that passes the top of the y axis gets this much room above it: a new scale
# moves every point of the chart (over SSH, the whole plot is sent again), so it should be
# rare, not every few seconds while today's bucket grows.
HEADROOM = 3, 2  # the new top covers 3/2 of the peak
# Glyphs as well as colours, so the series stay apart without colour (NO_COLOR, 256 colours);
# the source glyphs are the Overview balance bar's.
BAR_GLYPHS = ("█", "▓", "▒", "░", "▞", "▚")
LINE_GLYPHS = ("•", "x", "+", "*", "o", "#")
THEME_COLOURS = ("primary", "secondary", "success", "warning", "error", "accent")


def bucket_start(moment: datetime, granularity: str) -> datetime:
    """UTC midnight of the day, Monday-started week or month holding `moment`.

    The same buckets as the backend's (billing-rules.md, "Usage tracking"); repeated here
    because the dashboard does not import the rules module."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: datetime, granularity: str) -> datetime:
    if granularity == "day":
        return start + timedelta(days=1)
    if granularity == "week":
        return start + timedelta(days=7)
    year, month = divmod(start.month, 12)
    return start.replace(year=start.year + year, month=month + 1)


def bucket_starts(start: datetime, end: datetime, granularity: str) -> list[datetime]:
    """Every bucket that overlaps [start, end), oldest first."""
    buckets = []
    current = bucket_start(start, granularity)
    while current < end:
        buckets.append(current)
        current = next_bucket(current, granularity)
    return buckets


def bucket_label(start: datetime, granularity: str) -> str:
    """Unambiguous in the table: ISO dates (a year of days spans two years)."""
    return f"{start:%Y-%m}" if granularity == "month" else f"{start:%Y-%m-%d}"


def tick_label(start: datetime, granularity: str) -> str:
    """Short, for the chart's x axis."""
    if granularity == "month":
        return f"{calendar.month_abbr[start.month]} {start:%y}"
    return f"{start.day} {calendar.month_abbr[start.month]}"


@dataclass(frozen=True)
class UsageTable:
    """Dense usage: `rows[i][j]` is the credits of key `keys[j]` in bucket `buckets[i]`."""

    granularity: str
    group_by: str
    buckets: tuple[datetime, ...]
    keys: tuple[str, ...]
    labels: tuple[str, ...]          # what to call each key on screen (member names)
    rows: tuple[tuple[int, ...], ...]
    folded: int                      # how many keys the last column, "other", stands for

    @property
    def bucket_totals(self) -> list[int]:
        return [sum(row) for row in self.rows]

    @property
    def key_totals(self) -> list[int]:
        return [sum(column) for column in zip(*self.rows)] if self.rows else [0] * len(self.keys)

    @property
    def total(self) -> int:
        return sum(self.bucket_totals)

    def column(self, index: int) -> list[int]:
        return [row[index] for row in self.rows]


def tabulate_usage(series: UsageSeries, *, names: dict[str, str] | None = None,
                   top: int = TOP_KEYS) -> UsageTable:
    """Every bucket of the series' range, in order, with the `top` biggest keys and "other".

    Sources always show all three buckets in their fixed order; members and campaigns are
    ranked by credits in the range (ties by key, so the order never flickers)."""
    granularity = series.granularity
    points = series.points
    # A year of days by 10,000 members is most of a million points: two lean passes, the
    # second touching only the keys that get a column, and flat dicts (few allocations).
    totals: dict[str, int] = defaultdict(int)
    bucket_totals: dict[datetime, int] = defaultdict(int)
    for point in points:
        credits = point.credits
        totals[point.key] += credits
        bucket_totals[point.start] += credits
    # Never drop a figure, whatever bucket the backend put it in.
    ordered = sorted(set(bucket_starts(series.start, series.end, granularity))
                     | set(bucket_totals))
    if series.group_by == "source":
        keys = list(SOURCE_KEYS) + sorted(set(totals) - set(SOURCE_KEYS))
        folded = 0
    else:
        # Keys the backend already summed under OTHER_KEY (asked with `top`) stay in the
        # "other" column, which is every bucket's total less the named keys.
        already = series.folded
        ranked = sorted((key for key in totals if key != OTHER_KEY or not already),
                        key=lambda key: (-totals[key], key))
        # Folding a single key into "other" would only hide its name.
        keys = ranked if len(ranked) <= top + 1 and not already else ranked[:top]
        folded = len(ranked) - len(keys) + already
    row_of = {bucket: index for index, bucket in enumerate(ordered)}
    column_of = {key: index for index, key in enumerate(keys)}
    grid = [[0] * (len(keys) + (1 if folded else 0)) for _ in ordered]
    for point in points:
        column = column_of.get(point.key)
        if column is not None:
            grid[row_of[point.start]][column] += point.credits
    if folded:
        for bucket, row in zip(ordered, grid):
            row[-1] = bucket_totals.get(bucket, 0) - sum(row)
        keys = [*keys, OTHER]
    names = names or {}
    labels = tuple(names.get(key, key) for key in keys[:len(keys) - bool(folded)])
    if folded:
        labels += (f"other ({folded:,})",)
    return UsageTable(granularity=granularity, group_by=series.group_by,
                      buckets=tuple(ordered), keys=tuple(keys), labels=labels,
                      rows=tuple(tuple(row) for row in grid), folded=folded)


def nice_step(peak: int, ticks: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) so about `ticks` steps cover `peak`;
    round ticks read exactly with thousands separators, never as 1.2e4."""
    rough = max(1, peak / max(1, ticks))
    power = 1
    while power * 10 <= rough:
        power *= 10
    for factor in (1, 2, 5, 10):
        if factor * power >= rough:
            return factor * power
    return 10 * power


class UsageChart(Widget):
    """A legend line over a plotext chart of a UsageTable: stacked bars up to BAR_LIMIT
    buckets, one line per key beyond. `show(table)` redraws; with no table, or no usage in
    it, a sentence says so instead."""

    DEFAULT_CSS = """
    UsageChart { height: 1fr; min-height: 6; }
    UsageChart > #chart-legend { height: auto; }
    UsageChart > #chart-note { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.table: UsageTable | None = None
        # The y ticks drawn, and for which buckets, keys, kind of chart and height.
        self._scale: tuple[tuple, list[int]] | None = None
        # A figure is asked for after the next refresh; one is enough however many
        # changes (a new table, a resize) came before it.
        self._figure_due = False

    def compose(self) -> ComposeResult:
        # Imported here, not at the top: plotext loads only once the Usage screen is shown.
        from .usage_plot import UsagePlot

        yield Static("", id="chart-legend")
        yield UsagePlot(id="chart-plot")
        yield Static("Loading usage…", id="chart-note")

    def on_mount(self) -> None:
        self.query_one("#chart-plot").display = False
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())

    def on_usage_plot_resized(self) -> None:
        # The ticks are spaced for the plot's size, so a new size needs new ticks.
        self._draw()

    @property
    def is_bars(self) -> bool:
        """Bars while each gets MIN_BAR_CELLS columns (and plotext's cost per rectangle
        stays small); one line per key beyond."""
        if self.table is None:
            return False
        count = len(self.table.buckets)
        return count <= BAR_LIMIT and count * MIN_BAR_CELLS <= self.plot_width

    def show(self, table: UsageTable | None) -> None:
        self.table = table
        self._draw()

    def colours(self, count: int) -> list[tuple[int, int, int]]:
        """Theme colours as RGB for plotext; "other" always gets the muted foreground."""
        variables = self.app.theme_variables
        picked = [Color.parse(variables.get(name, "#888888")).rgb
                  for name in THEME_COLOURS[:count]]
        if self.table is not None and self.table.folded:
            picked[-1] = Color.parse(variables.get("foreground-muted", "#888888")).rgb
        return picked

    def _draw(self) -> None:
        plot_widget = self.query_one("#chart-plot")
        legend = self.query_one("#chart-legend", Static)
        message = self.query_one("#chart-note", Static)
        table = self.table
        empty = table is None or table.total == 0
        plot_widget.display = not empty
        message.display = empty
        if empty:
            legend.update("")
            message.update("Loading usage…" if table is None else "No usage in this range.")
            return
        glyphs = BAR_GLYPHS if self.is_bars else LINE_GLYPHS
        words = self.legend(table, glyphs, self.colours(len(table.keys)))
        if words != legend.content:  # a live tick keeps the keys: no repaint of the legend
            legend.update(words)
        # The ticks depend on the plot's size, known only once the legend and the plot
        # have been laid out.
        if not self._figure_due:
            self._figure_due = True
            self.call_after_refresh(self._load_figure)

    def _load_figure(self) -> None:
        self._figure_due = False
        plot_widget = self.query_one("#chart-plot")
        table = self.table
        if table is None or table.total == 0 or not plot_widget.display:
            return
        from .usage_plot import FigureCalls

        glyphs = BAR_GLYPHS if self.is_bars else LINE_GLYPHS
        figure = FigureCalls()
        self.plot(figure, table, glyphs, self.colours(len(table.keys)))
        # Built in a thread; then only the cells that moved since the last figure repaint.
        plot_widget.show(tuple(figure.calls))

    @staticmethod
    def legend(table: UsageTable, glyphs: tuple[str, ...],
               colours: list[tuple[int, int, int]]) -> Text:
        text = Text()
        for index, label in enumerate(table.labels):
            if index:
                text.append("  ")
            text.append(glyphs[index] * 2, style="#{:02x}{:02x}{:02x}".format(*colours[index]))
            text.append(f" {label}")
        return text

    def plot(self, plt, table: UsageTable, glyphs: tuple[str, ...],
             colours: list[tuple[int, int, int]]) -> None:
        """Describe the figure through `plt` (plotext's calls); the plot builds it at its
        own size."""
        plt.clear_figure()
        positions = list(range(1, len(table.buckets) + 1))
        columns = [table.column(index) for index in range(len(table.keys))]
        if self.is_bars:
            peak = max(table.bucket_totals)
            self.stack_bars(plt, positions, columns, glyphs, colours)
        else:
            peak = max(max(column) for column in columns)
            for column, glyph, colour in zip(columns, glyphs, colours):
                plt.plot(positions, column, marker=glyph, color=colour)
        self.set_ticks(plt, table, positions, peak)

    @staticmethod
    def stack_bars(plt, positions: list[int], columns: list[list[int]],
                   glyphs: tuple[str, ...], colours: list[tuple[int, int, int]]) -> None:
        """Stacked bars drawn top layer first, each from 0 to its running total, so the
        layers below paint over their share. Not plotext's stacked_bar: it paints a layer's
        zero-height bars with spaces, which cut holes in the layers above."""
        heights = [0] * len(positions)
        tops = []
        for column in columns:
            heights = [h + v for h, v in zip(heights, column)]
            tops.append(heights)
        for index in range(len(columns) - 1, -1, -1):
            shown = [i for i, value in enumerate(columns[index]) if value > 0]
            if not shown:
                continue
            plt.bar([positions[i] for i in shown], [tops[index][i] for i in shown],
                    marker=glyphs[index], color=colours[index], width=0.5,
                    reset_ticks=False)

    @property
    def plot_width(self) -> int:
        return max(20, self.size.width) - AXIS_CELLS  # the size is 0 before the first layout

    def y_ticks(self, table: UsageTable, peak: int, rows: int) -> list[int]:
        """Round ticks from 0 to just over `peak`. While the same buckets are shown and a
        live figure grows, the axis keeps its ticks; past their top it steps up with
        HEADROOM. A fresh chart, or figures that shrank below half the top, get a tight
        axis again."""
        shape = (table.granularity, table.group_by, table.buckets, table.keys,
                 self.is_bars, rows)
        target = peak
        if self._scale is not None and self._scale[0] == shape:
            kept = self._scale[1]
            if 2 * peak > kept[-1] >= peak:
                return kept
            if peak > kept[-1]:
                target = -(-peak * HEADROOM[0] // HEADROOM[1])
        step = nice_step(target, max(1, min(4, rows - 1)))
        ticks = list(range(0, target + step, step))
        self._scale = shape, ticks
        return ticks

    def set_ticks(self, plt, table: UsageTable, positions: list[int], peak: int) -> None:
        """Ticks far enough apart that plotext never has to nudge a label. plotext
        de-duplicates ticks through a set, so their order, and with it which of two crowded
        labels moves, changes with Python's hash seed: crowding would make the chart differ
        between runs (and snapshots flaky)."""
        labels = [tick_label(bucket, table.granularity) for bucket in table.buckets]
        spacing = 2 * (max(map(len, labels)) + 1)
        every = max(1, -(-len(positions) * spacing // self.plot_width))
        shown = positions[::every]
        plt.xticks(shown, [labels[p - 1] for p in shown])
        # Fewer y ticks than canvas rows (the frame and the x labels take three), for the
        # same reason: two ticks on one row would overwrite each other in set order.
        rows = self.query_one("#chart-plot").size.height - 3
        ticks = self.y_ticks(table, peak, rows)
        plt.yticks(ticks, [f"{tick:,}" for tick in ticks])
        plt.ylim(0, ticks[-1])
        plt.xlim(0.4, len(positions) + 0.6)
