"""UsagePlot: textual-plotext's PlotextPlot, repainting only the cells of the chart that moved.

Imported only when the Usage screen is composed (it loads plotext). A live tick moves the
newest bucket's bar or point; the axes, the frame and the older buckets stay as they were,
so only the lines and cells that differ are sent to the terminal.

Textual writes a repainted line from the left edge of the widget that covers the change, so
a point moving at the chart's right edge would send the whole line again, y labels and all.
The figure is therefore shown through a row of narrow `PlotSlice` widgets side by side: a
change is sent from the left edge of the slice it falls in.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, visualize
from textual.widget import Widget
from textual_plotext import PlotextPlot

from .changed_cells import changed_regions

# Slices across the figure. A live tick moves the newest bucket, at the right edge: there
# the slices are narrow (about 8 cells at 80 columns, so a moved point costs at most that
# many cells before it on its line); the older half is one wide slice, because each slice
# costs a cursor move and its colours again when the whole figure is redrawn.
SLICES = 6


class PlotSlice(Widget):
    """The columns of a figure that fall under this widget: `source(y, x, width)` gives
    that many cells of line `y` of the figure from screen column `x`."""

    DEFAULT_CSS = """
    PlotSlice { width: 1fr; height: 1fr; }
    PlotSlice.-older { width: 4fr; }
    """

    def __init__(self, source: Callable[[int, int, int], Strip], *,
                 classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._source = source

    def render_line(self, y: int) -> Strip:
        return self._source(y, self.region.x, self.size.width)


class UsagePlot(PlotextPlot):
    """Call `redraw()` after changing the figure through `plt` (instead of `refresh()`)."""

    DEFAULT_CSS = "UsagePlot { layout: horizontal; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Strip] = []
        self._drawn_for: tuple[Size, Style] | None = None

    def compose(self) -> ComposeResult:
        yield PlotSlice(self._cells, classes="-older")
        for _ in range(SLICES - 1):
            yield PlotSlice(self._cells)

    def _cells(self, y: int, x: int, width: int) -> Strip:
        start = x - self.region.x
        return self.render_line(y).crop(start, start + width)

    def redraw(self) -> None:
        key = (self.size, self.visual_style)
        on_screen = self._lines if key == self._drawn_for else None
        self._lines, self._drawn_for = self._draw(), key
        if on_screen is None or len(on_screen) != len(self._lines):
            self.refresh(layout=True)
            for piece in self.query_children(PlotSlice):
                piece.refresh()
            return
        for region in changed_regions(on_screen, self._lines):
            self.refresh(region)
            self._repaint_slices(region)

    def _repaint_slices(self, region: Region) -> None:
        """Mark dirty, in each slice the region crosses, its part of the region."""
        for piece in self.query_children(PlotSlice):
            offset = piece.region.x - self.region.x
            own = region.translate((-offset, 0)).intersection(Region(0, 0, *piece.size))
            if own.area:
                piece.refresh(own)

    def _draw(self) -> list[Strip]:
        width, height = self.size
        if not width or not height:
            return []
        # PlotextPlot's own render (the figure built at this size, in the app's theme),
        # drawn the way Textual draws any widget's render().
        return Visual.to_strips(self, visualize(self, self.render()), width, height,
                                self.visual_style)

    def render_line(self, y: int) -> Strip:
        key = (self.size, self.visual_style)
        if key != self._drawn_for:  # resized or re-themed: the figure is built again
            self._lines, self._drawn_for = self._draw(), key
        return self._lines[y] if y < len(self._lines) else \
            Strip.blank(self.size.width, self.visual_style.rich_style)
