"""A one-line bar of the balance split into base / rollover / purchased, with a legend."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region
from textual.reactive import reactive
from textual.widget import Widget

# Distinct glyphs as well as colours, so the split reads without colour (NO_COLOR).
SEGMENTS = (("base", "█"), ("rollover", "▓"), ("purchased", "▒"))


def split_widths(parts: list[int], width: int) -> list[int]:
    """Cells per part, summing to `width` (or 0 for an empty balance); largest remainder,
    and any non-zero part gets at least one cell so it never disappears."""
    total = sum(parts)
    if total <= 0 or width <= 0:
        return [0] * len(parts)
    exact = [p * width / total for p in parts]
    cells = [int(x) for x in exact]
    for i, p in enumerate(parts):
        if p > 0 and cells[i] == 0:
            cells[i] = 1
    while sum(cells) > width:
        i = max(range(len(cells)), key=lambda k: cells[k])
        cells[i] -= 1
    order = sorted(range(len(parts)), key=lambda k: exact[k] - cells[k], reverse=True)
    for i in order:
        if sum(cells) >= width:
            break
        if parts[i] > 0:
            cells[i] += 1
    return cells


def needs_repaint(old: tuple[int, int, int] | None, new: tuple[int, int, int] | None,
                  width: int) -> bool:
    """Whether the bar looks different with `new` parts than with `old` at `width` cells."""
    if old is None or new is None:
        return old != new
    width = max(10, width)
    return split_widths(list(old), width) != split_widths(list(new), width)


def bar_cells(parts: tuple[int, int, int], width: int) -> list[int]:
    """Which segment (index into SEGMENTS) each cell of the bar shows; -1 for an empty one."""
    cells = split_widths(list(parts), width)
    shown = [index for index, count in enumerate(cells) for _ in range(count)]
    return shown + [-1] * (width - len(shown))


def changed_cells(old: tuple[int, int, int], new: tuple[int, int, int],
                  width: int) -> tuple[int, int] | None:
    """[start, end) of the cells that show another segment with `new` than with `old`."""
    width = max(10, width)
    differing = [index for index, (a, b) in
                 enumerate(zip(bar_cells(old, width), bar_cells(new, width))) if a != b]
    return (differing[0], differing[-1] + 1) if differing else None


class BalanceBar(Widget):
    """`parts = (base, rollover, purchased)`; None draws nothing (still loading)."""

    COMPONENT_CLASSES = {f"balance-bar--{name}" for name, _ in SEGMENTS}
    DEFAULT_CSS = """
    BalanceBar { height: 1; }
    BalanceBar > .balance-bar--base { color: $primary; }
    BalanceBar > .balance-bar--rollover { color: $secondary; }
    BalanceBar > .balance-bar--purchased { color: $success; }
    """

    # Repainted by watch_parts only when the cells change: live activity moves the figures
    # every second, but a few hundred credits rarely move a cell of the bar (over SSH every
    # repainted line costs bytes).
    parts: reactive[tuple[int, int, int] | None] = reactive(None, repaint=False)

    def watch_parts(self, old: tuple[int, int, int] | None,
                    new: tuple[int, int, int] | None) -> None:
        if not needs_repaint(old, new, self.size.width):
            return
        span = changed_cells(old, new, self.size.width) if old and new else None
        if span is None or not self.size.width:
            self.refresh()
        else:  # only the cells where one segment now ends and another begins
            self.refresh(Region(span[0], 0, span[1] - span[0], 1))

    def render(self) -> Text:
        bar = Text(no_wrap=True)
        if self.parts is None:
            return bar
        width = max(10, self.size.width)
        cells = split_widths(list(self.parts), width)
        for (name, glyph), count in zip(SEGMENTS, cells):
            bar.append(glyph * count, style=self.get_component_rich_style(f"balance-bar--{name}"))
        if sum(cells) == 0:
            bar.append("·" * width)
        return bar
