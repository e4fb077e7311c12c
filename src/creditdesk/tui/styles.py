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


# What the first screen (the overview) needs; the app reads only these before it shows.
FIRST_STYLESHEETS = ("app.tcss", "overview.tcss")


def all_stylesheets() -> list[Path]:
    """app.tcss first, then every screen's."""
    folder = styles_dir()
    return [folder / "app.tcss", *sorted(p for p in folder.glob("*.tcss")
                                         if p.name != "app.tcss")]


def first_stylesheets() -> list[Path]:
    """The app's CSS_PATH: app.tcss and the overview's, so start-up parses no other screen's."""
    return [stylesheet(name) for name in FIRST_STYLESHEETS]


def later_stylesheets() -> list[Path]:
    """Every other screen's stylesheet, which the app reads once the first figures show and
    before any other screen does: a stylesheet first met when a screen is shown makes
    Textual re-parse every rule and restyle every widget (its own `CSS_PATH` handling).
    Their rules name their screen (`UsageScreen #chart`) or widgets only it shows, so none
    matches a widget already mounted; that is why reading them then needs no restyle."""
    return [path for path in all_stylesheets() if path.name not in FIRST_STYLESHEETS]


class RestyleGate:
    """Says whether `App.refresh_css` has anything to redo.

    Textual calls `refresh_css` the first time each mode's screen is shown; it then
    re-parses every rule of every stylesheet (its parse cache is dropped) and restyles every
    widget of every screen mounted so far: 100-300 ms on the loop, growing with each screen
    visited. Yet the new screen's widgets were already styled when they were mounted. A full
    refresh is only needed when what the rules resolve to can have changed: the theme's
    variables, the app's classes (`-dark-mode`, `-theme-…`), or a stylesheet that applies
    beyond the widgets that brought it (anything but a widget's scoped DEFAULT_CSS)."""

    def __init__(self) -> None:
        self._state: tuple | None = None
        self._sources: dict = {}

    def read_unmatched(self, sources: dict) -> None:
        """Sources (location -> CssSource) just read whose rules match no mounted widget
        (`later_stylesheets`): every widget they match is new and styled on mounting, so
        they alone never call for a full refresh."""
        self._sources.update(sources)

    def needed(self, variables: dict[str, str], app_classes: frozenset[str],
               sources: dict) -> bool:
        """True if a full refresh must run; remembers what the last one saw. `sources` is
        the app stylesheet's `source` (location -> CssSource)."""
        state = (tuple(sorted(variables.items())), app_classes)
        added = [source for location, source in sources.items()
                 if self._sources.get(location) != source]  # new, or edited (--dev)
        # A scoped default sheet only matches inside its own widget type, and every such
        # widget is new (its sheet arrived with it), so it was styled with it on mounting.
        local = all(source.is_defaults and source.scope for source in added)
        self._sources = dict(sources)
        if state == self._state and local:
            return False
        self._state = state
        return True
