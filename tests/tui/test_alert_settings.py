"""Alert settings in Settings: validated as typed, saved sorted without duplicates, owners
edit, admins see them disabled with the reason, and a context switch empties the form."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input

from creditdesk.tui.form_checks import FieldError
from creditdesk.tui.widgets.alert_form import (
    AlertForm,
    check_values,
    describe_settings,
    parse_percent,
    parse_threshold,
)

from .pilot_helpers import SIZE, screen_text, settle, text_of, toasts


@pytest.mark.parametrize(("typed", "value"), [("", None), ("5,000", 5000), ("1", 1),
                                              (" 1000000000000 ", 10**12)])
def test_thresholds_people_type(typed, value) -> None:
    assert parse_threshold(typed) == value


@pytest.mark.parametrize("typed", ["0", "-5", "1.5", "abc", "1000000000001", "5 000"])
def test_thresholds_refused(typed) -> None:
    with pytest.raises(FieldError):
        parse_threshold(typed)


@pytest.mark.parametrize(("typed", "value"), [("80", 80), ("80%", 80), ("1", 1),
                                              ("100", 100), ("", None)])
def test_shares_people_type(typed, value) -> None:
    assert parse_percent(typed) == value


@pytest.mark.parametrize("typed", ["0", "101", "-1", "8.5", "eighty", "٨٠"])
def test_shares_refused(typed) -> None:
    with pytest.raises(FieldError):
        parse_percent(typed)


def test_duplicates_dropped_and_sorted() -> None:
    assert check_values(["20,000", "5,000", "20000", ""], parse_threshold) == \
        ([5000, 20000], [])
    values, problems = check_values(["7", "x"], parse_percent)
    assert values == [7] and problems[0][0] == 1
    assert describe_settings([], []) == "Alerts on no balance alerts; no member usage alerts."


async def open_settings(pilot):
    await settle(pilot)
    await pilot.press("s")
    await settle(pilot)
    return pilot.app.screen.query_one(AlertForm)


async def test_owner_sees_the_saved_settings_and_bad_values_are_said(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        assert form.query_one("#alert-balance-0", Input).value == "50,000"
        assert [form.query_one(f"#alert-share-{n}", Input).value for n in range(3)] == \
            ["80", "100", ""]
        form.query_one("#alert-share-2", Input).value = "150"
        await settle(pilot)
        error = text_of(form.query_one("#alert-share-error"))
        assert error.startswith("Member usage share 3: 150 is not a share from 1% to 100%")
        assert form.query_one("#alerts-save", Button).disabled
        assert "Nothing is saved until every field is valid." in text_of(
            form.query_one("#alert-summary"))


async def test_owner_saves_sorted_without_duplicates(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        for name, value in (("alert-balance-0", "20,000"), ("alert-balance-1", "60000"),
                            ("alert-balance-2", "20000"), ("alert-share-0", "90"),
                            ("alert-share-1", ""), ("alert-share-2", "50%")):
            form.query_one(f"#{name}", Input).value = value
        await settle(pilot)
        summary = text_of(form.query_one("#alert-summary"))
        assert "balance below 20,000, 60,000 credits" in summary
        assert "members at 50%, 90% of their limit" in summary
        form.query_one("#alerts-save", Button).press()
        await settle(pilot)
        saved = demo_world.engine.session(demo_world.owner).alert_settings(demo_world.org_id)
        assert saved.balance_below == [20000, 60000] and saved.member_usage_percent == [50, 90]
        assert any(t.startswith("Alerts saved") for t in toasts(app))
        assert [form.query_one(f"#alert-balance-{n}", Input).value for n in range(3)] == \
            ["20,000", "60,000", ""]


async def test_admin_sees_alert_settings_disabled_with_the_reason(make_app) -> None:
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        gate = app.screen.query_one("#alerts-gate")
        assert "Owner only" in screen_text(app)
        assert gate.has_class("-refused")
        field = form.query_one("#alert-balance-0", Input)
        assert field.value == "50,000"   # admins see the settings
        assert field.is_disabled and "Owner only" in str(field.tooltip)
        assert form.query_one("#alerts-save", Button).disabled


async def test_switching_context_resets_the_alert_form(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        form.query_one("#alert-balance-1", Input).value = "12,345"
        await app.run_action(f"switch_context({demo_world.personal_account_id!r})")
        await settle(pilot)
        assert [form.query_one(f"#alert-balance-{n}", Input).value for n in range(2)] == \
            ["", ""]


async def test_enter_in_a_field_saves_the_alerts(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        field = form.query_one("#alert-balance-1", Input)
        field.focus()
        await pilot.press("7", "0", "0", "0", "enter")
        await settle(pilot)
        saved = demo_world.engine.session(demo_world.owner).alert_settings(demo_world.org_id)
        assert saved.balance_below == [7000, 50000]
