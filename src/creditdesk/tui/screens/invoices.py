"""Invoices: what the account was billed for, each one's details, and a CSV export (owners)."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Static

from ...errors import BillingError
from ...models import Context, Invoice
from ...money import format_cents, format_credits
from ..dialog import Dialog
from ..permissions import as_role, role_reason
from ..styles import stylesheet
from ..widgets.error_note import ErrorNote, describe_error
from ..widgets.export_form import (
    ExportForm,
    csv_dollars,
    csv_text,
    csv_time,
    default_export_path,
    write_csv,
    write_failure,
)
from ..widgets.form_input import FormInput
from ..widgets.pay_invoice import PaysInvoices, pay_refusal
from ..widgets.role_gate import RoleGate
from .base import BillingScreen

KIND_WORDS = {"subscription": "Subscription", "purchase": "Credit purchase",
              "recharge": "Auto-recharge"}
CSV_COLUMNS = ("number", "date", "kind", "credits", "amount_usd", "status", "description",
               "payment_method")


def status_text(invoice: Invoice) -> Text:
    # Words and a glyph, not colour alone: a failed payment must stand out in NO_COLOR too.
    if invoice.status == "failed":
        return Text("✗ FAILED", style="bold red")
    return Text("✓ paid")


def credits_text(invoice: Invoice) -> str:
    # A subscription buys the plan's monthly grant, not a number of credits of its own.
    return "—" if invoice.kind == "subscription" else format_credits(invoice.credits,
                                                                      unit=False)


def csv_row(invoice: Invoice) -> tuple:
    # A subscription has no credits of its own: empty, where the screen shows "—".
    return (invoice.number, csv_time(invoice.created_at), invoice.kind,
            None if invoice.kind == "subscription" else invoice.credits,
            csv_dollars(invoice.amount_cents), invoice.status, invoice.description,
            invoice.payment_method)


def invoices_csv(invoices: list[Invoice]) -> str:
    return csv_text(CSV_COLUMNS, (csv_row(invoice) for invoice in invoices))


def matches(invoice: Invoice, words: list[str]) -> bool:
    """The search: every word appears in what the row shows or the invoice's details."""
    hay = " ".join((invoice.number, f"{invoice.created_at:%Y-%m-%d}", KIND_WORDS[invoice.kind],
                    invoice.status, invoice.description, invoice.payment_method,
                    format_cents(invoice.amount_cents))).casefold()
    return all(word in hay for word in words)


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


class InvoiceDetail(Dialog[str | None]):
    """One invoice in full; escape, enter or q closes it, `v` returns the invoice's id so
    the screen that opened it can show its ledger entries (Activity)."""

    CSS_PATH = stylesheet("invoices.tcss")
    BINDINGS = [Binding("escape,enter,q", "dismiss(None)", "Close", id="invoices.detail.close"),
                Binding("v", "entries", "Its ledger entries", id="invoices.detail.entries")]

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
            yield Label("v: its ledger entries   escape or enter: close", classes="hint")

    def action_entries(self) -> None:
        self.dismiss(self.invoice.id)


class InvoicesScreen(PaysInvoices, BillingScreen):
    """Owners see every invoice, newest first; admins and members see why they cannot, with
    the open and export controls disabled and the reason next to them."""

    MODE = "invoices"
    AUTO_FOCUS = "#table"
    CSS_PATH = stylesheet("invoices.tcss")
    ROLE_ACTIONS = {"open_invoice": "view_invoices", "export_csv": "view_invoices",
                    "focus_search": "view_invoices", "pay_invoice": "pay_invoice",
                    "portal": "open_portal"}
    BINDINGS = [
        Binding("enter", "open_invoice", "Details", id="invoices.open",
                tooltip="Show the selected invoice in full (owner only)"),
        Binding("slash", "focus_search", "Search", id="invoices.search", key_display="/",
                tooltip="Show only the invoices whose number, kind, status or description "
                        "has these words"),
        Binding("e", "export_csv", "Export CSV", id="invoices.export",
                tooltip="Save every invoice of this account as a CSV file (owner only)"),
        Binding("dollar_sign", "pay_invoice", "Pay now", id="invoices.pay", key_display="$",
                tooltip="Pay the selected failed invoice again, after a confirmation with "
                        "its price (owner only)"),
        Binding("p", "portal", "Payment method", id="invoices.portal", show=False,
                tooltip="Settings: the payment portal link, to fix a declined card"),
        Binding("escape", "leave_search", show=False, id="invoices.leave_search"),
    ]
    # Cells of the columns other than the description, with DataTable's padding of one
    # each side; the description gets what is left and wraps within it.
    FIXED = (("Number", 11), ("Date", 10), ("What for", 15), ("Credits", 7), ("Amount", 9),
             ("Status", 8))
    MIN_DESCRIPTION = 16

    def __init__(self) -> None:
        super().__init__()
        self.invoices: list[Invoice] = []   # every invoice of the account, newest first
        self.shown: list[Invoice] = []      # those the search keeps, in the table's order
        self._description_width: int | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="summary")
        yield Static("", id="owner-only", classes="banner -refused")
        yield FormInput(placeholder="/ search number, kind, status or description",
                        id="search", compact=True, blink=self.app.cursor_blink)
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="selected")
        yield RoleGate("view_invoices",
                       Button("Details (enter)", id="open", compact=True),
                       Button("Export CSV (e)", id="export", compact=True),
                       Button("Pay now ($)", id="pay", compact=True), id="actions")
        yield Static("", id="pay-note", classes="muted")
        yield ErrorNote(id="pay-error")

    def on_mount(self) -> None:
        self.query_one("#owner-only").display = False
        self._build_columns()

    def description_width(self) -> int:
        """What the description column may take at this width (0: it does not fit, the
        line under the table shows the selected invoice's description instead)."""
        used = sum(width + 2 for _, width in self.FIXED) + 2 + 2  # body padding, scrollbar
        left = self.size.width - used - 2
        return left if left >= self.MIN_DESCRIPTION else 0

    def _build_columns(self) -> None:
        grid = self.query_one("#table", DataTable)
        self._description_width = self.description_width()
        grid.clear(columns=True)
        for (title, width), key in zip(self.FIXED, ("number", "date", "kind", "credits",
                                                     "amount", "status")):
            label = Text(title, justify="right") if key in ("credits", "amount") else title
            grid.add_column(label, key=key, width=width)
        if self._description_width:
            grid.add_column("Description", key="description", width=self._description_width)

    def on_resize(self) -> None:
        if self.description_width() != self._description_width:
            self._build_columns()
            self._fill()

    def on_context_changed(self, context: Context) -> None:
        self.invoices = self.shown = []
        self.query_one("#pay-error", ErrorNote).clear()
        self.query_one("#search", Input).value = ""
        self.query_one("#table", DataTable).clear()

    async def load(self, context: Context) -> None:
        if not self.allows("view_invoices"):
            self._show_owner_only(context)
            return
        self.show_invoices(await self.backend.invoices(context.account_id))

    def _show_owner_only(self, context: Context) -> None:
        self.invoices = self.shown = []
        for name in ("#table", "#summary", "#search", "#selected"):
            self.query_one(name).display = False
        notice = self.query_one("#owner-only", Static)
        notice.update(f"{role_reason('view_invoices')}: invoices of {context.name} are for "
                      f"its owners, and you are {as_role(context.role)} here. An owner can "
                      f"open and export them.")
        notice.display = True

    def show_invoices(self, invoices: list[Invoice]) -> None:
        self.invoices = invoices
        self.query_one("#owner-only").display = False
        for name in ("#table", "#summary", "#search", "#selected"):
            self.query_one(name).display = True
        self._fill()
        failed = sum(1 for invoice in invoices if invoice.status == "failed")
        paid = sum(invoice.amount_cents for invoice in invoices if invoice.status == "paid")
        summary = self.query_one("#summary", Static)
        if not invoices:
            summary.update("No invoices yet.")
            return
        count = "1 invoice" if len(invoices) == 1 else f"{len(invoices):,} invoices"
        text = Text(f"{count}, {format_cents(paid)} paid")
        if failed:
            text.append(f"; {failed:,} FAILED (declined, nothing charged)", style="bold red")
        summary.update(text)

    def _fill(self) -> None:
        grid = self.query_one("#table", DataTable)
        keep = self.selected.id if self.selected else None
        words = self.query_one("#search", Input).value.casefold().split()
        self.shown = [invoice for invoice in self.invoices if matches(invoice, words)]
        grid.clear()
        wrap = bool(self._description_width)
        for invoice in self.shown:
            cells = [invoice.number, f"{invoice.created_at:%Y-%m-%d}",
                     KIND_WORDS[invoice.kind], Text(credits_text(invoice), justify="right"),
                     Text(format_cents(invoice.amount_cents), justify="right"),
                     status_text(invoice)]
            if wrap:
                cells.append(invoice.description)
            # Auto height: a long description wraps inside its column instead of being cut.
            grid.add_row(*cells, key=invoice.id, height=None if wrap else 1)
        rows = [invoice.id for invoice in self.shown]
        if keep in rows:
            grid.move_cursor(row=rows.index(keep), animate=False)
        self._show_selected()

    def _show_selected(self) -> None:
        note = self.query_one("#selected", Static)
        invoice = self.selected
        if invoice is None:
            note.update("No invoice matches the search." if self.invoices else "")
        else:
            count = (f"{len(self.shown):,} of {len(self.invoices):,} match. "
                     if len(self.shown) != len(self.invoices) else "")
            note.update(f"{count}{invoice.number}: {invoice.description}")
        self._show_pay_state()

    def _show_pay_state(self) -> None:
        """Pay now is usable on a failed invoice, for an owner; else dimmed, saying why."""
        refused = pay_refusal(self.role, self.selected)
        self.query_one("#pay", Button).disabled = refused is not None
        # The role's reason is the gate's own label; this line is for the invoice's.
        shown = bool(refused) and self.allows("pay_invoice") and bool(self.invoices)
        note = self.query_one("#pay-note", Static)
        note.update(f"Pay now ($) is for a failed invoice: {refused.lower()}."
                    if shown else "")
        note.display = shown

    @property
    def selected(self) -> Invoice | None:
        grid = self.query_one("#table", DataTable)
        if not self.shown or not grid.display:
            return None
        return self.shown[min(grid.cursor_row, len(self.shown) - 1)]

    # --- search ---------------------------------------------------------------------------
    @on(Input.Changed, "#search")
    def search_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#search")
    def action_leave_search(self) -> None:
        if self.focused is self.query_one("#search"):
            self.query_one("#table").focus()

    def action_focus_search(self) -> None:
        if self.refuse_unless("view_invoices"):
            self.query_one("#search", Input).focus()

    # --- actions ----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#table")
    def row_highlighted(self) -> None:
        self._show_selected()

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
        self.app.push_screen(InvoiceDetail(invoice), self._detail_closed)

    async def _detail_closed(self, invoice_id: str | None) -> None:
        if invoice_id is not None:
            # Through the action system: this screen needs no handle on the other one.
            await self.app.switch_mode("activity")
            await self.app.run_action(f"screen.show_invoice({invoice_id!r})")

    @on(Button.Pressed, "#pay")
    def pay_pressed(self) -> None:
        self.action_pay_invoice()

    def action_pay_invoice(self) -> None:
        if self.refuse_unless("pay_invoice"):
            self.ask_to_pay(self.selected)

    def action_export_csv(self) -> None:
        if not self.refuse_unless("view_invoices") or self.account_id is None:
            return
        form = ExportForm("Export invoices as CSV",
                          default_export_path("invoices", self.account_id),
                          cursor_blink=self.app.cursor_blink)
        self.app.push_screen(form, partial(self._export_to, self.account_id))

    def _export_to(self, account: str, path: Path | None) -> None:
        if path is not None:
            self.run_worker(partial(self._export, account, path), group="export",
                            name="export invoices", exit_on_error=False)

    async def _export(self, account: str, path: Path) -> None:
        try:
            # Fresh from the backend, so the file is the account's invoices right now.
            invoices = await self.backend.invoices(account)
            await asyncio.to_thread(write_csv, path, CSV_COLUMNS,
                                    [csv_row(invoice) for invoice in invoices])
        except BillingError as error:
            self.notify(f"Nothing exported: {describe_error(error)}", severity="error")
            return
        except OSError as error:
            self.notify(write_failure(path, error), severity="error")
            return
        self.notify(f"Exported {len(invoices):,} invoices to {path}.", title="CSV saved")
