"""Members: who used what this period against their limit; owners edit limits."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...models import Context, MemberUsage
from ...money import format_credits, format_credits_dollars
from ..form_checks import FieldError, parse_credits
from ..styles import stylesheet
from ..widgets.error_note import ErrorNote
from ..widgets.form_input import FormInput
from ..widgets.member_table import MemberTable
from ..widgets.member_view import COLUMNS, MemberView
from ..widgets.role_gate import RoleGate
from .base import BillingScreen, busy


def member_line(member: MemberUsage, view: MemberView) -> str:
    limit = ("no limit" if member.limit is None
             else f"limit {format_credits(member.limit)}")
    return (f"{member.name} ({member.role}): {format_credits_dollars(member.used_this_period)}"
            f" this period, {limit}, {view.share(member) * 100:.1f}% of the org's use")


class LimitForm(ModalScreen[MemberUsage | None]):
    """Edit one member's limit: validated as you type, saved only when valid."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="limit.cancel")]

    def __init__(self, screen: MembersScreen, member: MemberUsage) -> None:
        super().__init__()
        self.members_screen = screen
        self.member = member
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
                            placeholder="empty = no limit", id="limit", compact=True)
            yield ErrorNote(id="limit-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Label("enter: save   escape: cancel   empty: no limit", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#limit", Input).focus()

    @on(Input.Changed, "#limit")
    def check(self, event: Input.Changed) -> None:
        note = self.query_one(ErrorNote)
        try:
            self.value = parse_credits(event.value, allow_empty=True, allow_zero=True)
        except FieldError as error:
            note.show_error(str(error))
            self.query_one("#save", Button).disabled = True
        else:
            note.clear()
            self.query_one("#save", Button).disabled = False

    @on(Input.Submitted, "#limit")
    @on(Button.Pressed, "#save")
    async def save(self) -> None:
        if self.query_one("#save", Button).disabled:
            return  # the note already says what is wrong
        screen = self.members_screen
        try:
            with busy(self.query_one("#save")):
                updated = await screen.backend.set_member_limit(
                    screen.account_id, self.member.user_id, self.value)
        except Exception as error:  # shown next to the field; nothing was saved
            self.query_one(ErrorNote).show_error(error)
            return
        self.dismiss(updated)

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
        *(Binding(str(n), f"sort('{c.key}')", f"Sort by {c.title.lower()}",
                  id=f"members.sort.{c.key}", show=False,
                  tooltip=f"Sort by {c.title.lower()}; again to reverse")
          for n, c in enumerate(COLUMNS, start=1)),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = MemberView()

    def compose_body(self) -> ComposeResult:
        yield FormInput(placeholder="/ filter by name, id or role", id="filter", compact=True)
        yield MemberTable(self.view, id="table")
        yield Static("", id="selected")
        yield RoleGate("set_member_limit",
                       Button("Edit limit (e)", id="edit", compact=True), id="edit-gate")
        yield ErrorNote(id="members-error")

    def on_context_changed(self, context: Context) -> None:
        self.query_one("#filter", Input).value = ""

    async def load(self, context: Context) -> None:
        members = await self.backend.members(context.account_id)
        table = self.query_one(MemberTable)
        keep = table.current.user_id if table.current else None
        self.view.set_members(members)
        table.rows_changed(keep_user=keep)
        self.query_one("#filter", Input).placeholder = (
            f"/ filter {len(members):,} members by name, id or role")

    # --- table events -----------------------------------------------------------------
    @on(MemberTable.CursorMoved)
    def show_selected(self, event: MemberTable.CursorMoved) -> None:
        selected = self.query_one("#selected", Static)
        if event.member is None:
            count = len(self.view.members)
            selected.update("No member matches the filter." if count else "", layout=False)
        else:
            selected.update(member_line(event.member, self.view), layout=False)

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
        self.run_worker(self.run_action("edit_limit"), group="edit")

    # --- actions ------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_sort(self, key: str) -> None:
        table = self.query_one(MemberTable)
        keep = table.current.user_id if table.current else None
        self.view.sort_by(key)
        table.rows_changed(keep_user=keep)

    def action_edit_limit(self) -> None:
        if not self.refuse_unless("set_member_limit"):
            return
        member = self.query_one(MemberTable).current
        if member is None:
            self.notify("Select a member first.", severity="warning")
            return

        def saved(updated: MemberUsage | None) -> None:
            if updated is None:
                return
            limit = ("no limit" if updated.limit is None
                     else f"a limit of {format_credits(updated.limit)}")
            self.app.record_change(f"{updated.name} now has {limit} per period.")

        self.app.push_screen(LimitForm(self, member), saved)
