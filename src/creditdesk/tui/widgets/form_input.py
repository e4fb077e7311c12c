"""FormInput: an Input told whether to blink (tests and snapshots ask for a still cursor).

The choice is passed in by whoever composes it, never read from the app: a widget gets what
it needs handed down (architecture.md, "Textual habits").

Without validators an Input is always valid, and Textual marks it so (`-valid`) the first
time its value is set: a new class, so a restyle of the Input and its parts, 5-10 ms each
when Settings fills its six fields from the backend. A FormInput without validators starts
with the class it would get.
"""

from __future__ import annotations

from textual.widgets import Input


class FormInput(Input):
    def __init__(self, *args, blink: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_blink = blink
        if not self.validators:
            self.add_class("-valid")
