"""Invoices: what the account was billed for, each one's details, and a CSV export (owners)."""

from __future__ import annotations

import csv
import io
import os
import re
from decimal import Decimal
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from ...models import Context, Invoice
from ...money import format_cents, format_credits
from ..permissions import role_reason
from ..styles import stylesheet
from ..widgets.error_note import ErrorNote
from ..widgets.form_input import FormInput
from ..widgets.role_gate import RoleGate
from .base import BillingScreen

KIND_WORDS = {"subscription": "Subscription", "purchase": "Credit purchase",
              "recharge": "Auto-recharge"}
CSV_COLUMNS = ("number", "date", "kind", "credits", "amount_usd", "status", "description",
               "payment_method")


class ExportPathError(ValueError):
    """The typed path cannot take the CSV; str(error) says why, for the field."""


def status_text(invoice: Invoice) -> Text:
    # Words and a glyph, not colour alone: a failed payment must stand out in NO_COLOR too.
    if invoice.status == "failed":
        return Text("✗ FAILED", style="bold red")
    return Text("✓ paid")


def credits_text(invoice: Invoice) -> str:
    # A subscription buys the plan's monthly grant, not a number of credits of its own.
    return "—" if invoice.kind == "subscription" else format_credits(invoice.credits,
                                                                      unit=False)


def amount_dollars(cents: int) -> str:
    """Plain machine-readable dollars with two decimals, e.g. 499.00."""
    return f"{Decimal(cents) / 100:.2f}"


def invoices_csv(invoices: list[Invoice]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for invoice in invoices:
        writer.writerow((invoice.number, invoice.created_at.isoformat(), invoice.kind,
                         invoice.credits, amount_dollars(invoice.amount_cents),
                         invoice.status, invoice.description, invoice.payment_method))
    return out.getvalue()


def default_export_path(account_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", account_id).strip("-") or "account"
    return f"~/creditdesk-invoices-{safe}.csv"


def check_export_path(text: str) -> Path:
    """Where the CSV may be written, or ExportPathError saying why not (nothing written)."""
    if not text.strip():
        raise ExportPathError("Enter the path of the CSV file to write.")
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        raise ExportPathError(f"{path} is a folder; add a file name, e.g. "
                              f"{path / 'invoices.csv'}.")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise ExportPathError(f"{folder} is a file, not a folder.")
    if not folder.is_dir():
        raise ExportPathError(f"The folder {folder} does not exist.")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportPathError(f"{path} exists and cannot be overwritten.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportPathError(f"Cannot write in {folder}.")
    return path


def detail_rows(invoice: Invoice) -> list[tuple[str, str | Text]]:
    rows: list[tuple[str, str | Text]] = [
        ("Number", invoice.number),
        ("Date", f"{invoice.created_at:%Y-%m-%d %H:%M} UTC"),
        ("What for", KIND_WORDS[invoice.kind]),
        ("Description", invoice.description)]
    if invoice.kind != "subscription":
        rows.append(("Credits", format_credits(invoice.credits)))
    rows += [("Amount", format_cents(invoice.amount_cents)),
             ("Payment method", invoice.payment_method),
             ("Status", status_text(invoice))]
    return rows


def failure_note(invoice: Invoice) -> str:
    if invoice.status != "failed":
        return ""
    return ("The payment was declined: nothing was charged"
            + (" and no credits were added." if invoice.kind != "subscription"
               else "; the plan's credits were still granted."))


class InvoiceDetail(ModalScreen[None]):
    """One invoice in full; any of escape, enter or q closes it."""

    CSS_PATH = stylesheet("invoices.tcss")
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="invoices.detail.close")]

    def __init__(self, invoice: Invoice) -> None:
        super().__init__()
        self.invoice = invoice

    def compose(self) -> ComposeResult:
        with Vertical(id="invoice-detail", classes="dialog"):
            yield Label(f"Invoice {self.invoice.number}", classes="title")
            # One row per figure, so a long description wraps beside its label.
            for label, value in detail_rows(self.invoice):
                with Horizontal(classes="detail-row"):
                    yield Label(label, classes="detail-label")
                    yield Label(value, classes="detail-value")
            if self.invoice.status == "failed":
                yield Label(failure_note(self.invoice), id="failure-note")
            yield Label("escape or enter: close", classes="hint")


class ExportForm(ModalScreen[tuple[Path, int] | None]):
    """Asks where to write the CSV; the path is checked as you type and the file is written
    only when it is acceptable. Dismisses with the path written and how many invoices."""

    CSS_PATH = stylesheet("invoices.tcss")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="invoices.export.cancel")]

    def __init__(self, screen: InvoicesScreen, account_id: str) -> None:
        super().__init__()
        self.invoices_screen = screen
        self.account_id = account_id

    def compose(self) -> ComposeResult:
        with Vertical(id="export-form", classes="dialog"):
            yield Label("Export invoices as CSV", classes="title")
            yield Label("File", classes="field-label")
            yield FormInput(default_export_path(self.account_id), id="path", compact=True)
            yield ErrorNote(id="path-error")
            yield Static("", id="path-note", classes="muted")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Label("enter: export   escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()
        self.check()

    @on(Input.Changed, "#path")
    def check(self) -> Path | None:
        note = self.query_one(ErrorNote)
        hint = self.query_one("#path-note", Static)
        try:
            path = check_export_path(self.query_one("#path", Input).value)
        except ExportPathError as error:
            note.show_error(str(error))
            hint.update("")
            self.query_one("#export", Button).disabled = True
            return None
        note.clear()
        hint.update(f"Replaces the existing {path.name}." if path.exists() else "")
        self.query_one("#export", Button).disabled = False
        return path

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    async def export(self) -> None:
        path = self.check()
        if path is None:
            return  # the note already says what is wrong
        screen = self.invoices_screen
        try:
            # Fresh from the backend, so the file is the account's invoices right now.
            invoices = await screen.backend.invoices(self.account_id)
            path.write_text(invoices_csv(invoices), encoding="utf-8", newline="")
        except Exception as error:  # shown next to the field; a refusal writes nothing
            self.query_one(ErrorNote).show_error(
                f"Could not write {path}: {error.strerror or error}." if isinstance(error, OSError)
                else error)
            return
        self.dismiss((path, len(invoices)))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class InvoicesScreen(BillingScreen):
    """Owners see every invoice, newest first; admins and members see why they cannot, with
    the open and export controls disabled and the reason next to them."""

    MODE = "invoices"
    CSS_PATH = stylesheet("invoices.tcss")
    ROLE_ACTIONS = {"open_invoice": "view_invoices", "export_csv": "view_invoices"}
    BINDINGS = [
        Binding("enter", "open_invoice", "Details", id="invoices.open",
                tooltip="Show the selected invoice in full (owner only)"),
        Binding("e", "export_csv", "Export CSV", id="invoices.export",
                tooltip="Save every invoice of this account as a CSV file (owner only)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.invoices: list[Invoice] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="summary")
        yield Static("", id="owner-only", classes="banner -refused")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield RoleGate("view_invoices",
                       Button("Details (enter)", id="open", compact=True),
                       Button("Export CSV (e)", id="export", compact=True), id="actions")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#owner-only").display = False
        grid = self.query_one("#table", DataTable)
        grid.add_column("Number", key="number")
        grid.add_column("Date", key="date")
        grid.add_column("What for", key="kind")
        grid.add_column(Text("Credits", justify="right"), key="credits")
        grid.add_column(Text("Amount", justify="right"), key="amount")
        grid.add_column("Status", key="status")
        # Last, so at 80 columns the figures stay in view and this scrolls in.
        grid.add_column("Description", key="description")

    def on_context_changed(self, context: Context) -> None:
        self.invoices = []
        self.query_one("#table", DataTable).clear()

    async def load(self, context: Context) -> None:
        if not self.allows("view_invoices"):
            self._show_owner_only(context)
            return
        self.show_invoices(await self.backend.invoices(context.account_id))

    def _show_owner_only(self, context: Context) -> None:
        self.invoices = []
        self.query_one("#table").display = False
        self.query_one("#summary").display = False
        notice = self.query_one("#owner-only", Static)
        article = "an" if context.role[0] in "aeiou" else "a"
        notice.update(f"{role_reason('view_invoices')}: invoices of {context.name} are for "
                      f"its owners, and you are {article} {context.role} here. An owner can "
                      f"open and export them.")
        notice.display = True

    def show_invoices(self, invoices: list[Invoice]) -> None:
        self.invoices = invoices
        self.query_one("#owner-only").display = False
        grid = self.query_one("#table", DataTable)
        keep = grid.cursor_row
        grid.display = True
        grid.clear()
        for invoice in invoices:
            grid.add_row(invoice.number, f"{invoice.created_at:%Y-%m-%d}",
                         KIND_WORDS[invoice.kind],
                         Text(credits_text(invoice), justify="right"),
                         Text(format_cents(invoice.amount_cents), justify="right"),
                         status_text(invoice), invoice.description, key=invoice.id)
        if invoices:
            grid.move_cursor(row=min(keep, len(invoices) - 1), animate=False)
        failed = sum(1 for invoice in invoices if invoice.status == "failed")
        paid = sum(invoice.amount_cents for invoice in invoices if invoice.status == "paid")
        summary = self.query_one("#summary", Static)
        summary.display = True
        if not invoices:
            summary.update("No invoices yet.")
            return
        text = Text(f"{len(invoices):,} invoices, {format_cents(paid)} paid")
        if failed:
            text.append(f"; {failed:,} FAILED (declined, nothing charged)", style="bold red")
        summary.update(text)

    @property
    def selected(self) -> Invoice | None:
        grid = self.query_one("#table", DataTable)
        if not self.invoices or not grid.display:
            return None
        return self.invoices[min(grid.cursor_row, len(self.invoices) - 1)]

    # --- actions ----------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#table")
    def row_chosen(self) -> None:
        self.action_open_invoice()

    @on(Button.Pressed, "#open")
    def open_pressed(self) -> None:
        self.action_open_invoice()

    @on(Button.Pressed, "#export")
    def export_pressed(self) -> None:
        self.action_export_csv()

    def action_open_invoice(self) -> None:
        if not self.refuse_unless("view_invoices"):
            return
        invoice = self.selected
        if invoice is None:
            self.notify("There is no invoice to open.", severity="warning")
            return
        self.app.push_screen(InvoiceDetail(invoice))

    def action_export_csv(self) -> None:
        if not self.refuse_unless("view_invoices") or self.account_id is None:
            return

        def written(result: tuple[Path, int] | None) -> None:
            if result is not None:
                path, count = result
                self.notify(f"Exported {count:,} invoices to {path}.", title="CSV saved")

        self.app.push_screen(ExportForm(self, self.account_id), written)
