"""FigureRows: labelled figures in two columns, long values wrapping under their value.

A live tick changes a few digits of a few figures. Textual writes a repainted line from
the left edge of the widget that draws it, so the labels and the values are two widgets
(`FigureColumn`), and each repaints only the cells of its lines that changed: a tick costs
the bytes of the changed figures, not of the whole block.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.geometry import Size
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from .changed_cells import repaint_changed

LABEL_WIDTH = 16
# Cells left of the values: the glyph, the label and the padding after each.
VALUES_AT = 1 + 1 + LABEL_WIDTH + 1

Row = tuple[str, str, "str | Text"]


def rows_plain(rows: list[Row]) -> str:
    return "\n".join(f"{glyph} {label}: {getattr(value, 'plain', value)}"
                     for glyph, label, value in rows)


def rows_grid(rows: list[Row]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(width=LABEL_WIDTH, no_wrap=True, style="bold")
    grid.add_column(ratio=1)
    for glyph, label, value in rows:
        grid.add_row(glyph, label, value)
    return grid


class FigureColumn(Widget):
    """Lines handed in by FigureRows; `show_lines` repaints only the cells that differ."""

    DEFAULT_CSS = """
    FigureColumn { height: auto; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.lines: list[Strip] = []
        self._shown = False

    def show_lines(self, lines: list[Strip]) -> None:
        before, self.lines = self.lines, lines
        repaint_changed(self, before if self._shown else None, lines)
        self._shown = True

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines)

    def render_line(self, y: int) -> Strip:
        if y < len(self.lines):
            return self.lines[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)


class FigureRows(Widget):
    """`set_rows([(glyph, label, value), ...])`; `plain` is the text for tests and logs,
    `lines` what is drawn (one string per line)."""

    DEFAULT_CSS = f"""
    FigureRows {{ height: auto; layout: horizontal; }}
    FigureRows > .figure-labels {{ width: {VALUES_AT}; }}
    FigureRows > .figure-values {{ width: 1fr; }}
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.plain = ""
        self._rows: list[Row] = []

    def compose(self) -> ComposeResult:
        yield FigureColumn(classes="figure-labels")
        yield FigureColumn(classes="figure-values")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())
        self._draw()

    def on_resize(self) -> None:
        self._draw()  # the values wrap at the new width

    @property
    def lines(self) -> list[str]:
        labels, values = self.query_children(FigureColumn)
        return [(left.text + right.text).rstrip()
                for left, right in zip(labels.lines, values.lines)]

    def set_rows(self, rows: list[Row]) -> None:
        plain = rows_plain(rows)
        if plain == self.plain:
            return  # the same figures: nothing to repaint
        self.plain = plain
        self._rows = list(rows)
        self._draw()

    def _draw(self) -> None:
        width = self.size.width
        if not width or not self.is_mounted:
            return  # drawn once laid out (on_resize)
        lines = []
        if self._rows:
            # Drawn the way Static draws its content, so the looks are the same;
            # simplified (one segment per run of a style): fewer escape codes.
            lines = [line.simplify() for line in Visual.to_strips(
                self, visualize(self, rows_grid(self._rows)), width, None,
                self.visual_style)]
        labels, values = self.query_children(FigureColumn)
        labels.show_lines([line.crop(0, VALUES_AT) for line in lines])
        values.show_lines([line.crop(VALUES_AT) for line in lines])
