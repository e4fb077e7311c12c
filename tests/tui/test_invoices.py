"""The Invoices screen: the list, one invoice's details, the CSV export, owners only."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC
from decimal import Decimal

import pytest
from textual.widgets import Button, DataTable, Input

from creditdesk.money import format_cents
from creditdesk.tui.screens.invoices import (
    CSV_COLUMNS,
    InvoiceDetail,
    InvoicesScreen,
    invoices_csv,
)
from creditdesk.tui.widgets.export_form import (
    ExportForm,
    ExportPathError,
    check_export_path,
    default_export_path,
)

from .pilot_helpers import SIZE, screen_text, settle, text_of, toasts


def backend_invoices(world):
    return world.engine.session(world.owner).invoices(world.org_id)


async def open_invoices(pilot) -> InvoicesScreen:
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, InvoicesScreen)
    return screen


def cells(app) -> list[list[str]]:
    grid = app.screen.query_one("#table", DataTable)
    return [[str(getattr(v, "plain", v)) for v in grid.get_row_at(i)]
            for i in range(grid.row_count)]


def test_csv_is_plain_and_machine_readable(demo_world) -> None:
    invoices = backend_invoices(demo_world)
    rows = list(csv.DictReader(io.StringIO(invoices_csv(invoices))))
    assert tuple(rows[0]) == CSV_COLUMNS
    for row, invoice in zip(rows, invoices, strict=True):
        assert row["amount_usd"] == f"{Decimal(invoice.amount_cents) / 100:.2f}"
        assert "$" not in row["amount_usd"] and "," not in row["credits"]
        assert len(row["amount_usd"].split(".")[1]) == 2


def test_default_path_is_a_safe_file_name() -> None:
    assert default_export_path("invoices", "acme") == "~/creditdesk-invoices-acme.csv"
    assert default_export_path("ledger", "personal:ann") == \
        "~/creditdesk-ledger-personal-ann.csv"


def test_export_path_refuses_folders_and_missing_folders(tmp_path) -> None:
    with pytest.raises(ExportPathError, match="is a folder"):
        check_export_path(str(tmp_path))
    with pytest.raises(ExportPathError, match="does not exist"):
        check_export_path(str(tmp_path / "nope" / "x.csv"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ExportPathError, match="is a file, not a folder"):
        check_export_path(str(tmp_path / "notes.txt" / "x.csv"))
    with pytest.raises(ExportPathError, match="Enter the path"):
        check_export_path("   ")
    assert check_export_path(str(tmp_path / "x.csv")) == tmp_path / "x.csv"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_export_path_refuses_a_read_only_folder(tmp_path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ExportPathError, match="Cannot write in"):
            check_export_path(str(locked / "x.csv"))
    finally:
        locked.chmod(0o700)


async def test_owner_sees_every_invoice_newest_first(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await open_invoices(pilot)
        invoices = backend_invoices(demo_world)
        rows = cells(app)
        assert [r[0] for r in rows] == [i.number for i in invoices]
        for row, invoice in zip(rows, invoices):
            assert row[1] == f"{invoice.created_at:%Y-%m-%d}"
            assert row[4] == format_cents(invoice.amount_cents)
            assert ("FAILED" in row[5]) == (invoice.status == "failed")
        failed = [i for i in invoices if i.status == "failed"]
        assert failed, "the demo world has a declined purchase"
        assert f"{len(failed)} FAILED" in screen_text(app)


async def test_enter_opens_the_selected_invoice(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await open_invoices(pilot)
        invoices = backend_invoices(demo_world)
        failed_at = next(n for n, i in enumerate(invoices) if i.status == "failed")
        for _ in range(failed_at):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InvoiceDetail)
        invoice = invoices[failed_at]
        text = screen_text(app)
        for expected in (invoice.number, invoice.description, invoice.payment_method,
                         format_cents(invoice.amount_cents), "FAILED", "declined"):
            assert expected in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InvoicesScreen)


async def test_export_writes_the_backends_invoices(make_app, demo_world, tmp_path) -> None:
    app = make_app("owner")
    target = tmp_path / "invoices.csv"
    async with app.run_test(size=SIZE) as pilot:
        await open_invoices(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ExportForm)
        assert form.query_one("#path", Input).value == "~/creditdesk-invoices-acme.csv"
        form.query_one("#path", Input).value = str(target)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InvoicesScreen)
        invoices = backend_invoices(demo_world)
        assert any(str(target) in message and f"{len(invoices)} invoices" in message
                   for message in toasts(app))
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets then read UTF-8
    rows = list(csv.DictReader(target.open(encoding="utf-8-sig", newline="")))
    assert [(r["number"], r["date"], r["kind"], r["credits"], Decimal(r["amount_usd"]),
             r["status"], r["description"], r["payment_method"]) for r in rows] == [
        (i.number, i.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), i.kind,
         "" if i.kind == "subscription" else str(i.credits),  # the screen's "—"
         Decimal(i.amount_cents) / 100, i.status, i.description, i.payment_method)
        for i in invoices]


async def test_export_refuses_a_folder_and_writes_nothing(make_app, tmp_path) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await open_invoices(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        form.query_one("#path", Input).value = str(tmp_path)
        await pilot.pause()
        assert "is a folder" in screen_text(app)
        assert form.query_one("#export", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form  # still asking; nothing was written
        assert list(tmp_path.iterdir()) == []
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InvoicesScreen)
        assert not any("Exported" in message for message in toasts(app))


async def test_admin_is_told_invoices_are_for_owners(make_app) -> None:
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_invoices(pilot)
        text = screen_text(app)
        assert "Owner only: invoices of Acme Robotics are for its owners" in text
        assert not screen.query_one("#table").display
        for button in ("#open", "#export"):
            control = screen.query_one(button, Button)
            assert control.disabled and "Owner only" in str(control.tooltip)
        assert screen.check_action("export_csv", ()) is None  # dimmed in the footer
        await pilot.press("e")
        await settle(pilot)
        assert app.screen is screen  # no export form for an admin


# --- issue 10, section 3 ---------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 100])
async def test_descriptions_fit_without_sideways_scrolling(make_app, demo_world,
                                                           width) -> None:
    app = make_app("owner")
    async with app.run_test(size=(width, 30)) as pilot:
        screen = await open_invoices(pilot)
        grid = screen.query_one("#table", DataTable)
        assert grid.max_scroll_x == 0  # no horizontal scrollbar, nothing off to the side
        longest = max(backend_invoices(demo_world), key=lambda i: len(i.description))
        grid.move_cursor(row=screen.shown.index(longest))
        await pilot.pause()
        # In full beside the table (and wrapped in its column where there is room).
        assert longest.description in text_of(screen.query_one("#selected"))


async def test_search_keeps_the_matching_invoices(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_invoices(pilot)
        everything = backend_invoices(demo_world)
        await pilot.press("slash", *"failed")
        await settle(pilot)
        failed = [i for i in everything if i.status == "failed"]
        assert [i.id for i in screen.shown] == [i.id for i in failed]
        assert screen.query_one("#table", DataTable).row_count == len(failed)
        assert f"{len(failed)} of {len(everything)} match" in text_of(
            screen.query_one("#selected"))
        await pilot.press("escape")
        assert app.focused is screen.query_one("#table")
