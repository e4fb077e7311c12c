"""Dialog: the base of the dashboard's modal screens, laid out once when they open.

Textual lays a screen out when it is shown (on ScreenResume), and that first layout sends
the screen a Resize of the very size it was just laid out at; the screen's Resize handler
then lays it out again, and every screen visible beneath the dialog too (the dimmed screen
behind a modal): for the help dialog over Settings, 20 ms of a 50 ms opening, on the loop,
with nothing changed. A Dialog lets that echo go and still takes every real resize (the
terminal's size differs from the one it was laid out at).
"""

from __future__ import annotations

from textual import events
from textual.geometry import Size
from textual.screen import ModalScreen, ScreenResultType


class Dialog(ModalScreen[ScreenResultType]):
    """A ModalScreen that skips the Resize echoing its own first layout."""

    def __init__(self) -> None:
        super().__init__()
        self._laid_out_at: Size | None = None

    def on_screen_resume(self) -> None:
        # Runs before Textual's own handler (the subclass's handlers come first in the
        # MRO), which lays the dialog and the screens beneath it out at the app's size.
        self._laid_out_at = self.app.size

    def on_resize(self, event: events.Resize) -> None:
        if event.size == self._laid_out_at:
            # Stops the base classes' handlers: Screen's would lay everything out again.
            event.prevent_default()
        self._laid_out_at = event.size
