"""FocusScroll: a VerticalScroll whose focus restyles itself, not everything inside it.

Textual restyles a widget and every one of its descendants when it gains or loses focus (a
rule such as `Select:focus > SelectCurrent` may style a child by its parent's focus). The
Settings scroll holds ~90 widgets and is focused on every first visit: that restyle was one
callback of 40-70 ms on the 10,000-member tour, the longest of the visit. No rule of the
dashboard's or of Textual's styles a descendant by a focused scroll container, so only
the container itself (and its scrollbars) can look different; tests/tui/test_stall_fixes.py
checks that the descendants' styles come out the same as after Textual's full restyle.
"""

from __future__ import annotations

from textual.containers import VerticalScroll


class FocusScroll(VerticalScroll):
    """A VerticalScroll for a big form: focusing it restyles only the container."""

    def watch_has_focus(self, has_focus: bool) -> None:
        # Replaces Widget.watch_has_focus (update_node_styles: this node and every
        # descendant); update_nodes also restyles a scrollable node's scrollbars.
        self.app.stylesheet.update_nodes([self], animate=True)
