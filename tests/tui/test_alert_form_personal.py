"""Issue 10, item 8: a personal account's alert form speaks of you, not of members.

You are a personal account's only member and cannot set a limit on yourself, so a member
usage alert there could never fire: the form hides that row and its words, and a save keeps
the shares stored (the rules allow them; the dashboard just does not offer them).
"""

from __future__ import annotations

from textual.app import App, ComposeResult

from creditdesk.models import AlertSettings
from creditdesk.tui.widgets.alert_form import AlertForm

from .pilot_helpers import SIZE, settle, text_of
from .test_alert_settings import open_settings

SAVED = AlertSettings(balance_below=[5_000], member_usage_percent=[80])


class FormApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.saved: list[AlertForm.Save] = []

    def compose(self) -> ComposeResult:
        yield AlertForm(blink=False, id="alert-form")

    def on_alert_form_save(self, message: AlertForm.Save) -> None:
        self.saved.append(message)


async def test_a_personal_account_is_not_offered_member_usage_alerts() -> None:
    app = FormApp()
    async with app.run_test(size=SIZE) as pilot:
        form = app.query_one(AlertForm)
        form.editable = True
        form.fill(SAVED)
        await pilot.pause()
        assert form.query_one("#alert-shares").display
        assert "members at 80%" in text_of(form.query_one("#alert-summary"))
        form.personal = True
        await pilot.pause()
        assert not form.query_one("#alert-shares").display
        summary = text_of(form.query_one("#alert-summary"))
        assert summary == "Alerts on balance below 5,000 credits." and "member" not in summary
        # A mistake in the hidden row cannot hide its note either: none is shown.
        form.query_one("#alert-share-0").value = "250"
        await pilot.pause()
        assert not form.query_one("#alert-share-error").display
        form.query_one("#alert-share-0").value = "80"
        await pilot.pause()
        form.query_one("#alerts-save").press()
        await pilot.pause()
        assert [(m.balance_below, m.member_usage_percent) for m in app.saved] == [([5_000], [80])]
        # Back in an organization, the row and its words come back.
        form.personal = False
        await pilot.pause()
        assert form.query_one("#alert-shares").display
        assert "members at 80%" in text_of(form.query_one("#alert-summary"))


async def test_settings_in_the_personal_context_hides_member_usage_alerts(make_app,
                                                                          demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        assert form.query_one("#alert-shares").display          # Acme: members' shares
        await app.run_action(f"switch_context({demo_world.personal_account_id!r})")
        await settle(pilot)
        assert form.personal and not form.query_one("#alert-shares").display
        assert "member" not in text_of(form.query_one("#alert-summary"))
        await app.run_action(f"switch_context({demo_world.org_id!r})")
        await settle(pilot)
        assert not form.personal and form.query_one("#alert-shares").display
