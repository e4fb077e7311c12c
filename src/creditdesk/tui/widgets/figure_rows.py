"""FigureRows: labelled figures in two columns, long values wrapping under their value."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

LABEL_WIDTH = 16


class FigureRows(Static):
    """`set_rows([(glyph, label, value), ...])`; `plain` is the text for tests and logs."""

    DEFAULT_CSS = """
    FigureRows { height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.plain = ""

    def set_rows(self, rows: list[tuple[str, str, str | Text]]) -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1, no_wrap=True)
        grid.add_column(width=LABEL_WIDTH, no_wrap=True, style="bold")
        grid.add_column(ratio=1)
        for glyph, label, value in rows:
            grid.add_row(glyph, label, value)
        plain = "\n".join(f"{glyph} {label}: {getattr(value, 'plain', value)}"
                          for glyph, label, value in rows)
        if plain == getattr(self, "plain", None):
            return  # the same figures: nothing to repaint (over SSH every byte counts)
        # Only a change in the number of rows moves anything else on screen.
        same_height = getattr(self, "plain", "").count("\n") == plain.count("\n")
        self.plain = plain
        self.update(grid, layout=not same_height)
