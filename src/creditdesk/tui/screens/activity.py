"""Activity: the ledger ("why is my balance what it is"), newest first, paged as you scroll.

Only a page is asked for at a time (`ledger(limit=, before=)`); the next page is fetched
when the cursor comes near the last row loaded. Filters (kind, member, campaign, invoice)
go to the backend, so a filtered view pages the same way. Admins and owners only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Select, Static

from ...errors import BillingError
from ...models import Context, LedgerEntry
from ...money import format_credits
from ..dialog import Dialog
from ..styles import stylesheet
from ..widgets.error_note import describe_error
from ..widgets.export_form import (
    ExportForm,
    csv_time,
    default_export_path,
    write_csv,
    write_failure,
)
from ..widgets.form_input import FormInput
from ..widgets.row_feeder import RowFeeder
from .base import BillingScreen

PAGE = 100
EXPORT_PAGE = 1000  # the backend's largest page: an export asks for as few as it can
NEAR_END = 10       # rows from the last loaded one at which the next page is fetched
# Rows added to the table per step of the loop (a 160x50 screenful); the rest of a page
# follows a chunk per paint (RowFeeder).
CHUNK_ROWS = 40
KIND_WORDS = {"grant": "Grant", "rollover": "Rollover", "forfeit": "Forfeit",
              "purchase": "Purchase", "recharge": "Recharge", "usage": "Usage"}
KIND_OPTIONS = (("All kinds", ""), *((word, kind) for kind, word in KIND_WORDS.items()))
# Entries whose ref is an invoice id; a usage entry's ref is its campaign.
INVOICE_KINDS = {"purchase", "recharge"}
NUMBER_CELLS = 10   # " -100,000" and a space before the next column
FIXED_CELLS = 17 + 9 + 4 * NUMBER_CELLS  # every column but "Who"
CSV_COLUMNS = ("id", "time_utc", "kind", "who", "user_id", "base", "rollover", "purchased",
               "balance_after", "invoice_id", "campaign", "idempotency_key")


@dataclass(frozen=True)
class LedgerFilter:
    kind: str | None = None
    user_id: str | None = None
    campaign: str | None = None
    invoice_id: str | None = None

    def arguments(self) -> dict[str, str]:
        """Only the filters that are set, as the backend's keyword arguments."""
        return {name: value for name, value in vars(self).items() if value}

    def describe(self, names: dict[str, str]) -> str:
        parts = []
        if self.kind:
            parts.append(f"kind {KIND_WORDS[self.kind].lower()}")
        if self.user_id:
            parts.append(f"by {names.get(self.user_id, self.user_id)}")
        if self.campaign:
            parts.append(f"campaign {self.campaign}")
        if self.invoice_id:
            parts.append(f"invoice {self.invoice_id}")
        return ", ".join(parts)


def invoice_of(entry: LedgerEntry) -> str | None:
    return entry.ref if entry.kind in INVOICE_KINDS else None


def campaign_of(entry: LedgerEntry) -> str | None:
    return entry.ref if entry.kind == "usage" else None


def who(entry: LedgerEntry, names: dict[str, str]) -> str:
    return "system" if entry.actor == "system" else names.get(entry.actor, entry.actor)


def change_cell(credits: int) -> Text:
    # A dash, not 0, for a bucket the entry did not touch: the changes stand out.
    text = "—" if credits == 0 else f"{credits:+,}"
    return Text(text, justify="right")


def entry_row(entry: LedgerEntry, names: dict[str, str]) -> tuple:
    return (f" {entry.at:%Y-%m-%d %H:%M}", f" {KIND_WORDS.get(entry.kind, entry.kind)}",
            f" {who(entry, names)}", change_cell(entry.base), change_cell(entry.rollover),
            change_cell(entry.purchased),
            Text(format_credits(entry.balance_after, unit=False), justify="right"))


def csv_row(entry: LedgerEntry, names: dict[str, str]) -> tuple:
    # An untouched bucket is an empty cell, as the screen's "—".
    return (entry.id, csv_time(entry.at), entry.kind, who(entry, names),
            None if entry.actor == "system" else entry.actor,
            entry.base or None, entry.rollover or None, entry.purchased or None,
            entry.balance_after, invoice_of(entry), campaign_of(entry),
            entry.idempotency_key)


def merge_newest(fresh: list[LedgerEntry], shown: list[LedgerEntry]) -> list[LedgerEntry]:
    """A quiet reload's first page, followed by the older pages already scrolled through.
    Ids only grow, so what is older than the fresh page's oldest entry is unchanged; when
    the fresh page is full and shares nothing with what was shown, entries may be missing
    in between, and only the fresh page is kept (the rest is fetched again on scroll)."""
    if not fresh or not shown:
        return fresh
    oldest_fresh = fresh[-1].id
    older = [entry for entry in shown if entry.id < oldest_fresh]
    if len(fresh) >= PAGE and older and shown[0].id < oldest_fresh:
        return fresh
    return fresh + older


def detail_rows(entry: LedgerEntry, names: dict[str, str]) -> list[tuple[str, str]]:
    rows = [("Entry", f"#{entry.id}"),
            ("Time", f"{entry.at:%Y-%m-%d %H:%M:%S} UTC"),
            ("Kind", KIND_WORDS.get(entry.kind, entry.kind)),
            ("Who", who(entry, names) + ("" if entry.actor in ("system", who(entry, names))
                                         else f" ({entry.actor})"))]
    for bucket, change in (("Base", entry.base), ("Rollover", entry.rollover),
                           ("Purchased", entry.purchased)):
        rows.append((bucket, "no change" if change == 0 else f"{change:+,} credits"))
    rows.append(("Balance after", format_credits(entry.balance_after)))
    rows.append(("Invoice", invoice_of(entry) or "—"))
    rows.append(("Campaign", campaign_of(entry) or "—"))
    rows.append(("Idempotency key", entry.idempotency_key or "—"))
    return rows


class EntryDetail(Dialog[None]):
    """One ledger entry with its references; escape, enter or q closes it."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="activity.detail.close")]

    def __init__(self, entry: LedgerEntry, names: dict[str, str]) -> None:
        super().__init__()
        self.entry = entry
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="entry-detail", classes="dialog"):
            yield Label(f"Ledger entry #{self.entry.id}", classes="title")
            for label, value in detail_rows(self.entry, self.names):
                with Horizontal(classes="detail-row"):
                    yield Label(label, classes="detail-label")
                    yield Label(value, classes="detail-value")
            yield Label("escape or enter: close", classes="hint")


class ActivityScreen(BillingScreen):
    """Every ledger entry of the account, newest first, with filters and a CSV export."""

    MODE = "activity"
    AUTO_FOCUS = "#table"
    CSS_PATH = stylesheet("activity.tcss")
    VIEW_ACTION = "view_ledger"
    VIEW_REFUSED = ("The ledger (every credit in and out) is for admins and owners. Your own "
                    "usage and limit are on Overview (press o).")
    BINDINGS = [
        Binding("enter", "open_entry", "Details", id="activity.open",
                tooltip="Show the selected entry with its invoice, campaign and key"),
        Binding("k", "cycle_kind", "Kind", id="activity.kind",
                tooltip="Show only one kind of entry (again for the next kind)"),
        Binding("slash", "focus_filter", "Filter", id="activity.filter", key_display="/",
                tooltip="Filter by member (name or id) or campaign"),
        Binding("x", "clear_filters", "Clear filters", id="activity.clear",
                tooltip="Show every entry again"),
        Binding("e", "export_csv", "Export CSV", id="activity.export",
                tooltip="Save the entries shown (every page) as a CSV file"),
        Binding("escape", "leave_field", show=False, id="activity.leave_field"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[LedgerEntry] = []
        self.filter = LedgerFilter()
        self.exhausted = False     # the oldest entry is loaded: no page to ask for
        self._shown_filter: LedgerFilter | None = None  # what the rows on screen match
        self._who_width = 0
        self._names: dict[str, dict[str, str]] = {}  # account id -> user id -> name
        self._feeder: RowFeeder | None = None

    @property
    def feeder(self) -> RowFeeder:
        """What adds rows to the table (made on first use: any handler may be first)."""
        if self._feeder is None:
            self._feeder = RowFeeder(self.query_one("#table", DataTable), CHUNK_ROWS)
        return self._feeder

    @property
    def names(self) -> dict[str, str]:
        return self._names.get(self.account_id or "", {})

    def compose_body(self) -> ComposeResult:
        blink = self.app.cursor_blink
        with Horizontal(id="filters"):
            yield Select(KIND_OPTIONS, value="", allow_blank=False, compact=True, id="kind",
                         tooltip="Which kind of entry (k cycles)")
            yield FormInput(placeholder="member name or id", id="member", compact=True,
                            blink=blink)
            yield FormInput(placeholder="campaign", id="campaign", compact=True, blink=blink)
        yield Static("", id="caption")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True, cell_padding=0)
        yield Static("", id="filter-note")

    def on_mount(self) -> None:
        self._build_columns()
        # The wheel scrolls without moving the cursor: near the bottom counts as well.
        self.watch(self.query_one("#table", DataTable), "scroll_y", self._scrolled,
                   init=False)

    def _scrolled(self, scroll_y: float) -> None:
        grid = self.query_one("#table", DataTable)
        if scroll_y >= grid.max_scroll_y - NEAR_END:
            self._want_next_page()

    def who_width(self) -> int:
        # The table has no cell padding (80 columns are tight): every cell brings its own
        # leading space, and "Who" takes what the fixed columns leave, up to a long name.
        return max(10, min(24, self.size.width - 3 - FIXED_CELLS))

    def _build_columns(self) -> None:
        grid = self.query_one("#table", DataTable)
        self._who_width = self.who_width()
        grid.clear(columns=True)
        for title, key, width in (("When (UTC)", "at", 17), ("Kind", "kind", 9),
                                  ("Who", "who", self._who_width)):
            grid.add_column(f" {title}", key=key, width=width)
        for title, key in (("Base", "base"), ("Rollover", "rollover"),
                           ("Purchased", "purchased"), ("Balance", "after")):
            grid.add_column(Text(title, justify="right"), key=key, width=NUMBER_CELLS)

    def on_resize(self) -> None:
        if self.who_width() != self._who_width:
            self._build_columns()
            self._fill(self._selected_id())

    def on_context_changed(self, context: Context) -> None:
        self.filter = LedgerFilter()
        self.entries = []
        self.exhausted = False
        with self.prevent(Select.Changed, Input.Changed):
            self.query_one("#kind", Select).value = ""
            self.query_one("#member", Input).value = ""
            self.query_one("#campaign", Input).value = ""
        self.feeder.replace(())

    # --- loading ----------------------------------------------------------------------------
    async def load(self, context: Context) -> None:
        account = context.account_id
        wanted = self.filter
        if account not in self._names:
            members = await self.backend.members(account)
            self._names[account] = {m.user_id: m.name for m in members}
        fresh = await self.backend.ledger(account, limit=PAGE, **wanted.arguments())
        if wanted != self.filter:
            return  # a newer filter is loading
        keep = self._selected_id()
        same_view = bool(self.entries) and self._shown_filter == wanted
        self.entries = merge_newest(fresh, self.entries) if same_view else fresh
        self.exhausted = len(fresh) < PAGE and len(self.entries) == len(fresh)
        self._shown_filter = wanted
        self._fill(keep if same_view else None)

    def _fill(self, keep_id: int | None) -> None:
        names = self.names
        kept = next((row for row, entry in enumerate(self.entries) if entry.id == keep_id),
                    None)
        # The kept row and a chunk past it at once, so the cursor lands with rows around it.
        self.feeder.replace((entry_row(entry, names) for entry in self.entries),
                            at_once=0 if kept is None else kept + CHUNK_ROWS)
        if kept is not None:
            self.query_one("#table", DataTable).move_cursor(row=kept, animate=False)
        self._show_caption()

    def _show_caption(self) -> None:
        shown = self.filter.describe(self.names)
        count = f"{len(self.entries):,}" + ("" if self.exhausted else "+")
        if not self.entries:
            text = "No entries match these filters." if shown else "No entries yet."
        else:
            text = f"{count} entries, newest first" + (f"; {shown}" if shown else "") + \
                ("" if self.exhausted else " (more load as you scroll)")
        self.query_one("#caption", Static).update(text)
        note = self.query_one("#filter-note", Static)
        note.update(f"Only invoice {self.filter.invoice_id}: x shows every entry."
                    if self.filter.invoice_id else "")

    def _selected_id(self) -> int | None:
        grid = self.query_one("#table", DataTable)
        if not self.entries or grid.row_count == 0:
            return None
        return self.entries[min(grid.cursor_row, len(self.entries) - 1)].id

    @on(DataTable.RowHighlighted, "#table")
    def near_end(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.entries) - NEAR_END:
            self._want_next_page()

    def _want_next_page(self) -> None:
        if not self.exhausted and self.entries:
            self.run_worker(self._next_page, exclusive=True, group="page", name="next page",
                            exit_on_error=False)

    async def _next_page(self) -> None:
        if self.exhausted or not self.entries or self.account_id is None:
            return
        wanted, before = self.filter, self.entries[-1].id
        try:
            page = await self.backend.ledger(self.account_id, limit=PAGE, before=before,
                                             **wanted.arguments())
        except BillingError as error:
            self.notify(describe_error(error), title="Activity", severity="error")
            return
        if wanted != self.filter or not self.entries or self.entries[-1].id != before:
            return  # the view changed while the page was on its way
        self.entries.extend(page)
        self.exhausted = len(page) < PAGE
        names = self.names
        self.feeder.extend(entry_row(e, names) for e in page)
        self._show_caption()

    # --- filters ----------------------------------------------------------------------------
    def set_filter(self, new: LedgerFilter) -> None:
        if new == self.filter:
            return
        self.filter = new
        self.entries = []
        self.exhausted = False
        self.query_one("#table", DataTable).clear()
        self.reload()

    @on(Select.Changed, "#kind")
    def kind_chosen(self, event: Select.Changed) -> None:
        self.set_filter(replace(self.filter, kind=event.value or None))

    @on(Input.Submitted, "#member")
    def member_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.set_filter(replace(self.filter, user_id=None))
        else:
            user_id = self._resolve_member(text)
            if user_id is not None:
                self.set_filter(replace(self.filter, user_id=user_id))
        self.query_one("#table").focus()

    def _resolve_member(self, text: str) -> str | None:
        """A user id, or a name only one member has; else say why in a toast."""
        names = self.names
        if text in names:
            return text
        matches = [uid for uid, name in names.items() if name.casefold() == text.casefold()]
        if len(matches) == 1:
            return matches[0]
        if matches:
            self.notify(f"{len(matches)} members are called {text}: type one's id "
                        f"({', '.join(sorted(matches)[:3])}…).", severity="warning")
        else:
            self.notify(f"No member is called or has the id {text!r}.", severity="warning")
        return None

    @on(Input.Submitted, "#campaign")
    def campaign_submitted(self, event: Input.Submitted) -> None:
        self.set_filter(replace(self.filter, campaign=event.value.strip() or None))
        self.query_one("#table").focus()

    def action_cycle_kind(self) -> None:
        select = self.query_one("#kind", Select)
        values = [value for _, value in KIND_OPTIONS]
        select.value = values[(values.index(select.value) + 1) % len(values)]

    def action_focus_filter(self) -> None:
        self.query_one("#member", Input).focus()

    def action_leave_field(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#table").focus()

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed):
            self.query_one("#kind", Select).value = ""
        self.query_one("#member", Input).value = ""
        self.query_one("#campaign", Input).value = ""
        self.set_filter(LedgerFilter())

    def show_invoice(self, invoice_id: str) -> None:
        """Only the entries of one invoice (Invoices' details jump here)."""
        self.set_filter(LedgerFilter(invoice_id=invoice_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_invoice":
            return True  # run from Invoices, never bound to a key
        return super().check_action(action, parameters)

    def action_show_invoice(self, invoice_id: str) -> None:
        self.show_invoice(invoice_id)

    # --- details and export ------------------------------------------------------------------
    def action_open_entry(self) -> None:
        entry_id = self._selected_id()
        if entry_id is None:
            self.notify("There is no entry to open.", severity="warning")
            return
        entry = next(e for e in self.entries if e.id == entry_id)
        self.app.push_screen(EntryDetail(entry, self.names))

    @on(DataTable.RowSelected, "#table")
    def row_chosen(self) -> None:
        self.action_open_entry()

    def action_export_csv(self) -> None:
        if self.account_id is None:
            return
        form = ExportForm("Export the ledger as CSV",
                          default_export_path("ledger", self.account_id),
                          cursor_blink=self.app.cursor_blink)
        self.app.push_screen(form, partial(self._export_to, self.account_id, self.filter))

    def _export_to(self, account: str, wanted: LedgerFilter, path: Path | None) -> None:
        if path is not None:
            self.run_worker(partial(self._export, account, wanted, path), group="export",
                            name="export ledger", exit_on_error=False)

    async def _export(self, account: str, wanted: LedgerFilter, path: Path) -> None:
        """Every entry the filters keep, a page at a time; each page becomes CSV rows as it
        arrives, so the loop never formats the whole ledger in one go."""
        rows: list[tuple] = []
        before = None
        names = self._names.get(account, {})
        try:
            while True:
                page = await self.backend.ledger(account, limit=EXPORT_PAGE, before=before,
                                                 **wanted.arguments())
                rows.extend(csv_row(entry, names) for entry in page)
                if len(page) < EXPORT_PAGE:
                    break
                before = page[-1].id
                await asyncio.sleep(0)  # let keys through between pages
            await asyncio.to_thread(write_csv, path, CSV_COLUMNS, rows)
        except BillingError as error:
            self.notify(f"Nothing exported: {describe_error(error)}", severity="error")
            return
        except OSError as error:
            self.notify(write_failure(path, error), severity="error")
            return
        self.notify(f"Exported {len(rows):,} ledger entries to {path}.", title="CSV saved")
