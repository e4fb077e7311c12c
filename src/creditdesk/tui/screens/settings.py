"""Settings: the plan and its pending change, buying credits, auto-recharge, alerts, payment
portal."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from ...errors import BillingError
from ...models import (
    AlertSettings,
    AutoRecharge,
    Context,
    CreditPack,
    Invoice,
    Plan,
    Subscription,
)
from ...money import (
    credits_to_cents,
    format_cents,
    format_credits,
    format_credits_dollars,
)
from ..confirm import ConfirmScreen
from ..form_checks import FieldError, parse_credits, purchase_multiple
from ..styles import stylesheet
from ..widgets.alert_form import AlertForm, describe_settings
from ..widgets.error_note import ErrorNote, describe_error
from ..widgets.form_input import FormInput
from ..widgets.recharge_form import RechargeForm
from ..widgets.role_gate import RoleGate
from .base import BillingScreen, DataChanged, busy
from .overview import day, plan_text

CUSTOM = "custom"
SECTIONS = {"plan": "#plan-section", "purchase": "#purchase-section",
            "auto-recharge": "#recharge-section", "alerts": "#alerts-section",
            "portal": "#portal-section"}


def plan_option(plan: Plan) -> str:
    """One line at 80 columns: "Team (annual) 100,000/mo $4,990.00/yr"."""
    per = "yr" if plan.billing_period == "annual" else "mo"
    return (f"{plan.name} {format_credits(plan.base_credits_per_month, unit=False)}/mo "
            f"{format_cents(plan.price_cents)}/{per}")


def plan_buttons(subscription: Subscription | None, plans: list[Plan],
                 choice: object) -> tuple[bool, bool, str]:
    """(Change usable, Cancel pending usable, what Change would do or why not)."""
    if subscription is None:
        return False, False, ""
    pending = subscription.pending_plan
    cancel_ok = pending is not None
    chosen = next((p for p in plans if p.id == choice), None)
    if chosen is None:
        note = "Choose a plan to see what Change would do."
    elif chosen.id == subscription.plan.id:
        note = f"{chosen.name} is your current plan: Change has nothing to do."
        if pending is not None:
            note += f" To stay on it, cancel the pending change to {pending.name}."
    elif pending is not None and chosen.id == pending.id:
        note = f"A change to {chosen.name} is already pending: Change has nothing to do."
    else:
        note = f"Change moves to {chosen.name} at the next renewal."
        if pending is not None:
            note += f" It replaces the pending change to {pending.name}."
        return True, cancel_ok, note
    if not cancel_ok:
        note += " Cancel pending: nothing is pending."
    return False, cancel_ok, note


class SettingsScreen(BillingScreen):
    MODE = "settings"
    # Focus goes to #settings-scroll after the first paint (on_mount), not with the
    # composing: focusing it restyles its ~90 widgets, which in the same step made one
    # stall of the first visit.
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

    def on_mount(self) -> None:
        self.call_after_refresh(self._focus_scroll)

    def _focus_scroll(self) -> None:
        if self.focused is None:  # unless a shortcut chose a field first (overview's b)
            self.query_one("#settings-scroll").focus()

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="settings-scroll"):
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
            with Vertical(id="recharge-section", classes="section"):
                yield Label("Auto-recharge", classes="section-title")
                yield Static("", id="recharge-state")
                yield RoleGate("manage_auto_recharge",
                               RechargeForm(blink=self.app.cursor_blink, id="recharge-form"),
                               vertical=True, id="recharge-gate")
                yield ErrorNote(id="recharge-error")
            with Vertical(id="alerts-section", classes="section"):
                yield Label("Alerts", classes="section-title")
                yield RoleGate("set_alerts", AlertForm(blink=self.app.cursor_blink,
                                                       id="alert-form"),
                               vertical=True, id="alerts-gate")
                yield ErrorNote(id="alerts-error")
            with Vertical(id="portal-section", classes="section"):
                yield Label("Payment method", classes="section-title")
                yield RoleGate("open_portal",
                               Button("Show payment portal link (p)", id="portal",
                                      compact=True), id="portal-gate")
                yield Static("", id="portal-url")
                yield ErrorNote(id="portal-error")

    def action_focus_section(self, name: str) -> None:
        """Scroll to a section and focus its first usable control (overview's b / a run
        this as `screen.focus_section(...)` once Settings is shown)."""
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
        form = self.query_one(RechargeForm)
        form.reset()
        form.editable = self.allows("manage_auto_recharge")
        alerts = self.query_one(AlertForm)
        alerts.reset()
        alerts.editable = self.allows("set_alerts")
        self._plan_options = self._pack_options = None
        self._last_attempt = self._failed_attempt = None
        self.query_one("#plan-choice", Select).clear()
        self.query_one("#pack", Select).clear()
        self.query_one("#custom", Input).value = ""
        for note in self.query(ErrorNote):
            note.clear()
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
        self._show_recharge()
        self.query_one(AlertForm).fill(self.alert_settings)

    def _show_plan(self) -> None:
        subscription = self.subscription
        self.query_one("#plan-current", Static).update(
            f"{plan_text(subscription)}; renews {day(subscription.renews_at)}"
            + ("  PAST DUE: the last payment was declined." if
               subscription.status == "past_due" else ""))
        pending = self.query_one("#plan-pending", Static)
        if subscription.pending_plan is not None and subscription.pending_from is not None:
            pending.update(f"Pending: changes to {subscription.pending_plan.name} on "
                           f"{day(subscription.pending_from)} (cancel it below).")
        else:
            pending.update("No pending change.")
        current = subscription.plan.id
        options = [(plan_option(p) + ("  (current)" if p.id == current else ""), p.id)
                   for p in self.plans]
        if options != self._plan_options:
            self._plan_options = options
            self.query_one("#plan-choice", Select).set_options(options)
        self._update_plan_buttons()

    def _update_plan_buttons(self) -> None:
        allowed = self.query_one("#plan-gate", RoleGate).allowed
        choice = self.query_one("#plan-choice", Select).value
        change_ok, cancel_ok, note = plan_buttons(self.subscription, self.plans, choice)
        self.query_one("#plan-change", Button).disabled = not allowed or not change_ok
        self.query_one("#plan-cancel", Button).disabled = not allowed or not cancel_ok
        # What Change would do, or why the buttons are dimmed, in words anyone can see.
        self.query_one("#plan-note", Static).update(note if allowed else "")

    def _show_packs(self) -> None:
        pack = self.query_one("#pack", Select)
        previous = pack.value
        options = [(f"{format_credits(p.credits)} for {format_cents(p.price_cents)}", p.id)
                   for p in self.packs]
        options.append(("Another amount…", CUSTOM))
        if options != self._pack_options:
            self._pack_options = options
            pack.set_options(options)
            if previous in [value for _, value in options]:
                pack.value = previous
        self._update_price()

    def _show_recharge(self) -> None:
        recharge = self.recharge
        state = ("on" if recharge.enabled else "off") + \
            f"; spent {format_cents(recharge.spent_this_period_cents)} this period"
        if recharge.last_failure and self.role == "owner":
            state += f". Switched off after a failed payment: {recharge.last_failure}"
        self.query_one("#recharge-state", Static).update(state)
        self.query_one(RechargeForm).fill(recharge)

    # --- purchase -------------------------------------------------------------------------
    def _chosen_credits(self) -> int | None:
        """Credits the purchase form describes; shows what is wrong and returns None."""
        note = self.query_one("#custom-error", ErrorNote)
        choice = self.query_one("#pack", Select).value
        custom = self.query_one("#custom", Input)
        custom.display = choice == CUSTOM
        note.clear()
        if choice == Select.NULL:
            return None
        if choice != CUSTOM:
            return next(p.credits for p in self.packs if p.id == choice)
        if not custom.value.strip():
            return None
        try:
            return parse_credits(custom.value, multiple_of=purchase_multiple())
        except FieldError as error:
            note.show_error(f"Amount: {error}")
            return None

    def _update_price(self) -> None:
        credits = self._chosen_credits()
        price = self.query_one("#price", Static)
        allowed = self.query_one("#purchase-gate", RoleGate).allowed
        self.query_one("#buy", Button).disabled = not allowed or credits is None
        if credits is None:
            price.update("Choose a pack or another amount to see its price.")
        elif credits == self._failed_attempt:
            # Reloads come after a failed try: its price must not read as if it went through.
            price.update(f"Nothing was bought: the try for {format_credits(credits)} did not "
                         f"go through (see above).")
        else:
            price.update(f"{format_credits(credits)} cost "
                         f"{format_cents(credits_to_cents(credits))}, added at once.")

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

    def action_buy(self) -> None:
        if not self.refuse_unless("purchase_credits"):
            return
        credits = self._chosen_credits()
        if credits is None:
            self.action_focus_section("purchase")
            self.query_one("#custom-error", ErrorNote).show_error(
                "Choose a pack, or another amount in credits (a multiple of 200).")
            return
        context = self.context
        price = format_cents(credits_to_cents(credits))
        body = (f"Buy {format_credits(credits)} for {context.name} at {price}? The payment "
                f"method on file is charged now and the credits are added at once.")

        def confirmed(yes: bool | None) -> None:
            if yes:
                # A fresh key per confirmed purchase: a retry of this one stays one purchase.
                key = f"tui-{uuid.uuid4()}"
                self.run_worker(self._purchase(context, credits, key), group="buy")

        self.app.push_screen(ConfirmScreen(f"Spend {price}?", body,
                                           confirm_label=f"Buy for {price}"), confirmed)

    async def _purchase(self, context: Context, credits: int, key: str) -> None:
        note = self.query_one("#purchase-error", ErrorNote)
        note.clear()
        self._last_attempt = credits
        try:
            with busy(self.query_one("#buy")):
                invoice: Invoice = await self.backend.purchase_credits(
                    context.account_id, credits, idempotency_key=key)
        except BillingError as error:
            note.show_error(f"Nothing was charged and no credits were added: "
                            f"{describe_error(error)}")
            self._failed_attempt = credits
            self._update_price()
            self.post_message(DataChanged())  # a declined payment leaves a failed invoice
            return
        if invoice.status != "paid":
            note.show_error(f"Payment failed, nothing was charged: {invoice.description}")
            self._failed_attempt = credits
            self._update_price()
            self.post_message(DataChanged())
            return
        self._clear_purchase()
        self.post_message(DataChanged(f"Bought {format_credits_dollars(credits)}: invoice "
                                      f"{invoice.number}.", title="Credits bought"))

    def _clear_purchase(self) -> None:
        """A completed purchase empties its form, and focus leaves the amount box (a key
        pressed next is a key, not more digits in it)."""
        self._last_attempt = self._failed_attempt = None
        if isinstance(self.focused, Input):
            self.query_one("#settings-scroll").focus()
        self.query_one("#custom", Input).value = ""
        self.query_one("#pack", Select).clear()

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

    def action_change_plan(self) -> None:
        if not self.refuse_unless("change_plan"):
            return
        plan_id = self.query_one("#plan-choice", Select).value
        plan = next((p for p in self.plans if p.id == plan_id), None)
        if plan is None or self.subscription is None:
            return
        if plan.id == self.subscription.plan.id:
            # Never a silent cancel of the pending change: that is what Cancel pending is for.
            self.notify(plan_buttons(self.subscription, self.plans, plan_id)[2],
                        severity="warning")
            return
        context = self.context
        body = (f"Change {context.name} to {plan.name} ({format_cents(plan.price_cents)} "
                f"{plan.billing_period})? It takes effect at the "
                f"{'end of the paid year' if self.subscription.plan.billing_period == 'annual' else 'next period close'}"
                f" ({day(self.subscription.renews_at if self.subscription.plan.billing_period == 'annual' else self.subscription.period_end)}), "
                f"and is billed from then.")
        pending = self.subscription.pending_plan
        if pending is not None:
            body += f" It replaces the pending change to {pending.name}."

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._change_plan(context, plan), group="plan")

        self.app.push_screen(ConfirmScreen(f"Change plan to {plan.name}?", body,
                                           confirm_label="Change plan"), confirmed)

    async def _change_plan(self, context: Context, plan: Plan) -> None:
        note = self.query_one("#plan-error", ErrorNote)
        try:
            with busy(self.query_one("#plan-change")):
                subscription = await self.backend.change_plan(context.account_id, plan.id)
        except BillingError as error:
            note.show_error(error)
            return
        note.clear()
        when = day(subscription.pending_from) if subscription.pending_from else "the close"
        self.post_message(DataChanged(f"Plan changes to {plan.name} on {when}.", title="Plan"))

    async def action_cancel_plan_change(self) -> None:
        if not self.refuse_unless("change_plan"):
            return
        note = self.query_one("#plan-error", ErrorNote)
        try:
            with busy(self.query_one("#plan-cancel")):
                await self.backend.cancel_plan_change(self.account_id)
        except BillingError as error:
            note.show_error(error)
            return
        note.clear()
        self.post_message(DataChanged("Pending plan change cancelled.", title="Plan"))

    # --- auto-recharge --------------------------------------------------------------------
    @on(Button.Pressed, "#recharge-save")
    def recharge_save_pressed(self) -> None:
        self.run_worker(self.run_action("save_recharge"), group="recharge")

    async def action_save_recharge(self) -> None:
        if not self.refuse_unless("manage_auto_recharge"):
            return
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
            self.alert_settings.balance_below, self.alert_settings.member_usage_percent),
            title="Alerts saved"))

    # --- portal ---------------------------------------------------------------------------
    @on(Button.Pressed, "#portal")
    def portal_pressed(self) -> None:
        self.run_worker(self.run_action("portal"), group="portal")

    async def action_portal(self) -> None:
        if not self.refuse_unless("open_portal"):
            return
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
