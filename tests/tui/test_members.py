"""Members: the Line API table (sort, filter, cursor) and the owner's limit form."""

from __future__ import annotations

import pytest

from creditdesk.models import MemberUsage
from creditdesk.money import format_credits
from creditdesk.tui.form_checks import parse_limit
from creditdesk.tui.screens.members import LimitForm
from creditdesk.tui.widgets.member_table import MemberTable, closeness_cell
from creditdesk.tui.widgets.member_view import MemberView

from .pilot_helpers import SIZE, settle, text_of, toasts


def member(user_id: str, name: str, used: int, limit: int | None,
           role: str = "member") -> MemberUsage:
    return MemberUsage(user_id=user_id, name=name, role=role, used_this_period=used,
                       limit=limit)


PEOPLE = [member("ann", "Ann Lee", 300, None, "owner"), member("bob", "Bob Stone", 900, 1_000,
                                                                "admin"),
          member("cy", "Cy Park", 0, 500), member("dee", "Dee Ito", 800, 800)]


def ids(view: MemberView) -> list[str]:
    return [m.user_id for m in view.rows]


def test_view_sorts_by_each_column_and_reverses() -> None:
    view = MemberView()
    view.set_members(PEOPLE)
    assert ids(view) == ["bob", "dee", "ann", "cy"]  # default: most used first
    view.sort_by("name")
    assert ids(view) == ["ann", "bob", "cy", "dee"]
    view.sort_by("name")
    assert ids(view) == ["dee", "cy", "bob", "ann"]
    view.sort_by("limit")  # largest first; no limit counts as the largest
    assert ids(view) == ["ann", "bob", "dee", "cy"]
    view.sort_by("close")  # dee is at her limit, bob at 90%
    assert ids(view)[:2] == ["dee", "bob"]
    view.sort_by("role")
    assert ids(view)[0] == "cy"


def test_view_filters_on_every_word_and_computes_shares() -> None:
    view = MemberView()
    view.set_members(PEOPLE)
    view.set_filter("  ADMIN  stone ")
    assert ids(view) == ["bob"]
    view.set_filter("nobody")
    assert ids(view) == []
    view.set_filter("")
    assert len(view.rows) == 4
    assert view.share(PEOPLE[1]) == 0.45  # 900 of 2,000


def test_closeness_cell_says_stop_in_words() -> None:
    assert closeness_cell(PEOPLE[3])[1].strip() == "STOP"
    assert closeness_cell(PEOPLE[0]) == ("", "no limit")
    assert closeness_cell(PEOPLE[1])[1].strip() == "90%"


async def open_members(app, pilot):
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    return app.screen, app.screen.query_one(MemberTable)


async def test_keyboard_sort_filter_and_cursor(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        assert app.focused is table
        assert len(table.view.rows) == 24
        await pilot.press("1")
        names = [m.name.casefold() for m in table.view.rows]
        assert names == sorted(names)
        header = "".join(segment.text for segment in table.render_line(0))
        assert "▲Name" in header and "Used" in header
        await pilot.press("4")  # 1 name, 2 id, 3 role, 4 used
        used = [m.used_this_period for m in table.view.rows]
        assert used == sorted(used, reverse=True)
        await pilot.press("down", "down")
        assert table.cursor == 2
        assert table.current.name in text_of(screen.query_one("#selected"))
        await pilot.press("end")
        assert table.cursor == 23
        await pilot.press("slash", *"dana")
        await settle(pilot)
        assert [m.name for m in table.view.rows] == ["Dana Reyes"]
        assert table.cursor == 0
        await pilot.press("escape")
        assert app.focused is table
        assert len(table.view.rows) == 1  # leaving the filter keeps it


async def test_owner_edits_a_limit_in_the_engine(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press("slash", *"chidi", "enter")
        assert table.current.user_id == "chidi"
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, LimitForm)
        field = app.screen.query_one("#limit")
        field.value = ""
        await pilot.press(*"12,000", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, LimitForm)
        assert any("12,000 credits" in message for message in toasts(app))
        assert table.current.limit == 12_000  # reloaded from the backend
    engine_view = demo_world.engine.session(demo_world.owner).members(demo_world.org_id)
    assert next(m for m in engine_view if m.user_id == "chidi").limit == 12_000


async def test_limit_form_refuses_bad_values_and_saves_nothing(make_app, demo_world) -> None:
    session = demo_world.engine.session(demo_world.owner)
    before = {m.user_id: m.limit for m in session.members(demo_world.org_id)}
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        for typed, words in (("12x", "not a whole number"), ("-5", "negative"),
                             ("2000000000000", "At most")):
            form.query_one("#limit").value = typed
            await pilot.pause()
            note = form.query_one("#limit-error")
            assert note.is_shown and words in text_of(note)
            assert form.query_one("#save").disabled
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is form
        await pilot.press("escape")
        await settle(pilot)
    assert {m.user_id: m.limit for m in session.members(demo_world.org_id)} == before


async def test_empty_limit_means_no_limit(make_app, demo_world) -> None:
    stopped = demo_world.stopped_member
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press("slash", *stopped, "enter")
        assert table.current.user_id == stopped and table.current.limit is not None
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#limit").value = ""
        await pilot.press("enter")
        await settle(pilot)
    members = demo_world.engine.session(demo_world.owner).members(demo_world.org_id)
    assert next(m for m in members if m.user_id == stopped).limit is None


async def test_admin_sees_the_control_disabled_and_cannot_edit(make_app, demo_world) -> None:
    session = demo_world.engine.session(demo_world.owner)
    before = {m.user_id: m.limit for m in session.members(demo_world.org_id)}
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        gate = screen.query_one("#edit-gate")
        button = screen.query_one("#edit")
        assert button.disabled
        assert "Owner only" in str(button.tooltip)
        reason = gate.query_one(".role-reason")
        assert reason.display and "Owner only" in text_of(reason)
        await pilot.press("e")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        await app.run_palette_action(screen, "edit_limit")
        await settle(pilot)
        assert app.screen is screen
    assert {m.user_id: m.limit for m in session.members(demo_world.org_id)} == before


async def test_member_is_told_the_list_is_for_admins(make_app) -> None:
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        notice = app.screen.query_one("#view-refused")
        assert notice.display and "for admins and owners" in text_of(notice)
        assert not app.screen.query_one("#body").display
        assert len(app.screen.view.members) == 0  # nothing was fetched


async def test_row_shows_used_limit_and_share(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press("slash", *demo_world.stopped_member, "enter")
        current = table.current
        line = "".join(segment.text for segment in table.render_line(1))
        assert format_credits(current.used_this_period, unit=False) in line
        assert format_credits(current.limit, unit=False) in line
        assert "STOP" in line and "%" in line


async def test_clicking_a_column_title_sorts_by_it(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        header = "".join(segment.text for segment in table.render_line(0))
        await pilot.click(MemberTable, offset=(header.index("Limit"), 0))
        await settle(pilot)
        assert table.view.sort_key == "limit"
        await pilot.click(MemberTable, offset=(header.index("Role"), 0))
        await settle(pilot)
        assert table.view.sort_key == "role"
        await pilot.click(MemberTable, offset=(5, 3))  # a row: moves the cursor, no sort
        await settle(pilot)
        assert table.view.sort_key == "role" and table.cursor == 2


# --- issue 10, section 3 ---------------------------------------------------------------
async def test_a_new_sort_starts_at_the_top(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press(*["down"] * 20)
        assert table.cursor == 20 and table.scroll_y > 0
        await pilot.press("1")
        await settle(pilot)
        assert table.cursor == 0 and table.scroll_y == 0
        assert table.current == table.view.rows[0]


async def test_an_id_column_tells_same_names_apart(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        header = "".join(segment.text for segment in table.render_line(0))
        assert "2Id" in header
        row = "".join(segment.text for segment in table.render_line(1))
        assert table.view.rows[0].user_id in row
        assert table.view.rows[0].user_id in text_of(screen.query_one("#selected"))


async def test_the_filter_counts_its_matches(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press("slash", *"owner")
        await settle(pilot)
        matched = len(table.view.rows)
        assert f"{matched:,} of 24 members match" in text_of(screen.query_one("#selected"))


async def test_a_personal_account_speaks_of_you(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        personal = next(c for c in app.identity.contexts if c.kind == "personal")
        await app.run_action(f"switch_context({personal.account_id!r})")
        screen, table = await open_members(app, pilot)
        assert not table.display and not screen.query_one("#edit-gate").display
        text = text_of(screen.query_one("#personal"))
        assert "your personal account" in text and "members" not in text
        await pilot.press("i")
        await settle(pilot)
        assert "1 invoices" not in text_of(app.screen.query_one("#summary"))


@pytest.mark.parametrize("typed, limit", [("none", None), ("", None), ("No limit", None),
                                          ("1,000", 1_000), ("0", 0)])
def test_a_limit_accepts_what_the_table_shows(typed, limit) -> None:
    assert parse_limit(typed) == limit


async def test_cursor_moves_redraw_two_lines_not_the_table(make_app) -> None:
    """watch_cursor asks for the old and the new row only (refresh_line, header first)."""
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        lines, whole = [], []
        table.refresh_line = lines.append
        table.refresh = lambda *args, **kwargs: whole.append(args)
        await pilot.press("down")
        await pilot.pause()
        assert sorted(lines) == [1, 2] and whole == []


async def test_export_writes_the_members_shown(make_app, tmp_path) -> None:
    import csv

    from textual.widgets import Input

    from creditdesk.tui.widgets.export_form import ExportForm

    app = make_app("admin")
    target = tmp_path / "members.csv"
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_members(app, pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExportForm)
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        shown = list(table.view.rows)
    rows = list(csv.DictReader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["user_id"] for r in rows] == [m.user_id for m in shown]
    for row, person in zip(rows, shown):
        assert row["limit"] == ("" if person.limit is None else str(person.limit))
        assert int(row["used_this_period"]) == person.used_this_period
