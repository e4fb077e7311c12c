"""The Activity screen: the ledger newest first, paged with `before`, filters, one entry's
details, the jump from an invoice, and the CSV export (admins and owners)."""

from __future__ import annotations

import csv
from datetime import UTC

from textual.widgets import DataTable, Input

from creditdesk.tui.screens.activity import (
    PAGE,
    ActivityScreen,
    EntryDetail,
    LedgerFilter,
    merge_newest,
)
from creditdesk.tui.screens.invoices import InvoiceDetail
from creditdesk.tui.widgets.export_form import ExportForm

from .pilot_helpers import SIZE, screen_text, settle, toasts


def ledger(world, **filters):
    """Every entry the filters keep, newest first, a backend page at a time."""
    session, entries, before = world.engine.session(world.owner), [], None
    while True:
        page = session.ledger(world.org_id, limit=1000, before=before, **filters)
        entries += page
        if len(page) < 1000:
            return entries
        before = page[-1].id


async def open_activity(pilot) -> ActivityScreen:
    await settle(pilot)
    await pilot.press("v")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ActivityScreen)
    return screen


def first_column(app) -> list[str]:
    grid = app.screen.query_one("#table", DataTable)
    return [str(grid.get_row_at(row)[0]).strip() for row in range(grid.row_count)]


async def test_one_page_newest_first_then_more_as_you_scroll(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        every = ledger(demo_world)
        assert len(every) > 2 * PAGE, "the demo world has a few pages of entries"
        # Only the first page was asked for, newest first.
        assert [e.id for e in screen.entries] == [e.id for e in every[:PAGE]]
        assert first_column(app)[0] == f"{every[0].at:%Y-%m-%d %H:%M}"
        assert "more load as you scroll" in screen_text(app)
        await pilot.press(*["pagedown"] * 7)
        await settle(pilot)
        assert [e.id for e in screen.entries] == [e.id for e in every[:2 * PAGE]]
        assert screen.query_one("#table", DataTable).row_count == 2 * PAGE


async def test_enter_shows_an_entrys_references(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        usage = next(n for n, e in enumerate(screen.entries) if e.idempotency_key)
        screen.query_one("#table", DataTable).move_cursor(row=usage)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EntryDetail)
        entry = screen.entries[usage]
        text = screen_text(app)
        assert entry.idempotency_key in text and f"#{entry.id}" in text
        assert entry.ref in text  # its campaign
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


async def test_kind_filter_goes_to_the_backend(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        await pilot.press("k", "k")  # all kinds -> grant -> rollover
        await settle(pilot)
        assert screen.filter == LedgerFilter(kind="rollover")
        expected = ledger(demo_world, kind="rollover")
        assert expected and [e.id for e in screen.entries] == [e.id for e in expected]
        assert "kind rollover" in screen_text(app)
        await pilot.press("x")
        await settle(pilot)
        assert screen.filter == LedgerFilter()
        assert len(screen.entries) == PAGE


async def test_member_filter_by_name(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        member = demo_world.engine.session(demo_world.owner).members(demo_world.org_id)[3]
        await pilot.press("slash")
        screen.query_one("#member", Input).value = member.name.upper()
        await pilot.press("enter")
        await settle(pilot)
        assert screen.filter.user_id == member.user_id
        assert screen.entries and all(e.actor == member.user_id for e in screen.entries)
        assert app.screen.focused is screen.query_one("#table")


async def test_an_unknown_member_is_said_and_changes_nothing(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        await pilot.press("slash")
        screen.query_one("#member", Input).value = "nobody at all"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.filter == LedgerFilter()
        assert any("No member is called" in message for message in toasts(app))


async def test_from_an_invoice_to_its_entries(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        invoices = app.screen.shown
        bought = next(n for n, i in enumerate(invoices) if i.kind == "purchase"
                      and i.status == "paid")
        app.screen.query_one("#table", DataTable).move_cursor(row=bought)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InvoiceDetail)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ActivityScreen)
        invoice = invoices[bought]
        assert screen.filter == LedgerFilter(invoice_id=invoice.id)
        assert screen.entries and all(e.ref == invoice.id for e in screen.entries)
        assert f"Only invoice {invoice.id}" in screen_text(app)


async def test_export_writes_every_page_for_a_spreadsheet(make_app, demo_world,
                                                          tmp_path) -> None:
    app = make_app("admin")
    target = tmp_path / "ledger.csv"
    async with app.run_test(size=SIZE) as pilot:
        await open_activity(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ExportForm)
        form.query_one("#path", Input).value = str(target)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        every = ledger(demo_world)
        assert any(f"Exported {len(every):,} ledger entries" in m for m in toasts(app))
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so spreadsheets read UTF-8
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [int(r["id"]) for r in rows] == [e.id for e in every]
    for row, entry in zip(rows, every):
        assert row["time_utc"] == entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["rollover"] == ("" if entry.rollover == 0 else str(entry.rollover))
        assert int(row["balance_after"]) == entry.balance_after


async def test_member_is_told_the_ledger_is_for_admins(make_app) -> None:
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        assert "The ledger (every credit in and out) is for admins and owners" in \
            screen_text(app)
        assert not screen.query_one("#body").display
        assert screen.entries == []


async def test_context_switch_resets_the_filters(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_activity(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert screen.filter.kind == "grant"
        personal = next(c for c in app.identity.contexts if c.kind == "personal")
        await app.run_action(f"switch_context({personal.account_id!r})")
        await settle(pilot)
        assert screen.filter == LedgerFilter()
        assert screen.query_one("#kind").value == ""
        assert all(e.account_id == personal.account_id for e in screen.entries)


def test_a_quiet_reload_keeps_the_pages_scrolled_through(demo_world) -> None:
    every = ledger(demo_world)
    shown = every[5:5 + 2 * PAGE]           # two pages, five entries ago
    fresh = every[:PAGE]                     # the new first page
    assert [e.id for e in merge_newest(fresh, shown)] == [e.id for e in every[:5 + 2 * PAGE]]
    # Nothing in common with a full fresh page: entries may be missing, keep only it.
    assert merge_newest(every[:PAGE], every[3 * PAGE:4 * PAGE]) == every[:PAGE]
