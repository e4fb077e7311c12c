"""Plain-text tables that fit a width: figures are never cut, text columns give way.

No Rich here on purpose: `ledger --all` prints page after page with the widths of the first
page, which a table library that wants every row up front cannot do in constant memory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

GAP = "  "
MIN_TEXT = 6        # a text column is never squeezed below this many cells
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    title: str
    right: bool = False     # figures: aligned right, never truncated
    grow: bool = False      # free text that may be cut to fit (descriptions, names)


def terminal_width() -> int:
    # COLUMNS first, then the terminal; 80 when the output is a pipe and COLUMNS is unset.
    return max(shutil.get_terminal_size((80, 24)).columns, 20)


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def widths_for(columns: Sequence[Column], rows: Iterable[Sequence[str]], width: int
               ) -> list[int]:
    """Each column as wide as its widest cell, then text columns shrunk to fit `width`."""
    widths = [len(c.title) for c in columns]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    shrinkable = [i for i, c in enumerate(columns) if c.grow]
    while excess > 0 and shrinkable:
        widest = max(shrinkable, key=lambda i: widths[i])
        if widths[widest] <= MIN_TEXT:
            break
        cut = min(excess, widths[widest] - MIN_TEXT)
        widths[widest] -= cut
        excess -= cut
    return widths


def fits(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> bool:
    widths = widths_for(columns, rows, width)
    return sum(widths) + len(GAP) * (len(widths) - 1) <= width


def fit_cell(text: str, width: int, right: bool) -> str:
    if len(text) > width and not right:
        text = text[:max(width - 1, 0)] + ELLIPSIS
    return text.rjust(width) if right else text.ljust(width)


class TableWriter:
    """Writes a header once, then rows in batches, with widths fixed by the first batch."""

    def __init__(self, out: TextIO, columns: Sequence[Column], *, width: int | None = None
                 ) -> None:
        self.out = out
        self.columns = columns
        self.width = width or terminal_width()
        self.widths: list[int] | None = None
        self.colour = use_colour(out)

    def line(self, cells: Sequence[str]) -> str:
        assert self.widths is not None
        text = GAP.join(fit_cell(cell, w, c.right)
                        for cell, w, c in zip(cells, self.widths, self.columns))
        return text.rstrip()

    def rows(self, rows: Sequence[Sequence[str]]) -> None:
        if self.widths is None:
            self.widths = widths_for(self.columns, rows, self.width)
            header = self.line([c.title for c in self.columns])
            self.out.write(f"\x1b[1m{header}\x1b[0m\n" if self.colour else header + "\n")
        self.out.write("".join(self.line(row) + "\n" for row in rows))


def write_table(out: TextIO, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    TableWriter(out, columns).rows(rows)


def write_pairs(out: TextIO, pairs: Sequence[tuple[str, str]]) -> None:
    """A record as `label  value` lines (balance, one member), labels bold on a terminal."""
    label_width = max(len(label) for label, _ in pairs)
    colour = use_colour(out)
    for label, value in pairs:
        label = label.ljust(label_width)
        out.write(f"\x1b[1m{label}\x1b[0m  {value}\n" if colour else f"{label}  {value}\n")

