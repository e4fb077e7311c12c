"""UsagePlot: textual-plotext's PlotextPlot, repainting only the cells of the chart that moved.

Imported only when the Usage screen is composed (it loads plotext). A live tick moves the
newest bucket's bar or point; the axes, the frame and the older buckets stay as they were,
so only the lines and cells that differ are sent to the terminal.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, visualize
from textual_plotext import PlotextPlot

from .changed_cells import repaint_changed


class UsagePlot(PlotextPlot):
    """Call `redraw()` after changing the figure through `plt` (instead of `refresh()`)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Strip] = []
        self._drawn_for: tuple[Size, Style] | None = None

    def redraw(self) -> None:
        key = (self.size, self.visual_style)
        on_screen = self._lines if key == self._drawn_for else None
        self._lines, self._drawn_for = self._draw(), key
        repaint_changed(self, on_screen, self._lines)

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
