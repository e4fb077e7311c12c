"""QuietFooter: Textual's Footer, rebuilt only when the keys it shows changed.

Textual's Footer recomposes (unmounts every key and mounts new ones, then lays out and
draws them) each time the screen says its bindings may have changed: on every focus move
and screen resume, four to six times on a screen's first visit, mostly to the very same
keys. Each rebuild costs several milliseconds of the event loop, and lands beside the
screen's own first paint. This one compares what it would show first.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class QuietFooter(Footer):
    """A Footer that skips rebuilds which would show the same keys, in the same state."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._shown: tuple | None = None

    def shown_keys(self, screen: Screen) -> tuple:
        """What the footer draws from the screen's bindings: each shown key with its
        words, whether it is enabled, its tooltip and group, and the palette's key."""
        app = screen.app
        return tuple(
            (binding.key, app.get_key_display(binding), binding.description,
             binding.action, enabled, tooltip, binding.group)
            for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
            if binding.show or key == app.COMMAND_PALETTE_BINDING)

    def bindings_changed(self, screen: Screen) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = self.shown_keys(screen)
            if shown == self._shown:
                return
            self._shown = shown
        else:
            self._shown = None  # Footer skips this rebuild: the next one must not be
        super().bindings_changed(screen)
