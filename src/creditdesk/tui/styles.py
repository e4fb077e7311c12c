"""Finds the dashboard's .tcss files in a wheel (creditdesk/styles) or an editable checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # src/creditdesk or site-packages/creditdesk


@cache
def styles_dir() -> Path:
    """The wheel force-includes `styles/` as `creditdesk/styles`; a checkout keeps it at the
    repository root, three levels above the package (`<repo>/src/creditdesk`)."""
    for candidate in (_PACKAGE / "styles", _PACKAGE.parent.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    raise FileNotFoundError(f"creditdesk styles not found beside {_PACKAGE}")


def stylesheet(name: str) -> Path:
    """Absolute path of one stylesheet, e.g. stylesheet("overview.tcss")."""
    return styles_dir() / name


def all_stylesheets() -> list[Path]:
    """app.tcss first, then every screen's: the app reads them all at start-up, because a
    stylesheet first met when a screen is shown makes Textual re-parse every rule."""
    folder = styles_dir()
    return [folder / "app.tcss", *sorted(p for p in folder.glob("*.tcss")
                                         if p.name != "app.tcss")]
