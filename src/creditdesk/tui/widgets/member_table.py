"""MemberTable: a Line API list of members (ScrollView + render_line + a line cache).

A DataTable builds every row up front; with 10,000 members that is seconds of work on
each reload. This widget draws only the rows on screen and caches them, like Toolong.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...models import MemberUsage
from ...money import format_credits
from .member_view import COLUMNS, MemberView, closeness, is_stopped

BAR_CELLS = 7
# The cursor row is marked by a glyph too, so it shows without colour (NO_COLOR).
CURSOR_MARK = "› "
HEADER_LINES = 1
MIN_NAME = 12
MAX_NAME = 32  # wider terminals leave the figures next to the names, not across the screen


def column_widths(total: int) -> list[int]:
    fixed = sum(c.width for c in COLUMNS if c.width) + len(COLUMNS)  # one space each
    name = min(MAX_NAME, max(MIN_NAME, total - fixed))
    return [c.width or name for c in COLUMNS]


def closeness_cell(member: MemberUsage) -> tuple[str, str]:
    """(bar, percent) of the way to the limit; words rather than colour mark a stop."""
    if member.limit is None:
        return "", "no limit"
    ratio = closeness(member)
    filled = min(BAR_CELLS, round(min(ratio, 1.0) * BAR_CELLS))
    bar = "█" * filled + "░" * (BAR_CELLS - filled)
    if is_stopped(member):
        return bar, " STOP"
    return bar, f"{min(ratio, 9.99) * 100:4.0f}%"


def header_text(view: MemberView, width: int) -> str:
    """Column titles with their sort key (1-6) and an arrow on the sorted column."""
    cells = [" " * len(CURSOR_MARK)]
    for number, (column, cell) in enumerate(zip(COLUMNS, column_widths(width)), start=1):
        arrow = ("▼" if view.descending else "▲") if column.key == view.sort_key else ""
        title = f"{number}{arrow}{column.title}"
        align = "<" if column.key in ("name", "id", "role") else ">"
        cells.append(f"{title:{align}{cell}.{cell}} ")
    return "".join(cells)


class MemberTable(ScrollView, can_focus=True):
    """Keys: up/down, page up/down, home/end move the cursor; enter chooses the member.

    Line 0 is the column header, drawn by the same code and widths as the rows so the two
    always line up, and fixed: the rows scroll beneath it. A click on a title sorts."""

    COMPONENT_CLASSES = {"member-table--cursor", "member-table--stopped",
                         "member-table--bar", "member-table--header"}
    DEFAULT_CSS = """
    MemberTable { height: 1fr; scrollbar-gutter: stable; overflow-x: hidden; }
    MemberTable > .member-table--cursor { background: $block-cursor-background;
                                          color: $block-cursor-foreground; text-style: bold; }
    MemberTable:blur > .member-table--cursor { background: $block-cursor-blurred-background;
                                               text-style: none; }
    MemberTable > .member-table--stopped { color: $text-error; text-style: bold; }
    MemberTable > .member-table--bar { color: $primary; }
    MemberTable > .member-table--header { color: $text-accent; text-style: bold; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="members.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="members.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="members.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="members.page_down"),
        Binding("home", "jump(0)", "First", show=False, id="members.first"),
        Binding("end", "jump(-1)", "Last", show=False, id="members.last"),
        Binding("enter", "choose", "Choose", show=False, id="members.choose"),
    ]

    # No repaint of its own: watch_cursor redraws just the two rows it touches.
    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class CursorMoved(Message):
        def __init__(self, member: MemberUsage | None) -> None:
            super().__init__()
            self.member = member

    class Chosen(Message):
        def __init__(self, member: MemberUsage) -> None:
            super().__init__()
            self.member = member

    class SortClicked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, view: MemberView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self._cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._version = 0

    # --- data -------------------------------------------------------------------------
    def rows_changed(self, keep_user: str | None = None) -> None:
        """Call after the view's rows changed; keeps the cursor on `keep_user` if shown."""
        self._version += 1
        self._cache.clear()
        self.virtual_size = Size(self.size.width, len(self.view.rows) + HEADER_LINES)
        index = self.view.index_of(keep_user) if keep_user else None
        self.cursor = index if index is not None else min(self.cursor,
                                                          max(0, len(self.view.rows) - 1))
        self.refresh()

    @property
    def current(self) -> MemberUsage | None:
        rows = self.view.rows
        return rows[self.cursor] if 0 <= self.cursor < len(rows) else None

    def watch_cursor(self, old: int, new: int) -> None:
        top = round(self.scroll_y)
        if self.view.rows:
            self.scroll_to_region_of(new)
        if round(self.scroll_y) == top:
            # Only the two rows whose cursor mark changed are drawn again (over SSH every
            # byte counts); a scroll redraws the lines anyway.
            for index in {old, new}:
                self.refresh_line(index + HEADER_LINES)  # virtual lines: header first
        self.post_message(self.CursorMoved(self.current))

    def to_top(self) -> None:
        """The first row, in view: where a new sort order begins."""
        self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor = 0

    @property
    def rows_shown(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_LINES)

    def scroll_to_region_of(self, index: int) -> None:
        top = round(self.scroll_y)  # the first row shown under the header
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + self.rows_shown:
            self.scroll_to(y=index - self.rows_shown + 1, animate=False, immediate=True)

    # --- actions ------------------------------------------------------------------------
    def _clamp(self, index: int) -> int:
        return max(0, min(index, len(self.view.rows) - 1))

    def action_cursor(self, step: int) -> None:
        self.cursor = self._clamp(self.cursor + step)

    def action_page(self, direction: int) -> None:
        page = max(1, self.rows_shown - 1)
        self.cursor = self._clamp(self.cursor + direction * page)

    def action_jump(self, index: int) -> None:
        self.cursor = self._clamp(index if index >= 0 else len(self.view.rows) - 1)

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current))

    def on_click(self, event: Click) -> None:
        if event.y < HEADER_LINES:
            edge = len(CURSOR_MARK)
            widths = column_widths(self.scrollable_content_region.width - edge)
            for column, cells in zip(COLUMNS, widths):
                edge += cells + 1
                if event.x < edge:
                    self.post_message(self.SortClicked(column.key))
                    return
            return
        index = round(self.scroll_y) + event.y - HEADER_LINES
        if 0 <= index < len(self.view.rows):
            self.cursor = index

    # --- drawing ------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._cache.clear()
        self.virtual_size = Size(self.size.width, len(self.view.rows) + HEADER_LINES)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y < HEADER_LINES:
            style = self.rich_style + self.get_component_rich_style("member-table--header")
            header = Strip([Segment(header_text(self.view, width - len(CURSOR_MARK)), style)])
            return header.adjust_cell_length(width, self.rich_style)
        index = round(self.scroll_y) + y - HEADER_LINES
        if index >= len(self.view.rows):
            return Strip.blank(width, self.rich_style)
        selected = index == self.cursor
        key = (index, width, selected, self._version, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(self.view.rows[index], width, selected)
            self._cache[key] = strip
        return strip

    def _render_row(self, member: MemberUsage, width: int, selected: bool) -> Strip:
        base = self.rich_style
        if selected:
            base += self.get_component_rich_style("member-table--cursor")
        stopped_style = base + self.get_component_rich_style("member-table--stopped")
        bar_style = base + self.get_component_rich_style("member-table--bar")
        widths = column_widths(width - len(CURSOR_MARK))
        name_w, id_w, role_w, used_w, limit_w, close_w, share_w = widths
        limit = "none" if member.limit is None else format_credits(member.limit, unit=False)
        bar, percent = closeness_cell(member)
        stopped = is_stopped(member)
        share = f"{self.view.share(member) * 100:.1f}%"
        segments = [
            Segment(CURSOR_MARK if selected else " " * len(CURSOR_MARK), base),
            Segment(f"{_fit(member.name, name_w)} {_fit(member.user_id, id_w)} "
                    f"{member.role:<{role_w}} "
                    f"{format_credits(member.used_this_period, unit=False):>{used_w}} "
                    f"{limit:>{limit_w}} ", base),
            Segment(bar, stopped_style if stopped else bar_style),
            Segment(f"{percent:>{close_w - len(bar)}}", stopped_style if stopped else base),
            Segment(f" {share:>{share_w}} ", base),
        ]
        strip = Strip(segments)
        return strip.adjust_cell_length(width, base)


def _fit(text: str, width: int) -> str:
    """Exactly `width` cells: padded, or cut with an ellipsis."""
    return f"{text:<{width}}" if len(text) <= width else text[: width - 1] + "…"
