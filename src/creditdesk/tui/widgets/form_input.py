"""FormInput: an Input told whether to blink (tests and snapshots ask for a still cursor).

The choice is passed in by whoever composes it, never read from the app: a widget gets what
it needs handed down (architecture.md, "Textual habits").
"""

from __future__ import annotations

from textual.widgets import Input


class FormInput(Input):
    def __init__(self, *args, blink: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_blink = blink
