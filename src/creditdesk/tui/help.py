"""The help screen (`?` / `f1`): every key of the screen below and of the app, in words."""

from __future__ import annotations

import asyncio

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual, visualize
from textual.widget import Widget
from textual.widgets import Label, Static

from .dialog import Dialog

INTRO = ("CreditDesk shows the credits of the account your work is charged to (named in the "
         "header with your role). Controls your role may not use stay visible, dimmed, with "
         "the reason. ctrl+p opens the command palette with every action.")


def binding_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(key, what it does, note) for the screen's own bindings, then the app's: what
    CreditDesk defines, not the scroll and focus keys every Textual widget has. The note
    says when the role may not use a key (as the footer dims it), else its tooltip."""
    rows = []
    seen = set()
    # active_bindings: the screen's keys, then the app's, as remapped by the keymap, without
    # those check_action hides here (the demo keys outside the demo).
    for active in screen.active_bindings.values():
        binding = active.binding
        # Ours all carry an id (remappable, like Posting's); Textual's built-in focus and
        # copy keys do not, and are the same in every app.
        if not binding.id or not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        note = binding.tooltip
        if not active.enabled:
            note = "not available to your role here" + (f": {note}" if note else "")
        rows.append((screen.app.get_key_display(binding), binding.description, note))
    return rows


class KeyTable(Widget):
    """The table of keys, drawn once per width and look. In a Static, Textual rendered the
    wrapping three-column table five times on opening (widths, height, lines), 60 ms; it
    is measured again and again, so each width's lines are kept."""

    # A width of its own, not the dialog's: the dialog's auto height measures its content
    # without the scrollbar (74 columns inside #help's 78) and the layout then draws it
    # with one (72), so the table was drawn twice on each opening. 72 is the width with
    # the scrollbar; a narrower terminal still narrows it (max-width).
    DEFAULT_CSS = """
    KeyTable { height: auto; width: 72; max-width: 100%; }
    """

    def __init__(self, table: Table) -> None:
        super().__init__()
        self.table = table
        self._drawn: dict[tuple[int, Style], list[Strip]] = {}

    def _lines_at(self, width: int) -> list[Strip]:
        if width <= 0:
            return []
        key = (width, self.visual_style)
        if key not in self._drawn:
            # Drawn the way Static draws a Rich renderable, so it looks the same.
            self._drawn[key] = Visual.to_strips(self, visualize(self, self.table), width,
                                                None, key[1])
        return self._drawn[key]

    @property
    def widths_drawn(self) -> set[int]:
        """Each width the table was drawn at so far (a drawing is kept per width)."""
        return {width for width, _ in self._drawn}

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines_at(width))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        lines = self._lines_at(width)
        return lines[y] if y < len(lines) else Strip.blank(width, self.visual_style.rich_style)


class HelpScreen(Dialog[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, beneath: Screen) -> None:
        super().__init__()
        self.beneath = beneath

    async def on_screen_resume(self) -> None:
        # Before Textual restyles the dialog on showing it: a turn for keys and frames
        # between composing and styling (as BillingScreen does).
        await asyncio.sleep(0)

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, expand=True)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Does")
        table.add_column("Note")
        for key, description, note in binding_rows(self.beneath):
            table.add_row(key, description, note)
        table.add_row("^p", "Command palette", "Every action above, searchable by name")
        table.add_row("tab", "Next control", "shift+tab: the previous one")
        with VerticalScroll(id="help", classes="dialog"):
            yield Label("Keys", classes="title")
            yield Static(INTRO, classes="intro")
            yield KeyTable(table)
            yield Label("escape: close", classes="hint")
