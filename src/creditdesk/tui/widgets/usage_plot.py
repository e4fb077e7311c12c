"""UsagePlot: textual-plotext's PlotextPlot, built in a thread, repainting only the cells of
the chart that moved.

Imported only when the Usage screen is composed (it loads plotext). plotext takes 10-20 ms
to build a month of bars, more for a year of lines: on the event loop that is a stall
(keys and frames wait), so the figure is given as data (`FigureCalls`, the plotext calls
that draw it), built on a fresh plotext figure in a thread, and the built lines are handed
back to the widget. A live tick moves the newest bucket's bar or point; the axes, the frame
and the older buckets stay as they were, so only the lines and cells that differ are sent
to the terminal.

Textual writes a repainted line from the left edge of the widget that covers the change, so
a point moving at the chart's right edge would send the whole line again, y labels and all.
The figure is therefore shown through a row of narrow `PlotSlice` widgets side by side: a
change is sent from the left edge of the slice it falls in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, visualize
from textual.widget import Widget
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from .changed_cells import changed_regions

# Slices across the figure. A live tick moves the newest bucket, at the right edge: there
# the slices are narrow (about 8 cells at 80 columns, so a moved point costs at most that
# many cells before it on its line); the older half is one wide slice, because each slice
# costs a cursor move and its colours again when the whole figure is redrawn.
SLICES = 6

Call = tuple[str, tuple, dict[str, Any]]


class FigureCalls:
    """Stands in for plotext's `plt` while a figure is described: each call (`bar`,
    `plot`, `xticks`, ...) is noted as data, to be made again on a fresh figure in a
    thread (`build_figure`). A figure object is not safe to share with a thread."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):  # copy, pickle and the like look for these
            raise AttributeError(name)

        def note(*args, **kwargs) -> None:
            self.calls.append((name, args, kwargs))

        return note


def build_figure(calls: tuple[Call, ...], width: int, height: int, theme: str) -> Text:
    """The figure the calls describe, built by plotext at this size in this plotext theme:
    what PlotextPlot.render draws. Touches no widget, so it may run in a thread."""
    plt = Plot()
    for name, args, kwargs in calls:
        getattr(plt, name)(*args, **kwargs)
    plt.plotsize(width, height)
    # plotsize caps the width at the terminal's (80 columns in a thread, or headless);
    # PlotextPlot.render sets the size past that cap this same way (plotext has no
    # public call for it; textual-plotext issue 5).
    plt._set_size(width, height)
    plt.theme(theme)
    return Text.from_ansi(plt.build())


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
    """`show(calls)` draws the figure those plotext calls describe (built in a thread);
    until its first figure arrives, the plot is blank. PlotextPlot gives the plotext
    theme of the app's theme."""

    DEFAULT_CSS = "UsagePlot { layout: horizontal; }"

    class Resized(Message):
        """The plot has a new size: the figure shown was described for the old one (its
        ticks are spaced for it), so its owner should describe it again."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._calls: tuple[Call, ...] = ()
        self._lines: list[Strip] = []
        self._drawn_for: tuple[Size, Style] | None = None

    def compose(self) -> ComposeResult:
        yield PlotSlice(self._cells, classes="-older")
        for _ in range(SLICES - 1):
            yield PlotSlice(self._cells)

    def _cells(self, y: int, x: int, width: int) -> Strip:
        start = x - self.region.x
        return self.render_line(y).crop(start, start + width)

    @property
    def plotext_theme(self) -> str:
        """The plotext theme PlotextPlot registers for the app's theme ("auto")."""
        return f"textual-auto-{self.app.theme}" if self.theme == "auto" else self.theme

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    def show(self, calls: tuple[Call, ...]) -> None:
        """Draw this figure at the plot's size, built in a thread; a newer figure replaces
        one still being built."""
        self._calls = calls
        width, height = self.size
        if not width or not height:
            return  # not laid out yet: the owner shows it again once it is
        key = (self.size, self.visual_style)
        # A callable, not a coroutine: one replaced before it started is never awaited.
        self.run_worker(partial(self._build, calls, width, height, self.plotext_theme, key),
                        group="plot-build", exclusive=True)

    async def _build(self, calls: tuple[Call, ...], width: int, height: int, theme: str,
                     key: tuple[Size, Style]) -> None:
        text = await asyncio.to_thread(build_figure, calls, width, height, theme)
        if key == (self.size, self.visual_style):  # else resized meanwhile: shown again
            self._take(text, key)

    def render(self) -> Text:
        """The current figure built here and now, at the plot's size (what `show` draws)."""
        width, height = self.size
        return build_figure(self._calls, width, height, self.plotext_theme)

    def _take(self, text: Text, key: tuple[Size, Style]) -> None:
        """Show the built figure, repainting only the cells that differ from those drawn."""
        width, height = self.size
        on_screen = self._lines if key == self._drawn_for else None
        self._lines = Visual.to_strips(self, visualize(self, text), width, height,
                                       self.visual_style)
        self._drawn_for = key
        if on_screen is None or len(on_screen) != len(self._lines):
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

    def render_line(self, y: int) -> Strip:
        # Lines built for another size (a resize, until the owner shows the figure again
        # at the new size) are cut or padded to this one.
        width = self.size.width
        if y < len(self._lines):
            return self._lines[y].crop_extend(0, width, self.visual_style.rich_style)
        return Strip.blank(width, self.visual_style.rich_style)
