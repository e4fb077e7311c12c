"""What keeps the loop free on the big demo's tour (bench/tui_stall.py), checked on a small
world: the work each fix removes, and that the screens look and behave as before."""

from __future__ import annotations

from .pilot_helpers import SIZE, settle


async def open_settings(app, pilot):
    await settle(pilot)
    await pilot.press("s")
    await settle(pilot)
    return app.screen


def count_style_applications(app) -> list:
    """Every node the stylesheet restyles from now on (wraps the public `apply`)."""
    styled: list = []
    apply = app.stylesheet.apply

    def counting(node, *args, **kwargs):
        styled.append(node)
        return apply(node, *args, **kwargs)

    app.stylesheet.apply = counting
    return styled


def styles_of(root) -> list[tuple[object, dict]]:
    return [(node, dict(node.styles.get_rules()))
            for node in root.walk_children(with_self=True)]


async def test_focusing_the_settings_scroll_restyles_only_the_scroll(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        scroll = screen.query_one("#settings-scroll")
        assert app.focused is scroll
        inside = len(list(scroll.walk_children()))
        assert inside > 50  # the restyle that was saved is that big
        screen.query_one("#threshold").focus()
        await pilot.pause()
        styled = count_style_applications(app)
        scroll.focus()
        await pilot.pause()
        assert app.focused is scroll
        # In the scroll: the container and the field that lost focus with its parts (the footer restyles
        # its keys as well); Textual's own handler restyled every widget in the scroll.
        in_scroll = [node for node in styled if scroll in node.ancestors_with_self]
        assert scroll in in_scroll and len(in_scroll) < 10, len(in_scroll)


async def test_the_settings_scroll_looks_as_after_a_full_restyle(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        scroll = screen.query_one("#settings-scroll")
        for focused in (scroll, screen.query_one("#threshold"), scroll):
            focused.focus()
            await pilot.pause()
            mine = styles_of(scroll)
            app.update_styles(scroll)  # what Textual does on focus: everything inside
            assert styles_of(scroll) == mine


async def test_the_help_table_is_drawn_at_one_width(make_app) -> None:
    from creditdesk.tui.help import HelpScreen, KeyTable

    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(app, pilot)  # the screen with the most keys
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(KeyTable)
        help_body = app.screen.query_one("#help")
        assert help_body.max_scroll_y > 0  # it scrolls at 80x24: a scrollbar is shown
        # The width inside the dialog with its scrollbar, and no other.
        assert table.widths_drawn == {table.size.width}


async def test_a_first_visit_styles_each_widget_about_once(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        styled = count_style_applications(app)
        await pilot.press("s")
        await settle(pilot)
        widgets = len(list(app.screen.walk_children(with_self=True)))
        # Mounting styles each widget and its parts, and each class a widget adds while
        # mounting restyles it again: ~5 applications a widget (496 for 102). Textual's two
        # restyles of the whole screen on showing it, right after, changed nothing: skipped
        # now, they made ~9 a widget (956).
        assert len(styled) < 7 * widgets, (len(styled), widgets)


async def test_a_theme_changed_while_away_still_restyles_the_screen(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(app, pilot)
        title = screen.query_one(".section-title")
        before = title.styles.color
        await pilot.press("o")
        await settle(pilot)
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert app.screen is screen
        shown = styles_of(screen)
        app.update_styles(screen)  # a full restyle under the new theme
        assert styles_of(screen) == shown
        assert title.styles.color != before
