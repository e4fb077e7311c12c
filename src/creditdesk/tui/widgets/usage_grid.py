"""UsageGrid: the table under the usage chart, the very figures the chart draws.

A live tick changes the newest bucket's figures and the totals. Building the table again
for that would repaint all of it (and move the cursor back to the newest row every
second); when the buckets, columns and widths are those on screen, `show` changes only the
cells that differ and repaints only those.

A table built anew gets its rows CHUNK_ROWS at a time, letting the event loop run between
chunks: DataTable adds a row in ~0.1 ms and measures each new cell when idle, so the 351
days of the last 12 months in one go held the loop for 50-70 ms. A table's very first rows
wait for the screen's first paint, which then does not draw them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Region
from textual.widgets import DataTable

from ...money import format_credits
from .row_feeder import next_refresh
from .usage_chart import UsageTable, bucket_label

PERIOD_TITLES = {"day": "Day", "week": "Week of", "month": "Month"}
# Rows added in one step of the loop (~10 ms with their measuring): a month of days, or a
# year of weeks, is one chunk.
CHUNK_ROWS = 64
# Refreshes the first chunk waits at most for the table to be laid out (a hidden table
# never is: its rows go in all the same).
LAYOUT_WAITS = 4


def cell(credits: int, *, bold: bool = False) -> Text:
    return Text(format_credits(credits, unit=False), justify="right",
                style="bold" if bold else "")


def figure_width(credits: int) -> int:
    return len(format_credits(credits, unit=False))


def column_widths(table: UsageTable) -> list[int]:
    """Cells for the period column, each key's column and the total: the widest of the
    title and every figure under it, as DataTable would measure them."""
    periods = [bucket_label(bucket, table.granularity) for bucket in table.buckets]
    widths = [max(cell_len(text) for text in
                  (PERIOD_TITLES[table.granularity], "Total", *periods))]
    columns = list(zip(*table.rows)) if table.rows else [() for _ in table.labels]
    for label, values, key_total in zip(table.labels, columns, table.key_totals):
        widths.append(max(cell_len(label), *(figure_width(v) for v in (*values, key_total))))
    widths.append(max(len("Total"), *(figure_width(v) for v in
                                      (*table.bucket_totals, table.total))))
    return widths


def same_layout(before: UsageTable, after: UsageTable) -> bool:
    """Whether `after` fits the very table `before` built: the same buckets, columns and
    column widths (a figure that outgrows its column needs the table built again)."""
    return (before.granularity, before.buckets, before.labels, column_widths(before)) == \
        (after.granularity, after.buckets, after.labels, column_widths(after))


def changed_cells(before: UsageTable, after: UsageTable) -> dict[tuple[str, str], Text]:
    """{(row key, column key): cell} for each figure of `after` that differs from
    `before` (two tables of the same layout), keyed as `UsageGrid` builds its rows."""
    changes: dict[tuple[str, str], Text] = {}

    def compare(row_key: str, old: list[int], new: list[int], bold: bool) -> None:
        keys = [f"column:{index}" for index in range(len(new) - 1)] + ["total"]
        for column_key, was, now in zip(keys, old, new):
            if was != now:
                changes[row_key, column_key] = cell(now, bold=bold or column_key == "total")

    for bucket, old_row, new_row, old_total, new_total in zip(
            after.buckets, before.rows, after.rows, before.bucket_totals,
            after.bucket_totals):
        compare(bucket_label(bucket, after.granularity), [*old_row, old_total],
                [*new_row, new_total], bold=False)
    compare("total", [*before.key_totals, before.total], [*after.key_totals, after.total],
            bold=True)
    return changes


class UsageGrid(DataTable):
    """A DataTable of a UsageTable: a row per bucket, a column per key, the totals."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.table: UsageTable | None = None
        self.complete = False  # every row of `table` is in (a build is not under way)
        self._in_place = False

    def show(self, table: UsageTable) -> None:
        shown, self.table = self.table, table
        if shown is not None and self.complete and same_layout(shown, table):
            # Other figures in the same rows and columns (a live tick): change those cells
            # only, and leave the cursor where the person put it.
            self.set_figures(changed_cells(shown, table))
            return
        first = not self.row_count
        self.complete = False
        self._set_columns(table)
        rows = list(zip(table.buckets, table.rows, table.bucket_totals))
        # More than one chunk: a loading indicator until the newest rows are in, rather
        # than the oldest ones drawn first and then the jump to the newest.
        self.loading = len(rows) > CHUNK_ROWS
        done = 0
        if not first:  # a table on screen is replaced at once: no blank frame between
            done = self._add_rows(table, rows[:CHUNK_ROWS])
            if done == len(rows):
                self._finish(table)
                return
        # A newer table replaces a build still under way (exclusive); given as a callable,
        # so one replaced before it started leaves no coroutine never awaited.
        self.run_worker(partial(self._fill, table, rows, done), group="usage-grid",
                        exclusive=True)

    async def _fill(self, table: UsageTable, rows: list, done: int) -> None:
        """The rest of the rows, a chunk per paint (the first waits for the screen's
        first paint, or the last chunk's measuring and paint), then the total row."""
        for start in range(done, len(rows), CHUNK_ROWS):
            await next_refresh(self)
            if start == done:
                await self._laid_out()
            self._add_rows(table, rows[start:start + CHUNK_ROWS])
        self._finish(table)

    async def _laid_out(self) -> None:
        """Until this table has a size: the refresh after the screen's first load is not
        always the one that lays it out (the load can land between a layout and its paint),
        and rows added before then are all measured in one go (the stall chunks avoid)."""
        for _ in range(LAYOUT_WAITS):
            if self.size.height:
                return
            await next_refresh(self)

    def _finish(self, table: UsageTable) -> None:
        self.add_row(Text("Total", style="bold"),
                     *(cell(value, bold=True) for value in table.key_totals),
                     cell(table.total, bold=True), key="total")
        self.complete = True
        self.loading = False
        # The newest bucket is the one people look for first; the total row follows it.
        self.move_cursor(row=max(0, len(table.buckets) - 1), animate=False)
        # Scrolled to the end once the table has measured the rows just added: at once,
        # the end was sometimes the one before the last chunk and the total row (one row
        # short, as the run happened to go: the screenshots changed run to run).
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    def _add_rows(self, table: UsageTable, rows: list) -> int:
        """Add these (bucket, figures, total) rows; how many."""
        for bucket, row, total in rows:
            label = bucket_label(bucket, table.granularity)
            # A Text, not a str: DataTable parses a str cell as markup each time it
            # measures or draws it (351 day rows on the custom range).
            self.add_row(Text(label), *(cell(value) for value in row),
                         cell(total, bold=True), key=label)
        return len(rows)

    def _set_columns(self, table: UsageTable) -> None:
        self.clear(columns=True)
        # Every column gets its width up front. Left to measure its cells, DataTable widens
        # columns only on its next idle, and a header line drawn before that (a repaint
        # as the custom-range form closes) kept the narrow widths: misaligned titles.
        period_title, widths = PERIOD_TITLES[table.granularity], column_widths(table)
        self.add_column(period_title, key="period", width=widths[0])
        # Columns by position: a campaign may well be called "other".
        for index, label in enumerate(table.labels):
            self.add_column(Text(label, justify="right"), key=f"column:{index}",
                            width=widths[index + 1])
        self.add_column(Text("Total", justify="right"), key="total", width=widths[-1])

    def set_figures(self, cells: Mapping[tuple[str, str], str | Text]) -> None:
        """Change these cells, repainting only them: per row, one span from its first
        changed cell to its last (one region per cell would each send the line again from
        the table's left edge)."""
        self._in_place = True
        try:
            for (row, column), value in cells.items():
                self.update_cell(row, column, value)
        finally:
            self._in_place = False
        columns_of: dict[int, list[int]] = {}
        for row, column in cells:
            coordinate = self.get_cell_coordinate(row, column)
            columns_of.setdefault(coordinate.row, []).append(coordinate.column)
        for row_index, columns in columns_of.items():
            self.refresh(self.cells_region(row_index, min(columns), max(columns)))

    def cells_region(self, row_index: int, first: int, last: int) -> Region:
        """Where columns `first` to `last` of a row are drawn now (scrolling included)."""
        widths = [column.get_render_width(self) for column in self.ordered_columns]
        rows = self.ordered_rows
        y = sum(row.height for row in rows[:row_index]) + \
            (self.header_height if self.show_header else 0)
        x = sum(widths[:first])
        region = Region(x, y, sum(widths[first:last + 1]), rows[row_index].height)
        return region.translate(-self.scroll_offset)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> DataTable:
        # DataTable.update_cell repaints the whole table; inside set_figures the cells it
        # changed are repainted instead (cells_region), so that whole repaint is skipped.
        if getattr(self, "_in_place", False) and not (regions or layout or recompose):
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout,
                               recompose=recompose)
