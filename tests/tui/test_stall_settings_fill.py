"""Settings' forms are filled with one check each: the fill sets every field without the
fields' Changed messages, each of which ran the form's check again (and with it a layout
pass of the whole screen for every note and line the check updates)."""

from __future__ import annotations

from creditdesk.models import AlertSettings
from creditdesk.tui.widgets.alert_form import AlertForm
from creditdesk.tui.widgets.error_note import ErrorNote
from creditdesk.tui.widgets.recharge_form import RechargeForm

from .pilot_helpers import SIZE, settle
from .test_settings import open_settings


def count_checks(form, calls: list[str]) -> None:
    check = form.check

    def counted(*args, **kwargs):
        calls.append(form.id)
        return check(*args, **kwargs)

    form.check = counted


async def test_a_fill_checks_each_form_once(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        recharge, alerts = screen.query_one(RechargeForm), screen.query_one(AlertForm)
        calls: list[str] = []
        count_checks(recharge, calls)
        count_checks(alerts, calls)
        saved = screen.recharge
        recharge.fill(saved.model_copy(update={"enabled": not saved.enabled,
                                               "threshold": 1_234,
                                               "monthly_cap_cents": 12_345}))
        alerts.fill(AlertSettings(balance_below=[4_000, 9_000], member_usage_percent=[75]))
        await settle(pilot)
        assert calls == ["recharge-form", "alert-form"]
        # ... and what they show is the new settings, checked.
        assert screen.query_one("#threshold").value == "1,234"
        assert screen.query_one("#alert-balance-1").value == "9,000"
        assert not screen.query_one("#threshold-error", ErrorNote).is_shown


async def test_clearing_an_empty_note_asks_for_no_layout(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        note = screen.query_one("#threshold-error", ErrorNote)
        asked: list[bool] = []
        refresh = note.refresh
        note.refresh = lambda *a, **k: asked.append(k.get("layout", False)) or refresh(*a, **k)
        note.clear()
        assert asked == []
        note.show_error("wrong")
        note.clear()
        await settle(pilot)
        assert not note.is_shown and str(note.content) == ""
