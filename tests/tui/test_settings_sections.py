"""Settings mounts its lower sections after the first frame: once settled it is whole, and
jumping to a section or switching context right after opening works as before."""

from __future__ import annotations

from creditdesk.tui.screens.settings import SECTIONS
from creditdesk.tui.widgets.alert_form import AlertForm

from .pilot_helpers import SIZE, settle
from .test_settings import open_settings, personal_id

IN_ORDER = ["plan-section", "purchase-section", "recharge-section", "alerts-section",
            "portal-section"]


async def test_settled_settings_shows_every_section_once_in_order(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        for selector in SECTIONS.values():
            assert len(screen.query(selector)) == 1
        scroll = screen.query_one("#settings-scroll")
        assert [child.id for child in scroll.children] == IN_ORDER
        assert not screen.query_one("#recharge-form").disabled  # gate applied: owner


async def open_and_jump(app, pilot, section: str) -> None:
    """As overview's keys do it: switch to Settings, then at once the jump on it."""
    await settle(pilot)
    await app.switch_mode("settings")
    await app.run_action(f"screen.focus_section({section!r})")
    await pilot.pause()  # focus moves on the next turn of the loop


async def test_jumping_to_a_lower_section_right_after_opening(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await open_and_jump(app, pilot, "alerts")
        assert app.focused is app.screen.query_one("#alert-balance-0")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#alert-balance-0")


async def test_admin_sees_lower_sections_disabled_right_after_opening(make_app) -> None:
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await open_and_jump(app, pilot, "auto-recharge")
        screen = app.screen
        assert screen.query_one("#recharge-form").disabled  # "Owner only" on the gate
        assert screen.query_one("#recharge-gate").has_class("-refused")
        assert app.focused is not screen.query_one("#recharge-enabled")


async def test_a_context_switch_resets_the_lower_forms(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        screen.query_one("#threshold").value = "7,000"
        await pilot.pause()
        await app.run_action(f"switch_context({personal_id(app)!r})")
        await settle(pilot)
        saved = await app.backend.auto_recharge(personal_id(app))
        assert screen.query_one("#threshold").value == f"{saved.threshold:,}"
        assert screen.query_one(AlertForm).personal


async def test_a_context_switch_before_the_lower_sections_are_mounted(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.switch_mode("settings")
        await app.run_action(f"switch_context({personal_id(app)!r})")
        await settle(pilot)
        screen = app.screen
        saved = await app.backend.auto_recharge(personal_id(app))
        assert screen.query_one("#threshold").value == f"{saved.threshold:,}"
        assert screen.query_one(AlertForm).personal
        assert [child.id for child in screen.query_one("#settings-scroll").children] \
            == IN_ORDER
