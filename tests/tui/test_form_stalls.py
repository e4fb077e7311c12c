"""Filling a form from the backend restyles none of its fields (bench/tui_stall.py: Settings
fills six of them on its first visit, each restyle 5-10 ms of the event loop)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from creditdesk.tui.widgets.form_input import FormInput

from .pilot_helpers import SIZE


class FormApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FormInput(id="plain", blink=False)


async def test_a_value_set_from_the_backend_does_not_restyle_the_field(monkeypatch) -> None:
    app = FormApp()
    async with app.run_test(size=SIZE) as pilot:
        field = app.query_one("#plain", FormInput)
        assert field.has_class("-valid")  # as Textual marks it once a value is set
        restyled = []
        update = type(app).update_styles

        def noting(self, node=None, **options):
            restyled.append(node)
            return update(self, node, **options)

        monkeypatch.setattr(type(app), "update_styles", noting)
        field.value = "1,000"
        await pilot.pause()
        assert field not in restyled
        assert field.has_class("-valid") and not field.has_class("-invalid")
