"""Helpers for the dashboard's Pilot tests: wait for the backend, read what a widget says."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.pilot import record_toasts, settle, toasts  # noqa: F401  (re-exported for the tests)

NOW = datetime(2026, 11, 15, tzinfo=UTC)
SIZE = (80, 24)


def text_of(widget) -> str:
    """The plain text a widget shows (Static content, or what it renders)."""
    content = getattr(widget, "content", None)
    if content is None:
        content = widget.render()
    return str(getattr(content, "plain", content))


def screen_text(app) -> str:
    """Everything the visible Static-like widgets of the current screen say, joined."""
    from textual.widgets import Label, Static

    return "\n".join(text_of(w) for w in app.screen.query(Static)
                     if w.display and isinstance(w, Static | Label))
