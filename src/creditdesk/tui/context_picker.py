"""The modal list of contexts (personal and each org) the user can charge their work to."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..models import Context
from .dialog import Dialog
from .widgets.context_header import context_kind


class ContextPicker(Dialog[str | None]):
    """Dismisses with the chosen account id, or None on escape."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="context.cancel")]

    def __init__(self, contexts: list[Context], current: str | None) -> None:
        super().__init__()
        self.contexts = contexts
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker", classes="dialog"):
            yield Label("Which account should your work be charged to?", classes="title")
            options = []
            for context in self.contexts:
                kind = context_kind(context)
                mark = "● " if context.account_id == self.current else "  "
                options.append(Option(f"{mark}{context.name} ({kind}) · {context.role}",
                                      id=context.account_id))
            yield OptionList(*options, id="contexts")
            yield Label("enter: switch   escape: cancel", classes="hint")

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        ids = [c.account_id for c in self.contexts]
        picker.highlighted = ids.index(self.current) if self.current in ids else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
