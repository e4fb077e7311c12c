"""Repaint only the cells of a widget's lines that changed (over SSH every byte counts).

Textual writes every cell of a region it repaints, so a widget that redraws itself whole
sends its unchanged lines again. A widget drawn with the line API keeps the lines it shows,
and after new ones are drawn `repaint_changed` marks only the differing cells of each line
dirty (Textual writes a line from the widget's left edge to the last dirty cell).
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


def line_cells(strip: Strip) -> list[tuple[str, Style | None]] | None:
    """(character, style) of each cell, or None if a character is not one cell wide."""
    cells = [(char, style) for text, style, _ in strip for char in text]
    return cells if len(cells) == strip.cell_length else None


def changed_span(before: Strip, after: Strip) -> tuple[int, int] | None:
    """[start, end) of the cells that differ between two lines, or None if none do.

    Past the end of the shorter line every cell counts as changed (it is blanked or newly
    drawn). A line with a wide character is compared whole."""
    old, new = line_cells(before), line_cells(after)
    if old is None or new is None:
        return (0, max(before.cell_length, after.cell_length)) if before != after else None
    differing = [index for index in range(max(len(old), len(new)))
                 if index >= len(old) or index >= len(new) or old[index] != new[index]]
    if not differing:
        return None
    return differing[0], differing[-1] + 1


def changed_regions(before: list[Strip], after: list[Strip]) -> list[Region]:
    """One region per line that differs, covering its differing cells (same line count)."""
    regions = []
    for y, (old, new) in enumerate(zip(before, after)):
        span = changed_span(old, new)
        if span is not None:
            regions.append(Region(span[0], y, span[1] - span[0], 1))
    return regions


def repaint_changed(widget: Widget, before: list[Strip] | None, after: list[Strip]) -> None:
    """Mark dirty what differs between the lines on screen and the new ones; a new number
    of lines (or none known on screen) repaints the widget whole, with a layout pass."""
    if before is None or len(before) != len(after):
        widget.refresh(layout=True)
        return
    for region in changed_regions(before, after):
        widget.refresh(region)
