"""A screen's first visit styles its own widgets, not the whole app; the rest of the
dashboard is imported off the loop once the first figures are shown."""

from __future__ import annotations

from textual.color import Color
from textual.css.stylesheet import CssSource

from creditdesk.tui.styles import RestyleGate

from .pilot_helpers import SIZE, settle

VARIABLES = {"primary": "#0178d4"}
APP_CLASSES = frozenset({"-dark-mode", "-theme-textual-dark"})


def sources(*entries: tuple[str, bool, str]) -> dict:
    return {(name, ""): CssSource("X { }", is_defaults, 0, scope)
            for name, is_defaults, scope in entries}


def test_gate_refreshes_the_first_time_then_only_when_something_changed() -> None:
    gate = RestyleGate()
    first = sources(("app.tcss", False, ""))
    assert gate.needed(VARIABLES, APP_CLASSES, first)
    assert not gate.needed(VARIABLES, APP_CLASSES, first)
    # A widget's scoped default sheet arrives with the widgets it styles: no full refresh.
    widget = first | sources(("Chart.DEFAULT_CSS", True, "Chart"))
    assert not gate.needed(VARIABLES, APP_CLASSES, widget)
    # Anything that can change what existing widgets resolve to does refresh.
    assert gate.needed({"primary": "#ffffff"}, APP_CLASSES, widget)
    assert gate.needed({"primary": "#ffffff"}, frozenset({"-light-mode"}), widget)
    assert gate.needed({"primary": "#ffffff"}, frozenset({"-light-mode"}),
                       widget | sources(("usage.tcss", False, "")))
    assert gate.needed({"primary": "#ffffff"}, frozenset({"-light-mode"}),
                       widget | sources(("usage.tcss", False, ""),
                                        ("Global.DEFAULT_CSS", True, "")))
    # A stylesheet edited in place (Textual's --dev reload) is seen as well.
    edited = dict(widget | sources(("usage.tcss", False, ""), ("Global.DEFAULT_CSS", True, "")))
    assert not gate.needed({"primary": "#ffffff"}, frozenset({"-light-mode"}), edited)
    edited[("usage.tcss", "")] = CssSource("Y { }", False, 0, "")
    assert gate.needed({"primary": "#ffffff"}, frozenset({"-light-mode"}), edited)


async def test_first_visit_of_a_screen_does_not_restyle_the_others(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The overview's widgets as they are now (its footer re-mounts its keys by itself).
        before = set(app.screen.walk_children(with_self=True))
        restyled = []
        apply = app.stylesheet.apply

        def counting(node, **options):
            if node in before:
                restyled.append(node)
            return apply(node, **options)

        app.stylesheet.apply = counting
        for key in ("u", "m", "s"):
            await pilot.press(key)
            await settle(pilot)
        app.stylesheet.apply = apply
        # Before, each first visit re-parsed every rule and restyled every screen mounted.
        assert restyled == []


async def test_a_theme_change_still_restyles_every_screen(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        usage = app.screen
        dark = usage.styles.background
        app.theme = "textual-light"
        await settle(pilot)
        assert usage.styles.background != dark
        await pilot.press("o")
        await settle(pilot)
        assert app.screen.styles.background == usage.styles.background
        assert app.screen.styles.background != Color.parse("black")


async def test_the_other_screens_are_imported_in_a_thread_after_the_first_figures(
        make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The warm-up worker starts after the refresh that painted the figures.
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert app.warm_up_done


async def test_help_draws_its_key_table_once_per_width(make_app, monkeypatch) -> None:
    from rich.table import Table

    from creditdesk.tui.help import HelpScreen

    drawn = []
    render = Table.__rich_console__

    def counting(table, console, options):
        drawn.append((id(table), options.max_width))
        return render(table, console, options)

    monkeypatch.setattr(Table, "__rich_console__", counting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        drawn.clear()
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        # In a Static it was drawn five times on opening, at two widths.
        assert drawn and len(drawn) == len(set(drawn))
        assert "Command palette" in "".join(
            strip.text for strip in (app.screen.query_one("KeyTable").render_line(y)
                                     for y in range(30)))
