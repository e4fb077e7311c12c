"""The help screen (`?` / `f1`): every key of the screen below and of the app, in words."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

INTRO = ("CreditDesk shows the credits of the account your work is charged to (named in the "
         "header with your role). Controls your role may not use stay visible, dimmed, with "
         "the reason. ctrl+p opens the command palette with every action.")


def binding_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(key, what it does, why it is off or its tooltip) for the screen's and the app's
    bindings, as the footer knows them (active_bindings already applies check_action)."""
    rows = []
    seen = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or (binding.action, binding.description) in seen:
            continue
        seen.add((binding.action, binding.description))
        display = screen.app.get_key_display(binding)
        note = binding.tooltip
        if active.enabled is False:
            note = "not available to your role here" + (f" ({note})" if note else "")
        rows.append((display, binding.description, note))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help.close")]

    def __init__(self, beneath: Screen) -> None:
        super().__init__()
        self.beneath = beneath

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, expand=True)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Does")
        table.add_column("Note")
        for key, description, note in binding_rows(self.beneath):
            table.add_row(key, description, note)
        with VerticalScroll(id="help", classes="dialog"):
            yield Label("Keys", classes="title")
            yield Static(INTRO, classes="intro")
            yield Static(table)
            yield Label("escape: close", classes="hint")
