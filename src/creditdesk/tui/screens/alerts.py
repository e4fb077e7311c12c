"""Alerts: what was raised on the account, newest first, paged as you scroll.

A page at a time (`alerts(limit=, before=)`), the next one fetched when the cursor or the
scroll comes near the last row loaded. Admins and owners see alerts; owners pay the failed
invoice a payment_failed / recharge_failed alert is about from here ("Pay now"). Showing the
newest alert marks it seen, which clears the header's unseen count for this context.
"""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ...errors import BillingError
from ...models import Alert, Context
from ...money import format_credits
from ..alert_watch import AlertsSeen
from ..styles import stylesheet
from ..widgets.error_note import ErrorNote, describe_error
from ..widgets.pay_invoice import ALERT_INVOICE_KIND, PaysInvoices, invoice_for_alert
from .base import BillingScreen

PAGE = 50
NEAR_END = 10       # rows from the last loaded one at which the next page is fetched
KIND_WORDS = {"balance_below": "Balance low", "member_usage": "Member usage",
              "recharge_failed": "Recharge failed", "payment_failed": "Payment failed",
              "autopilot_paused": "Autopilot paused",
              "member_limit_reached": "Limit reached"}
# Every column but the sentence, each cell with its own leading space (no cell padding).
WIDTHS = {"at": 17, "kind": 17, "who": 14, "threshold": 11}
MIN_MESSAGE = 12


def threshold_text(alert: Alert) -> str:
    if alert.threshold is None:
        return "—"
    if alert.kind == "member_usage":
        return f"{alert.threshold}%"
    return format_credits(alert.threshold, unit=False)


def member_text(alert: Alert, names: dict[str, str]) -> str:
    return "—" if alert.user_id is None else names.get(alert.user_id, alert.user_id)


def alert_row(alert: Alert, names: dict[str, str], with_message: bool) -> tuple:
    cells = (f" {alert.at:%Y-%m-%d %H:%M}", f" {KIND_WORDS.get(alert.kind, alert.kind)}",
             f" {member_text(alert, names)}", Text(threshold_text(alert), justify="right"))
    return (*cells, f"  {alert.message}") if with_message else cells


def merge_newest(fresh: list[Alert], shown: list[Alert]) -> list[Alert]:
    """A quiet reload's first page, then the older alerts already scrolled through. Ids only
    grow, so what is older than the fresh page is unchanged; a full fresh page sharing
    nothing with what was shown may leave a gap, so then only the fresh page is kept."""
    if not fresh or not shown:
        return fresh
    oldest_fresh = fresh[-1].id
    older = [alert for alert in shown if alert.id < oldest_fresh]
    if len(fresh) >= PAGE and older and shown[0].id < oldest_fresh:
        return fresh
    return fresh + older


class AlertsScreen(PaysInvoices, BillingScreen):
    """Every alert of the account, newest first; Pay now on a failed payment's alert."""

    MODE = "alerts"
    AUTO_FOCUS = "#table"
    CSS_PATH = stylesheet("alerts.tcss")
    VIEW_ACTION = "view_alerts"
    VIEW_REFUSED = ("Alerts are for admins and owners. Your own usage and limit are on "
                    "Overview (press o).")
    ROLE_ACTIONS = {"pay_invoice": "pay_invoice", "portal": "open_portal"}
    BINDINGS = [
        Binding("dollar_sign", "pay_invoice", "Pay now", id="alerts.pay", key_display="$",
                tooltip="Pay the failed invoice this alert is about, after a confirmation "
                        "with its price (owner only)"),
        Binding("p", "portal", "Payment method", id="alerts.portal", show=False,
                tooltip="Settings: the payment portal link, to fix a declined card"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[Alert] = []
        self.exhausted = False
        self._names: dict[str, dict[str, str]] = {}
        self._message_width = 0

    @property
    def names(self) -> dict[str, str]:
        return self._names.get(self.account_id or "", {})

    def compose_body(self) -> ComposeResult:
        yield Static("", id="caption")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True, cell_padding=0)
        yield Static("", id="selected")
        yield Static("", id="pay-note", classes="muted")
        yield ErrorNote(id="pay-error")

    def on_mount(self) -> None:
        self._build_columns()
        self.watch(self.query_one("#table", DataTable), "scroll_y", self._scrolled,
                   init=False)

    def message_width(self) -> int:
        left = self.size.width - 3 - sum(WIDTHS.values())
        return left if left >= MIN_MESSAGE else 0

    def _build_columns(self) -> None:
        grid = self.query_one("#table", DataTable)
        self._message_width = self.message_width()
        grid.clear(columns=True)
        for key, title in (("at", "When (UTC)"), ("kind", "Kind"), ("who", "Member")):
            grid.add_column(f" {title}", key=key, width=WIDTHS[key])
        grid.add_column(Text("Threshold", justify="right"), key="threshold",
                        width=WIDTHS["threshold"])
        if self._message_width:
            grid.add_column("  What happened", key="message", width=self._message_width)

    def on_resize(self) -> None:
        if self.message_width() != self._message_width:
            self._build_columns()
            self._fill(self._selected_id())

    def on_context_changed(self, context: Context) -> None:
        self.alerts = []
        self.exhausted = False
        self.query_one("#table", DataTable).clear()
        self.query_one("#pay-error", ErrorNote).clear()

    # --- loading ----------------------------------------------------------------------------
    async def load(self, context: Context) -> None:
        account = context.account_id
        if account not in self._names:
            members = await self.backend.members(account)
            self._names[account] = {m.user_id: m.name for m in members}
        fresh = await self.backend.alerts(account, limit=PAGE)
        keep = self._selected_id()
        self.alerts = merge_newest(fresh, self.alerts)
        self.exhausted = len(fresh) < PAGE and len(self.alerts) == len(fresh)
        self._fill(keep)
        if self.alerts:
            self.post_message(AlertsSeen(account, self.alerts[0].id))

    def _fill(self, keep_id: int | None) -> None:
        grid = self.query_one("#table", DataTable)
        grid.clear()
        names, wide = self.names, bool(self._message_width)
        grid.add_rows(alert_row(alert, names, wide) for alert in self.alerts)
        for row, alert in enumerate(self.alerts):
            if alert.id == keep_id:
                grid.move_cursor(row=row, animate=False)
                break
        self._show_caption()
        self._show_selected()

    def _show_caption(self) -> None:
        count = f"{len(self.alerts):,}" + ("" if self.exhausted else "+")
        self.query_one("#caption", Static).update(
            "No alerts yet. Alert thresholds are set in Settings (s)." if not self.alerts
            else f"{count} alerts, newest first" +
            ("" if self.exhausted else " (more load as you scroll)"))

    def _selected_id(self) -> int | None:
        alert = self.selected
        return alert.id if alert else None

    @property
    def selected(self) -> Alert | None:
        grid = self.query_one("#table", DataTable)
        if not self.alerts or grid.row_count == 0:
            return None
        return self.alerts[min(grid.cursor_row, len(self.alerts) - 1)]

    def _show_selected(self) -> None:
        alert = self.selected
        self.query_one("#selected", Static).update(
            "" if alert is None else f"{alert.at:%Y-%m-%d %H:%M} UTC: {alert.message}")
        payable = alert is not None and alert.kind in ALERT_INVOICE_KIND
        self.query_one("#pay-note", Static).update(
            ("Pay now ($) pays the failed invoice this alert is about." if
             self.allows("pay_invoice") else "Pay now ($): owner only.") if payable else "")

    @on(DataTable.RowHighlighted, "#table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()
        if event.cursor_row >= len(self.alerts) - NEAR_END:
            self._want_next_page()

    def _scrolled(self, scroll_y: float) -> None:
        grid = self.query_one("#table", DataTable)
        if scroll_y >= grid.max_scroll_y - NEAR_END:
            self._want_next_page()

    def _want_next_page(self) -> None:
        if not self.exhausted and self.alerts:
            self.run_worker(self._next_page, exclusive=True, group="page", name="next page",
                            exit_on_error=False)

    async def _next_page(self) -> None:
        if self.exhausted or not self.alerts or self.account_id is None:
            return
        account, before = self.account_id, self.alerts[-1].id
        try:
            page = await self.backend.alerts(account, limit=PAGE, before=before)
        except BillingError as error:
            self.notify(describe_error(error), title="Alerts", severity="error")
            return
        if account != self.account_id or not self.alerts or self.alerts[-1].id != before:
            return  # the view changed while the page was on its way
        self.alerts.extend(page)
        self.exhausted = len(page) < PAGE
        names, wide = self.names, bool(self._message_width)
        self.query_one("#table", DataTable).add_rows(
            alert_row(alert, names, wide) for alert in page)
        self._show_caption()

    # --- pay now ----------------------------------------------------------------------------
    def action_pay_invoice(self) -> None:
        if not self.refuse_unless("pay_invoice"):
            return
        alert = self.selected
        if alert is None or alert.kind not in ALERT_INVOICE_KIND:
            self.notify("Pay now is for a failed payment's alert (Payment failed or "
                        "Recharge failed).", severity="warning")
            return
        self.run_worker(partial(self._find_invoice, alert), group="pay", name="find invoice",
                        exit_on_error=False)

    async def _find_invoice(self, alert: Alert) -> None:
        try:
            invoices = await self.backend.invoices(self.account_id)
        except BillingError as error:
            self.show_pay_outcome(f"Not paid: {describe_error(error)}", failed=True)
            return
        invoice = invoice_for_alert(alert, invoices)
        if invoice is None:
            self.notify("The invoice this alert is about is paid already: nothing to pay.",
                        title="Nothing to pay")
            return
        self.ask_to_pay(invoice)

