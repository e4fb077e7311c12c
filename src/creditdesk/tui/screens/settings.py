"""Settings: the plan and its pending change, buying credits, auto-recharge, alerts, payment
portal."""

from __future__ import annotations

import asyncio
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from ...errors import BillingError
from ...models import (
    AlertSettings,
    AutoRecharge,
    Context,
    CreditPack,
    Plan,
    Subscription,
)
from ...money import (
    format_cents,
    format_credits,
    format_credits_dollars,
)
from ..styles import stylesheet
from ..widgets.alert_form import AlertForm, describe_settings
from ..widgets.error_note import ErrorNote, describe_error
from ..widgets.focus_scroll import FocusScroll
from ..widgets.form_input import FormInput
from ..widgets.recharge_form import RechargeForm
from ..widgets.role_gate import RoleGate
from .base import BillingScreen, DataChanged, busy
from .settings_plan import ChangesPlan
from .settings_purchase import CUSTOM, BuysCredits

SECTIONS = {"plan": "#plan-section", "purchase": "#purchase-section",
            "auto-recharge": "#recharge-section", "alerts": "#alerts-section",
            "portal": "#portal-section"}


class SettingsScreen(ChangesPlan, BuysCredits, BillingScreen):
    MODE = "settings"
    # Focus goes to #settings-scroll after the first paint (on_mount), not with the
    # composing; a FocusScroll, so that focusing it restyles the container alone, not its
    # ~90 widgets (one stall of the first visit).
    AUTO_FOCUS = ""
    CSS_PATH = stylesheet("settings.tcss")
    VIEW_ACTION = "view_subscription"
    VIEW_REFUSED = ("Plan, purchases and auto-recharge are for admins and owners. Your own "
                    "usage and limit are on Overview (press o).")
    ROLE_ACTIONS = {"buy": "purchase_credits", "portal": "open_portal",
                    "save_recharge": "manage_auto_recharge",
                    "change_plan": "change_plan", "cancel_plan_change": "change_plan",
                    "save_alerts": "set_alerts"}
    BINDINGS = [
        Binding("b", "buy", "Buy credits", id="settings.buy",
                tooltip="Buy the chosen credits after a confirmation (owner only)"),
        Binding("ctrl+s", "save_recharge", "Save recharge", id="settings.save_recharge",
                tooltip="Save the auto-recharge settings (owner only)"),
        Binding("p", "portal", "Portal", id="settings.portal",
                tooltip="Show the payment portal link (owner only)"),
        Binding("escape", "leave_field", show=False, id="settings.leave_field"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plans: list[Plan] = []
        self.packs: list[CreditPack] = []
        self.subscription: Subscription | None = None
        self.recharge: AutoRecharge | None = None
        self.alert_settings: AlertSettings | None = None
        self._last_attempt: int | None = None  # credits of the last purchase tried
        self._failed_attempt: int | None = None  # ... when it did not go through
        # Quiet reloads (after any change, every second in the demo's live mode) must not
        # undo what the person is choosing: options are only replaced when the backend's
        # lists change (RechargeForm.fill does the same for the form's fields).
        self._plan_options: list[tuple[str, str]] | None = None
        self._pack_options: list[tuple[str, str]] | None = None
        self._lower_mounted = asyncio.Event()  # see _mount_lower_section

    def on_mount(self) -> None:
        self.call_after_refresh(self._focus_scroll)
        self.call_after_refresh(self._mount_lower_section)

    def _focus_scroll(self) -> None:
        if self.focused is None:  # unless a shortcut chose a field first (overview's b)
            self.query_one("#settings-scroll").focus()

    def compose_body(self) -> ComposeResult:
        with FocusScroll(id="settings-scroll"):
            with Vertical(id="plan-section", classes="section"):
                yield Label("Plan", classes="section-title")
                yield Static("", id="plan-current")
                yield Static("", id="plan-pending")
                # The list on a line of its own: at 80 columns each plan fits on one line.
                yield RoleGate("change_plan",
                               Select([], prompt="Choose a plan", id="plan-choice",
                                      allow_blank=True, compact=True),
                               Horizontal(Button("Change", id="plan-change", compact=True),
                                          Button("Cancel pending", id="plan-cancel",
                                                 compact=True), id="plan-buttons"),
                               vertical=True, id="plan-gate")
                yield Static("", id="plan-note", classes="muted")
                yield ErrorNote(id="plan-error")
            with Vertical(id="purchase-section", classes="section"):
                yield Label("Buy credits (200 credits = $1)", classes="section-title")
                yield RoleGate("purchase_credits",
                               Select([], prompt="Choose a pack", id="pack", allow_blank=True,
                                      compact=True),
                               FormInput(placeholder="e.g. 5,000", id="custom",
                                         compact=True, blink=self.app.cursor_blink),
                               Button("Buy…", id="buy", variant="primary", compact=True),
                               id="purchase-gate")
                yield ErrorNote(id="custom-error")
                yield ErrorNote(id="purchase-error")
                yield Static("", id="price")

    # Below the fold at 80x24: mounted after the first frame, one section per refresh, so
    # that no single callback lays out and paints all ~146 widgets (the first visit's
    # worst stall). Each section is built in its own method, in order of appearance.
    def _recharge_section(self) -> Widget:
        return Vertical(
            Label("Auto-recharge", classes="section-title"),
            Static("", id="recharge-state"),
            RoleGate("manage_auto_recharge",
                     RechargeForm(blink=self.app.cursor_blink, id="recharge-form"),
                     vertical=True, id="recharge-gate"),
            ErrorNote(id="recharge-error"), id="recharge-section", classes="section")

    def _alerts_section(self) -> Widget:
        return Vertical(
            Label("Alerts", classes="section-title"),
            RoleGate("set_alerts", AlertForm(blink=self.app.cursor_blink, id="alert-form"),
                     vertical=True, id="alerts-gate"),
            ErrorNote(id="alerts-error"), id="alerts-section", classes="section")

    def _portal_section(self) -> Widget:
        return Vertical(
            Label("Payment method", classes="section-title"),
            RoleGate("open_portal", Button("Show payment portal link (p)", id="portal",
                                           compact=True), id="portal-gate"),
            Static("", id="portal-url"),
            ErrorNote(id="portal-error"), id="portal-section", classes="section")

    async def _mount_lower_section(self, index: int = 0) -> None:
        builders = (self._recharge_section, self._alerts_section, self._portal_section)
        section = builders[index]()
        await self.query_one("#settings-scroll").mount(section)
        if self.context is not None:  # gates mounted after the context was applied
            for gate in section.query(RoleGate):
                gate.apply(self.context.role)
        if index + 1 < len(builders):
            self.call_after_refresh(self._mount_lower_section, index + 1)
            return
        if self.context is not None:
            self._reset_lower_forms(self.context)
        self._lower_mounted.set()

    async def lower_sections_mounted(self) -> None:
        """Wait until every section is mounted (at once after the first few frames)."""
        await self._lower_mounted.wait()

    async def action_focus_section(self, name: str) -> None:
        """Scroll to a section and focus its first usable control (overview's b / a run
        this as `screen.focus_section(...)` once Settings is shown): right after opening,
        the lower sections may not be mounted yet."""
        await self.lower_sections_mounted()
        self.show_section(name)

    def show_section(self, name: str) -> None:
        """`focus_section` for a section known to be mounted (the top ones always are)."""
        section = self.query_one(SECTIONS[name])
        section.scroll_visible(animate=False)
        first = {"purchase": "#pack", "auto-recharge": "#recharge-enabled",
                 "plan": "#plan-choice", "portal": "#portal",
                 "alerts": "#alert-balance-0"}[name]
        control = self.query_one(first)
        if not control.disabled:
            control.focus()

    def on_context_changed(self, context: Context) -> None:
        # Every form starts afresh: a plan or a pack chosen for one account must never be
        # offered (or bought) for the next.
        if self._lower_mounted.is_set():  # else done once they are
            self._reset_lower_forms(context)
        self._plan_options = self._pack_options = None
        self._last_attempt = self._failed_attempt = None
        self.query_one("#plan-choice", Select).clear()
        self.query_one("#pack", Select).clear()
        self.query_one("#custom", Input).value = ""
        for note in self.query(ErrorNote):
            note.clear()

    def _reset_lower_forms(self, context: Context) -> None:
        form = self.query_one(RechargeForm)
        form.reset()
        form.editable = self.allows("manage_auto_recharge")
        alerts = self.query_one(AlertForm)
        alerts.reset()
        alerts.editable = self.allows("set_alerts")
        alerts.personal = context.kind == "personal"  # no member alerts on yourself alone
        self.query_one("#portal-url", Static).update("")

    def action_leave_field(self) -> None:
        """Escape leaves a text field; the keys of the screen work again."""
        if isinstance(self.focused, Input):
            self.query_one("#settings-scroll").focus()

    # --- loading ----------------------------------------------------------------------------
    async def load(self, context: Context) -> None:
        account = context.account_id
        (self.subscription, self.recharge, self.plans, self.packs,
         self.alert_settings) = await asyncio.gather(
            self.backend.subscription(account), self.backend.auto_recharge(account),
            self.backend.plans(), self.backend.credit_packs(),
            self.backend.alert_settings(account))
        self._show_plan()
        self._show_packs()
        await self.lower_sections_mounted()
        self._show_recharge()
        self.query_one(AlertForm).fill(self.alert_settings)

    def _show_recharge(self) -> None:
        recharge = self.recharge
        state = ("on" if recharge.enabled else "off") + \
            f"; spent {format_cents(recharge.spent_this_period_cents)} this period"
        if recharge.last_failure and self.role == "owner":
            state += f". Switched off after a failed payment: {recharge.last_failure}"
        self.query_one("#recharge-state", Static).update(state)
        self.query_one(RechargeForm).fill(recharge)

    # --- purchase -------------------------------------------------------------------------
    @on(Select.Changed, "#pack")
    @on(Input.Changed, "#custom")
    def purchase_changed(self) -> None:
        self._update_price()
        # A different amount: the outcome of the previous attempt no longer applies. (A
        # reload re-sets the same choice, which must not hide a declined payment.)
        if self._chosen_credits() != self._last_attempt:
            self.query_one("#purchase-error", ErrorNote).clear()
            self._failed_attempt = None

    @on(Select.Changed, "#pack")
    def pack_chosen(self, event: Select.Changed) -> None:
        if event.value == CUSTOM:
            self.query_one("#custom", Input).focus()

    @on(Button.Pressed, "#buy")
    @on(Input.Submitted, "#custom")
    def buy_pressed(self) -> None:
        self.run_worker(self.run_action("buy"), group="buy")

    # --- plan -----------------------------------------------------------------------------
    @on(Select.Changed, "#plan-choice")
    def plan_chosen(self) -> None:
        self._update_plan_buttons()

    @on(Button.Pressed, "#plan-change")
    def plan_change_pressed(self) -> None:
        self.run_worker(self.run_action("change_plan"), group="plan")

    @on(Button.Pressed, "#plan-cancel")
    def plan_cancel_pressed(self) -> None:
        self.run_worker(self.run_action("cancel_plan_change"), group="plan")

    # --- auto-recharge --------------------------------------------------------------------
    @on(Button.Pressed, "#recharge-save")
    def recharge_save_pressed(self) -> None:
        self.run_worker(self.run_action("save_recharge"), group="recharge")

    async def action_save_recharge(self) -> None:
        if not self.refuse_unless("manage_auto_recharge"):
            return
        await self.lower_sections_mounted()  # ctrl+s pressed right after opening
        values = self.query_one(RechargeForm).check(show_all=True)
        note = self.query_one("#recharge-error", ErrorNote)
        if values is None:
            note.show_error("Nothing saved: fix the fields marked above.")
            return
        enabled, threshold, amount, cap = values
        try:
            with busy(self.query_one("#recharge-save")):
                self.recharge = await self.backend.configure_auto_recharge(
                    self.account_id, enabled=enabled, threshold=threshold, amount=amount,
                    monthly_cap_cents=cap)
        except BillingError as error:
            note.show_error(error)
            return
        note.clear()
        cap_text = "no monthly cap" if cap is None else f"cap {format_cents(cap)} a period"
        self.post_message(DataChanged(
            f"Auto-recharge {'on' if enabled else 'off'}: below {format_credits(threshold)} "
            f"buy {format_credits_dollars(amount)}, {cap_text}.", title="Auto-recharge"))

    # --- alerts ---------------------------------------------------------------------------
    def palette_commands(self):
        yield ("Save alerts", "Save the balance thresholds and member usage shares (owner "
               "only)", "save_alerts")

    @on(AlertForm.Save)
    def alerts_save_asked(self, event: AlertForm.Save) -> None:
        self.run_worker(partial(self._save_alerts, event.balance_below,
                                event.member_usage_percent), group="alerts",
                        name="save alerts", exit_on_error=False)

    async def action_save_alerts(self) -> None:
        await self.lower_sections_mounted()  # from the palette right after opening
        values = self.query_one(AlertForm).check()
        if values is None:
            self.query_one("#alerts-error", ErrorNote).show_error(
                "Nothing saved: fix the fields marked above.")
            return
        await self._save_alerts(*values)

    async def _save_alerts(self, balance_below: list[int], shares: list[int]) -> None:
        if not self.refuse_unless("set_alerts"):
            return
        note = self.query_one("#alerts-error", ErrorNote)
        try:
            with busy(self.query_one("#alerts-save")):
                self.alert_settings = await self.backend.configure_alerts(
                    self.account_id, balance_below=balance_below,
                    member_usage_percent=shares)
        except BillingError as error:
            note.show_error(f"Nothing saved: {describe_error(error)}")
            return
        note.clear()
        self.query_one(AlertForm).fill(self.alert_settings)
        self.post_message(DataChanged(describe_settings(
            self.alert_settings.balance_below, self.alert_settings.member_usage_percent,
            personal=self.context.kind == "personal"), title="Alerts saved"))

    # --- portal ---------------------------------------------------------------------------
    @on(Button.Pressed, "#portal")
    def portal_pressed(self) -> None:
        self.run_worker(self.run_action("portal"), group="portal")

    async def action_portal(self) -> None:
        if not self.refuse_unless("open_portal"):
            return
        await self.lower_sections_mounted()  # p pressed right after opening
        note = self.query_one("#portal-error", ErrorNote)
        try:
            with busy(self.query_one("#portal")):
                url = await self.backend.portal_url(self.account_id)
        except BillingError as error:
            note.show_error(error)
            return
        note.clear()
        self.query_one("#portal-url", Static).update(
            f"Manage the payment method at: {url}")
        # Below the fold at 80x24 the line alone goes unseen: say it where one looks.
        self.notify(f"Manage the payment method at: {url}", title="Payment portal",
                    timeout=20)
