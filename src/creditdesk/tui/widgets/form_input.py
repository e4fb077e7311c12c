"""FormInput: an Input that stops blinking when the app asks (fixed snapshots and tests)."""

from __future__ import annotations

from textual.widgets import Input


class FormInput(Input):
    def on_mount(self) -> None:
        if not getattr(self.app, "cursor_blink", True):
            self.cursor_blink = False
