"""The CreditDesk terminal dashboard (Textual). Imports backends, models and money only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import CreditDeskApp
    from .demo_controls import DemoControls

__all__ = ["CreditDeskApp", "DemoControls"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import creditdesk.tui` (e.g. for the import-hygiene test) stays cheap.
    if name == "CreditDeskApp":
        from .app import CreditDeskApp
        return CreditDeskApp
    if name == "DemoControls":
        from .demo_controls import DemoControls
        return DemoControls
    raise AttributeError(name)
