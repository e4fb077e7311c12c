"""Members: who used what this period against their limit; owners edit limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from ...errors import BillingError
from ...models import Context, MemberUsage
from ...money import format_credits, format_credits_dollars
from ..dialog import Dialog
from ..form_checks import FieldError, parse_limit
from ..styles import stylesheet
from ..widgets.error_note import ErrorNote, describe_error
from ..widgets.export_form import (
    ExportForm,
    default_export_path,
    write_csv,
    write_failure,
)
from ..widgets.form_input import FormInput
from ..widgets.member_table import MemberTable
from ..widgets.member_view import COLUMNS, MemberView
from ..widgets.role_gate import RoleGate
from .base import BillingScreen, DataChanged

CSV_COLUMNS = ("user_id", "name", "role", "used_this_period", "limit", "share_percent")


def member_line(member: MemberUsage, view: MemberView) -> str:
    limit = ("no limit" if member.limit is None
             else f"limit {format_credits(member.limit)}")
    return (f"{member.name} ({member.user_id}, {member.role}): "
            f"{format_credits_dollars(member.used_this_period)} this period, {limit}, "
            f"{view.share(member) * 100:.1f}% of the org's use")


def csv_row(member: MemberUsage, view: MemberView) -> tuple:
    # No limit is an empty cell, where the table shows "none".
    return (member.user_id, member.name, member.role, member.used_this_period, member.limit,
            f"{view.share(member) * 100:.1f}")


def match_count(view: MemberView) -> str:
    if not view.filter_text:
        return ""
    return f"{len(view.rows):,} of {len(view.members):,} members match"


@dataclass(frozen=True)
class LimitChoice:
    """What LimitForm returns: the limit to set (None: no limit)."""
    limit: int | None


class LimitForm(Dialog[LimitChoice | None]):
    """Asks for one member's limit, validated as you type; returns it when valid. The
    screen that opened it saves it (the form never calls the backend)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="limit.cancel")]

    def __init__(self, member: MemberUsage, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.member = member
        self.cursor_blink = cursor_blink
        self.value: int | None = member.limit

    def compose(self) -> ComposeResult:
        with Vertical(id="limit-form", classes="dialog"):
            yield Label(f"Credit limit for {self.member.name}", classes="title")
            yield Static(f"Used this period: {format_credits(self.member.used_this_period)}. "
                         f"A limit below that stops them for the rest of the period.",
                         classes="muted")
            with Horizontal(classes="field-row"):
                yield Label("Limit (credits)")
                yield FormInput("" if self.member.limit is None else str(self.member.limit),
                                placeholder="none = no limit", id="limit", compact=True,
                                blink=self.cursor_blink)
            yield ErrorNote(id="limit-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Label("enter: save   escape: cancel   none or empty: no limit",
                        classes="hint")

    def on_mount(self) -> None:
        self.query_one("#limit", Input).focus()

    @on(Input.Changed, "#limit")
    def check(self, event: Input.Changed) -> None:
        note = self.query_one(ErrorNote)
        try:
            self.value = parse_limit(event.value)
        except FieldError as error:
            note.show_error(str(error))
            self.query_one("#save", Button).disabled = True
        else:
            note.clear()
            self.query_one("#save", Button).disabled = False

    @on(Input.Submitted, "#limit")
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        if not self.query_one("#save", Button).disabled:  # else the note says what is wrong
            self.dismiss(LimitChoice(self.value))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class MembersScreen(BillingScreen):
    MODE = "members"
    AUTO_FOCUS = "MemberTable"
    CSS_PATH = stylesheet("members.tcss")
    VIEW_ACTION = "view_members"
    VIEW_REFUSED = ("Members' usage is for admins and owners. Your own usage and limit are "
                    "on Overview (press o).")
    ROLE_ACTIONS = {"edit_limit": "set_member_limit"}
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="members.filter", key_display="/",
                tooltip="Type to filter members by name, id or role"),
        Binding("e", "edit_limit", "Edit limit", id="members.edit_limit",
                tooltip="Set the selected member's credit limit (owner only)"),
        Binding("x", "export_csv", "Export CSV", id="members.export",
                tooltip="Save the members shown (the filter applies) as a CSV file"),
        *(Binding(str(n), f"sort('{c.key}')", f"Sort by {c.title.lower()}",
                  id=f"members.sort.{c.key}", show=False,
                  tooltip=f"Sort by {c.title.lower()}; again to reverse")
          for n, c in enumerate(COLUMNS, start=1)),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = MemberView()

    def compose_body(self) -> ComposeResult:
        yield FormInput(placeholder="/ filter by name, id or role", id="filter", compact=True,
                        blink=self.app.cursor_blink)
        yield MemberTable(self.view, id="table")
        yield Static("", id="selected")
        yield RoleGate("set_member_limit",
                       Button("Edit limit (e)", id="edit", compact=True), id="edit-gate")
        yield ErrorNote(id="members-error")
        yield Static("", id="personal")

    def on_context_changed(self, context: Context) -> None:
        self.query_one("#filter", Input).value = ""
        self.query_one("#members-error", ErrorNote).clear()

    async def load(self, context: Context) -> None:
        members = await self.backend.members(context.account_id)
        table = self.query_one(MemberTable)
        keep = table.current.user_id if table.current else None
        self.view.set_members(members)
        personal = context.kind == "personal"
        # A personal account has one member, you: no table of one, no limit on yourself.
        for name in ("#filter", "#table", "#selected", "#edit-gate"):
            self.query_one(name).display = not personal
        self.query_one("#personal").display = personal
        if personal:
            self._show_personal(members)
            return
        table.rows_changed(keep_user=keep)
        self.query_one("#filter", Input).placeholder = (
            f"/ filter {len(members):,} members by name, id or role")

    def _show_personal(self, members: list[MemberUsage]) -> None:
        me = members[0] if members else None
        used = format_credits_dollars(me.used_this_period) if me else "nothing"
        self.query_one("#personal", Static).update(
            f"This is your personal account: you are its only member, so there is no one "
            f"to list or limit. You have used {used} this period.")

    # --- table events -----------------------------------------------------------------
    @on(MemberTable.CursorMoved)
    def show_selected(self, event: MemberTable.CursorMoved) -> None:
        selected = self.query_one("#selected", Static)
        count = match_count(self.view)
        if event.member is None:
            text = "No member matches the filter." if self.view.members else ""
        else:
            text = member_line(event.member, self.view)
        selected.update(f"{count}. {text}" if count else text, layout=False)

    @on(MemberTable.SortClicked)
    def sort_clicked(self, event: MemberTable.SortClicked) -> None:
        self.action_sort(event.key)

    @on(MemberTable.Chosen)
    def chosen(self) -> None:
        self.run_action_edit()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        table = self.query_one(MemberTable)
        keep = table.current.user_id if table.current else None
        self.view.set_filter(event.value)
        table.rows_changed(keep_user=keep)
        table.post_message(MemberTable.CursorMoved(table.current))  # the count changed

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one(MemberTable).focus()

    def key_escape(self) -> None:
        # Escape leaves the filter (keeping what it filters) for the table's keys.
        if self.focused is self.query_one("#filter"):
            self.query_one(MemberTable).focus()

    @on(Button.Pressed, "#edit")
    def edit_pressed(self) -> None:
        self.run_action_edit()

    def run_action_edit(self) -> None:
        self.run_worker(self.run_action("edit_limit"), group="edit", exit_on_error=False)

    # --- actions ------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_sort(self, key: str) -> None:
        # A new order starts at its top: the cursor and the view go to the first row.
        self.view.sort_by(key)
        table = self.query_one(MemberTable)
        table.rows_changed()
        table.to_top()

    def action_edit_limit(self) -> None:
        if not self.refuse_unless("set_member_limit"):
            return
        member = self.query_one(MemberTable).current
        if member is None:
            self.notify("Select a member first.", severity="warning")
            return
        form = LimitForm(member, cursor_blink=self.app.cursor_blink)
        self.app.push_screen(form, partial(self._limit_chosen, self.account_id, member))

    def _limit_chosen(self, account: str, member: MemberUsage,
                      choice: LimitChoice | None) -> None:
        if choice is not None:
            self.run_worker(partial(self._save_limit, account, member, choice.limit),
                            group="edit", name="set member limit", exit_on_error=False)

    async def _save_limit(self, account: str, member: MemberUsage, limit: int | None) -> None:
        note = self.query_one("#members-error", ErrorNote)
        try:
            updated = await self.backend.set_member_limit(account, member.user_id, limit)
        except BillingError as error:  # nothing was saved: say why next to the table
            note.show_error(f"{member.name}'s limit was not changed: {describe_error(error)}")
            return
        note.clear()
        words = ("no limit" if updated.limit is None
                 else f"a limit of {format_credits(updated.limit)}")
        self.post_message(DataChanged(f"{updated.name} now has {words} per period."))

    def action_export_csv(self) -> None:
        if self.account_id is None or not self.view.members:
            self.notify("There are no members to export yet.", severity="warning")
            return
        form = ExportForm("Export members as CSV",
                          default_export_path("members", self.account_id),
                          cursor_blink=self.app.cursor_blink)
        self.app.push_screen(form, self._export_to)

    def _export_to(self, path: Path | None) -> None:
        if path is None:
            return
        rows = [csv_row(member, self.view) for member in self.view.rows]
        self.run_worker(partial(self._write, path, rows), group="export", name="export",
                        exit_on_error=False)

    async def _write(self, path: Path, rows: list[tuple]) -> None:
        try:
            await asyncio.to_thread(write_csv, path, CSV_COLUMNS, rows)
        except OSError as error:
            self.notify(write_failure(path, error), severity="error")
            return
        self.notify(f"Exported {len(rows):,} members to {path}.", title="CSV saved")
