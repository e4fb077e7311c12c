"""The CreditDesk terminal dashboard (Textual). Imports backends, models and money only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import CreditDeskApp
    from .demo_controls import DemoControls, LiveNews

__all__ = ["CreditDeskApp", "DemoControls", "LiveNews"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import creditdesk.tui` (e.g. for the import-hygiene test) stays cheap.
    if name == "CreditDeskApp":
        from .app import CreditDeskApp
        return CreditDeskApp
    if name in ("DemoControls", "LiveNews"):
        from . import demo_controls
        return getattr(demo_controls, name)
    raise AttributeError(name)
