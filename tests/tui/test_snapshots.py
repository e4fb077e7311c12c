"""Snapshots of every screen, for each role, at 80x24 and 160x50 (pytest-textual-snapshot).

The demo world is built at a fixed instant and the app reads the world's pinned clock, with
no cursor blink, so a run draws the same pixels every time. After a deliberate change to a
screen's looks, regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` and
review the SVGs under `__snapshots__/` before committing them.
"""

from __future__ import annotations

import pytest

from .pilot_helpers import settle

SCREENS = {"overview": "o", "usage": "u", "members": "m", "invoices": "i", "settings": "s",
           "activity": "v"}
ROLES = ("owner", "admin", "member")
SIZES = {"80x24": (80, 24), "160x50": (160, 50)}


def show(key: str, *then: str):
    """run_before for snap_compare: let whoami and the first load finish, show the screen
    with `key`, then wait for its load too (and after each key of `then`), so no loading
    indicator is ever captured."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        for press in (key, *then):
            await pilot.press(press)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", SCREENS)
def test_screen(snap_compare, make_app, mode: str, role: str, size: str) -> None:
    app = make_app(role)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=show(SCREENS[mode]))


def test_usage_per_week_by_member(snap_compare, make_app) -> None:
    """Stacked bars of the top members and "other", and the table beneath."""
    assert snap_compare(make_app("owner"), terminal_size=(120, 36),
                        run_before=show("u", "g", "b"))


def test_invoice_details(snap_compare, make_app) -> None:
    """The details of the declined purchase, opened with enter."""
    async def run_before(pilot) -> None:
        await show("i")(pilot)
        failed = [n for n, i in enumerate(pilot.app.screen.invoices) if i.status == "failed"]
        assert failed, "the demo world has a declined purchase"
        await pilot.press(*["down"] * failed[0], "enter")
        await settle(pilot)

    assert snap_compare(make_app("owner"), terminal_size=(80, 24), run_before=run_before)
