"""Usage: credits used per day, week or month, split by source, member or campaign."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from ...models import Context, MemberUsage, UsageSeries
from ...money import format_credits, format_credits_dollars
from ..dialog import Dialog
from ..styles import stylesheet
from ..widgets.error_note import ErrorNote
from ..widgets.export_form import (
    ExportForm,
    csv_time,
    default_export_path,
    write_csv,
    write_failure,
)
from ..widgets.form_input import FormInput
from ..widgets.usage_chart import (
    TOP_KEYS,
    UsageChart,
    UsageTable,
    bucket_start,
    tabulate_usage,
)
from ..widgets.usage_grid import UsageGrid
from .base import BillingScreen

RANGES = (("Last 7 days", "7d"), ("Last 30 days", "30d"), ("Last 90 days", "90d"),
          ("Last 12 months", "12m"), ("Custom range…", "custom"))
GRANULARITIES = (("Per day", "day"), ("Per week", "week"), ("Per month", "month"))
GROUPINGS = (("By source", "source"), ("By member", "member"), ("By campaign", "campaign"))
RANGE_DAYS = {"7d": 7, "30d": 30, "90d": 90}
# The backend refuses ranges over ten years; a custom range stops a little short of that.
MAX_CUSTOM_DAYS = 3_650
# Folding this many points takes about 10 ms: more goes to a thread.
FOLD_IN_THREAD_POINTS = 25_000


@dataclass(frozen=True)
class UsageQuery:
    """What the screen asks the backend for; `end` is exclusive."""

    start: datetime
    end: datetime
    granularity: str
    group_by: str


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def range_bounds(range_key: str, now: datetime,
                 custom: tuple[date, date] | None = None) -> tuple[datetime, datetime]:
    """[start, end) of a range choice: whole UTC days up to and including today (or the
    custom range's last day)."""
    if range_key == "custom":
        if custom is None:
            raise ValueError("a custom range needs its dates")
        first, last = custom
        return midnight(first), midnight(last) + timedelta(days=1)
    end = bucket_start(now, "day") + timedelta(days=1)
    if range_key == "12m":
        month_start = bucket_start(now, "month")
        months_back = month_start.year * 12 + month_start.month - 1 - 11
        return month_start.replace(year=months_back // 12, month=months_back % 12 + 1), end
    return end - timedelta(days=RANGE_DAYS[range_key]), end


def build_query(range_key: str, granularity: str, group_by: str, now: datetime,
                custom: tuple[date, date] | None = None) -> UsageQuery:
    """The range widened to whole buckets at the start, so the first bar is not a stub."""
    start, end = range_bounds(range_key, now, custom)
    return UsageQuery(bucket_start(start, granularity), end, granularity, group_by)


def describe_range(query: UsageQuery) -> str:
    last = query.end - timedelta(days=1)
    return f"{query.start:%Y-%m-%d} to {last:%Y-%m-%d} (UTC)"


def parse_custom_range(first_text: str, last_text: str,
                       today: date) -> tuple[date | None, date | None, str, str]:
    """(first, last, error for From, error for To); a date is None when its field is wrong."""
    first = last = None
    first_error = last_error = ""
    try:
        first = date.fromisoformat(first_text.strip())
    except ValueError:
        first_error = "Enter the first day as YYYY-MM-DD, e.g. 2026-10-01."
    try:
        last = date.fromisoformat(last_text.strip())
    except ValueError:
        last_error = "Enter the last day as YYYY-MM-DD, e.g. 2026-10-31."
    if first is not None and first > today:
        first_error, first = "The first day is in the future: there is no usage yet.", None
    if first is not None and last is not None:
        if last < first:
            last_error, last = "The last day is before the first day.", None
        elif (last - first).days + 1 > MAX_CUSTOM_DAYS:
            last_error, last = f"At most {MAX_CUSTOM_DAYS:,} days (ten years) at once.", None
    return first, last, first_error, last_error


async def fold(series: UsageSeries, names: dict[str, str] | None = None) -> UsageTable:
    """tabulate_usage, off the event loop when the answer is big: a year of days split by
    10,000 members takes a few hundred milliseconds to fold, and keys must keep working."""
    if len(series.points) < FOLD_IN_THREAD_POINTS:
        return tabulate_usage(series, names=names)
    return await asyncio.to_thread(tabulate_usage, series, names=names)


class CaptionPart(Static):
    """One part of the caption over the chart, as wide as its words. A live tick changes
    only the total, and Textual sends a repainted line from the left edge of the widget
    that changed to its right edge: the range and the blank rest of the line stay put."""

    DEFAULT_CSS = "CaptionPart { width: auto; height: 1; }"

    def say(self, words: str) -> None:
        if words != str(self.content):
            # The same length keeps the same width: no layout pass, which would lay the
            # screen out again and repaint its scroll bars on every tick.
            self.update(words, layout=len(words) != len(str(self.content)))


class CustomRangeForm(Dialog[tuple[date, date] | None]):
    """Two dates, checked as you type; the range is used only once both are right."""

    CSS_PATH = stylesheet("usage.tcss")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="usage.range.cancel")]

    def __init__(self, today: date, current: tuple[date, date] | None, *,
                 cursor_blink: bool = True) -> None:
        super().__init__()
        self.cursor_blink = cursor_blink
        self.today = today
        self.current = current or (today - timedelta(days=29), today)
        self.value: tuple[date, date] | None = self.current

    def compose(self) -> ComposeResult:
        with Vertical(id="range-form", classes="dialog"):
            yield Label("Custom range (UTC days, both included)", classes="title")
            with Horizontal(classes="field-row"):
                yield Label("From (YYYY-MM-DD)")
                yield FormInput(self.current[0].isoformat(), id="first", compact=True,
                                blink=self.cursor_blink)
            yield ErrorNote(id="first-error")
            with Horizontal(classes="field-row"):
                yield Label("To (YYYY-MM-DD)")
                yield FormInput(self.current[1].isoformat(), id="last", compact=True,
                                blink=self.cursor_blink)
            yield ErrorNote(id="last-error")
            with Horizontal(classes="buttons"):
                yield Button("Show", id="apply", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Label("enter: show   escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#first", Input).focus()

    @on(Input.Changed)
    def check(self) -> None:
        first, last, first_error, last_error = parse_custom_range(
            self.query_one("#first", Input).value, self.query_one("#last", Input).value,
            self.today)
        for note_id, error in (("#first-error", first_error), ("#last-error", last_error)):
            note = self.query_one(note_id, ErrorNote)
            note.show_error(error) if error else note.clear()
        self.value = (first, last) if first is not None and last is not None else None
        self.query_one("#apply", Button).disabled = self.value is None

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        if self.value is not None:
            self.dismiss(self.value)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class UsageScreen(BillingScreen):
    """A chart and, beneath it, a table of the very same figures; admins and owners only
    (a plain member sees their own use this period and why there is no more)."""

    MODE = "usage"
    CSS_PATH = stylesheet("usage.tcss")
    # A plain member sees their own figure only: the chart's keys are dimmed and refused.
    ROLE_ACTIONS = {action: "view_usage_history" for action in
                    ("cycle_range", "cycle_granularity", "cycle_group_by", "custom_range",
                     "choose", "export_csv")}
    BINDINGS = [
        Binding("d", "cycle_range", "Range", id="usage.range",
                tooltip="Next range: last 7, 30, 90 days, 12 months"),
        Binding("g", "cycle_granularity", "Per", id="usage.granularity",
                tooltip="Credits per day, per week or per month"),
        Binding("b", "cycle_group_by", "Split by", id="usage.group_by",
                tooltip="Split by source (base, rollover, purchased), member or campaign"),
        # Out of the footer (it must fit `q Quit` at 70 columns); help and the palette list it.
        Binding("x", "custom_range", "Custom range", id="usage.custom_range", show=False,
                tooltip="Choose the first and last day to show"),
        Binding("e", "export_csv", "Export CSV", id="usage.export",
                tooltip="Save the table under the chart as a CSV file"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.custom: tuple[date, date] | None = None
        self.usage_table: UsageTable | None = None
        self.query_shown: UsageQuery | None = None
        self.query_requested: UsageQuery | None = None
        self._names: dict[str, dict[str, str]] = {}  # account id -> user id -> name
        self._range_before_custom = "30d"

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="controls"):
            yield Select(RANGES, value="30d", allow_blank=False, compact=True, id="range",
                         tooltip="Which days to show (d cycles, x picks a custom range)")
            yield Select(GRANULARITIES, value="day", allow_blank=False, compact=True,
                         id="granularity", tooltip="Bucket size (g cycles)")
            yield Select(GROUPINGS, value="source", allow_blank=False, compact=True,
                         id="group-by", tooltip="What the credits are split by (b cycles)")
        with Horizontal(id="caption"):
            yield CaptionPart("", id="caption-range")
            yield CaptionPart("", id="caption-used")
        yield UsageChart(id="chart")
        yield UsageGrid(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="member-view")

    def on_mount(self) -> None:
        self.query_one("#member-view").display = False

    def on_context_changed(self, context: Context) -> None:
        self.usage_table = None
        self.query_shown = self.query_requested = None

    # --- the query ------------------------------------------------------------------------
    def current_query(self) -> UsageQuery:
        range_key = self.query_one("#range", Select).value
        if range_key == "custom" and self.custom is None:
            range_key = self._range_before_custom
        return build_query(range_key, self.query_one("#granularity", Select).value,
                           self.query_one("#group-by", Select).value, self.now(), self.custom)

    @on(Select.Changed)
    def choice_changed(self, event: Select.Changed) -> None:
        if event.select.id == "range":
            if event.value == "custom":
                # Picked in the list: ask for the dates, and go back if that is cancelled.
                self.action_custom_range(revert_to=self._range_before_custom)
                return
            self._range_before_custom = event.value
        self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        # Selects also announce their first value; reload only for a different question.
        if self.context is not None and self.current_query() != self.query_requested:
            self.reload(quiet=True)

    def action_choose(self, select_id: str, value: str) -> None:
        """Palette entries: set one choice directly (the Select announces the change)."""
        if value == "custom":
            self.action_custom_range()
        else:
            self.query_one(f"#{select_id}", Select).value = value

    def palette_commands(self):
        for select_id, options, what in (("range", RANGES, "range"),
                                         ("granularity", GRANULARITIES, "buckets"),
                                         ("group-by", GROUPINGS, "split")):
            for label, value in options:
                yield (f"Usage: {label.rstrip('…').lower()}", f"Set the usage {what}",
                       f"choose('{select_id}', '{value}')")

    def _cycle(self, select_id: str, options: tuple[tuple[str, str], ...]) -> None:
        select = self.query_one(f"#{select_id}", Select)
        values = [value for _, value in options if value != "custom"]
        current = select.value if select.value in values else values[-1]
        select.value = values[(values.index(current) + 1) % len(values)]

    def action_cycle_range(self) -> None:
        self._cycle("range", RANGES)

    def action_cycle_granularity(self) -> None:
        self._cycle("granularity", GRANULARITIES)

    def action_cycle_group_by(self) -> None:
        self._cycle("group-by", GROUPINGS)

    def action_custom_range(self, revert_to: str | None = None) -> None:
        select = self.query_one("#range", Select)

        def chosen(dates: tuple[date, date] | None) -> None:
            # Set without announcing it: the choice is settled here, not a new question.
            with select.prevent(Select.Changed):
                if dates is not None:
                    self.custom = dates
                    select.value = "custom"
                elif revert_to is not None:
                    select.value = revert_to
            self._reload_if_changed()

        self.app.push_screen(CustomRangeForm(self.now().date(), self.custom,
                                             cursor_blink=self.app.cursor_blink), chosen)

    # --- loading ----------------------------------------------------------------------------
    async def load(self, context: Context) -> None:
        if not self.allows("view_usage_history"):
            self._show_member_view(context, await self.backend.my_usage(context.account_id))
            return
        query = self.query_requested = self.current_query()
        # The chart shows the biggest few members or campaigns and "other": ask the backend
        # for just those, not a point per member per day (600k of them in a big org).
        top = None if query.group_by == "source" else TOP_KEYS
        series = await self.backend.usage_history(
            context.account_id, start=query.start, end=query.end,
            granularity=query.granularity, group_by=query.group_by, top=top)
        if query.group_by != "member":
            self.show_table(query, await fold(series))
            return
        table = await fold(series, await self._member_names(context))
        named = table.keys[:len(table.keys) - bool(table.folded)]
        if any(key not in self._names[context.account_id] for key in named):
            # Someone joined since the names were fetched: fetch them again, once.
            table = await fold(series, await self._member_names(context, fresh=True))
        self.show_table(query, table)

    async def _member_names(self, context: Context, *, fresh: bool = False) -> dict[str, str]:
        """User id -> name, fetched once per account: members() is big in a large org."""
        names = None if fresh else self._names.get(context.account_id)
        if names is None:
            members = await self.backend.members(context.account_id)
            names = self._names[context.account_id] = {m.user_id: m.name for m in members}
        return names

    def _show_member_view(self, context: Context, usage: MemberUsage) -> None:
        for name in ("#controls", "#caption", "#chart", "#table"):
            self.query_one(name).display = False
        view = self.query_one("#member-view", Static)
        limit = ("no limit" if usage.limit is None
                 else f"a limit of {format_credits(usage.limit)}")
        view.update(f"Usage history of {context.name} is for admins and owners.\n\n"
                    f"Your own use this period: {format_credits_dollars(usage.used_this_period)}"
                    f", with {limit}.")
        view.display = True

    def show_table(self, query: UsageQuery, table: UsageTable) -> None:
        for name in ("#controls", "#caption", "#chart", "#table"):
            self.query_one(name).display = True
        self.query_one("#member-view").display = False
        self.usage_table = table
        self.query_shown = query
        self.query_one("#caption-range", CaptionPart).say(f"{describe_range(query)}:")
        self.query_one("#caption-used", CaptionPart).say(
            f" {format_credits_dollars(table.total)} used")
        self.query_one(UsageChart).show(table)
        self.query_one("#table", UsageGrid).show(table)

    # --- export -----------------------------------------------------------------------------
    def action_export_csv(self) -> None:
        if self.usage_table is None or self.account_id is None:
            self.notify("The usage table has not loaded yet.", severity="warning")
            return
        form = ExportForm("Export the usage table as CSV",
                          default_export_path("usage", self.account_id),
                          cursor_blink=self.app.cursor_blink)
        self.app.push_screen(form, partial(self._export_to, self.usage_table))

    def _export_to(self, table: UsageTable, path: Path | None) -> None:
        if path is not None:
            self.run_worker(partial(self._write, table, path), group="export",
                            name="export usage", exit_on_error=False)

    async def _write(self, table: UsageTable, path: Path) -> None:
        header, rows = usage_csv(table)
        try:
            await asyncio.to_thread(write_csv, path, header, rows)
        except OSError as error:
            self.notify(write_failure(path, error), severity="error")
            return
        self.notify(f"Exported {len(rows):,} rows of usage to {path}.", title="CSV saved")


def usage_csv(table: UsageTable) -> tuple[list[str], list[tuple]]:
    """The table as shown: one row per bucket (its start, UTC), a column per key, the
    total; no total row, which a spreadsheet sums by itself."""
    header = [f"{table.granularity}_start_utc", *table.labels, "total"]
    rows = [(csv_time(bucket), *row, total)
            for bucket, row, total in zip(table.buckets, table.rows, table.bucket_totals)]
    return header, rows
