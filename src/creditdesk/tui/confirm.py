"""A yes/no modal used before anything that spends money; it always names the price."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from .dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    """Dismisses True only on an explicit yes (`y` or the Confirm button)."""

    BINDINGS = [
        Binding("y", "dismiss(True)", "Confirm", id="confirm.yes"),
        Binding("n,escape", "dismiss(False)", "Cancel", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str, *, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Label(self.title_text, classes="title")
            yield Static(self.body)
            with Horizontal(classes="buttons"):
                yield Button(self.confirm_label, id="yes", variant="warning", compact=True)
                yield Button("Cancel", id="no", compact=True)
            yield Label("y: confirm   n / escape: cancel", classes="hint")

    def on_mount(self) -> None:
        # Focus Cancel: an absent-minded enter must never spend money.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
