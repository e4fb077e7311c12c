"""Settings' plan section: the plan list, what Change would do, changing the plan and
cancelling a pending change (a part of SettingsScreen: its handlers call these)."""

from __future__ import annotations

from textual.widgets import Button, Select, Static

from ...errors import BillingError
from ...models import Context, Plan, Subscription
from ...money import format_cents, format_credits
from ..confirm import ConfirmScreen
from ..widgets.error_note import ErrorNote
from ..widgets.role_gate import RoleGate
from .base import DataChanged, busy
from .overview import day, plan_text


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


class ChangesPlan:
    """The plan section's behaviour, for SettingsScreen (which holds `plans` and
    `subscription`, and the BillingScreen methods these call)."""

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
