"""Snapshots of the Alerts screen and the alert settings (pytest-textual-snapshot).

Same conditions as test_snapshots.py: the demo world at a fixed instant, the world's pinned
clock, no cursor blink, fixed sizes. Regenerate after a deliberate change with
`pytest tests/tui/test_alert_snapshots.py --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

import pytest

from .pilot_helpers import settle
from .test_snapshots import show

SIZES = {"80x24": (80, 24), "160x50": (160, 50)}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_alerts_screen(snap_compare, make_app, role: str, size: str) -> None:
    assert snap_compare(make_app(role), terminal_size=SIZES[size], run_before=show("n"))


def show_alert_settings(pilot_key: str = "s"):
    async def run_before(pilot) -> None:
        await show(pilot_key)(pilot)
        await pilot.app.run_action("screen.focus_section('alerts')")
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_alert_settings(snap_compare, make_app, role: str) -> None:
    """Owners edit the thresholds and shares; admins see them disabled, "Owner only"."""
    assert snap_compare(make_app(role), terminal_size=(80, 24),
                        run_before=show_alert_settings())


def test_alert_settings_with_a_mistake(snap_compare, make_app) -> None:
    """A share above 100% is said beside the field, and Save is dimmed."""
    async def run_before(pilot) -> None:
        await show_alert_settings()(pilot)
        pilot.app.screen.query_one("#alert-share-2").focus()
        await pilot.press("1", "5", "0")
        await settle(pilot)

    assert snap_compare(make_app("owner"), terminal_size=(80, 24), run_before=run_before)


def test_pay_now_confirmation_from_a_payment_failed_alert(snap_compare, make_app,
                                                          demo_world) -> None:
    """The subscription declined at the close: its alert, and Pay now's price in dollars."""
    from .test_pay_invoice import past_due

    past_due(demo_world)
    assert snap_compare(make_app("owner"), terminal_size=(80, 24),
                        run_before=show("n", "dollar_sign"))
