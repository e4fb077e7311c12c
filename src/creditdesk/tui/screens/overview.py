"""Overview: the balance and its split, this period's use, forecasts, plan, recharge, autopilot."""

from __future__ import annotations

import asyncio
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ...models import AutoRecharge, Balance, Context, MemberUsage, Subscription
from ...money import (
    credits_to_cents,
    format_cents,
    format_credits,
    format_credits_dollars,
)
from ..forecast import PeriodForecast, RecentUse, forecast_period, recent_use
from ..styles import stylesheet
from ..widgets.balance_bar import SEGMENTS, BalanceBar
from ..widgets.figure_rows import FigureRows
from .base import BillingScreen

RECENT_ENTRIES = 200  # enough newest entries to see the last hour's pace in a busy org

def day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def days_until(now: datetime, end: datetime) -> str:
    seconds = (end - now).total_seconds()
    if seconds <= 0:
        return "closing now"
    days = int(seconds // 86_400)
    if days == 0:
        return f"in {max(1, int(seconds // 3600))} h"
    return "in 1 day" if days == 1 else f"in {days} days"


def forecast_rows(forecast: PeriodForecast | None, balance: Balance, *,
                  recharge_on: bool) -> list[tuple[str, str, str]]:
    if forecast is None:
        return [(" ", "Forecast", "no usage yet this period: no pace to forecast from")]
    basis = "At the last hour's pace" if forecast.recent else "At this pace"
    rows = [(" ", basis,
             f"{format_credits(round(forecast.per_day))} a day; at the close "
             f"{format_credits(forecast.rolls_over, unit=False)} roll over, "
             f"{format_credits(forecast.forfeited, unit=False)} are forfeited")]
    if forecast.runs_out_at is None:
        lasts = "last more than a year at this pace"
    elif forecast.runs_out_at < balance.period_end:
        lasts = f"run out around {day(forecast.runs_out_at)}, before the close"
    else:
        lasts = f"last until about {day(forecast.runs_out_at)}"
    if recharge_on and forecast.runs_out_at is not None:
        lasts += " (unless auto-recharge tops up)"
    rows.append((" ", "Credits", lasts))
    return rows


def recharge_text(recharge: AutoRecharge) -> str:
    if not recharge.enabled:
        return "off"
    cap = (f"cap {format_cents(recharge.monthly_cap_cents)} a period"
           if recharge.monthly_cap_cents is not None else "no monthly cap")
    return (f"on: below {format_credits(recharge.threshold, unit=False)} buys "
            f"{format_credits_dollars(recharge.amount)}; {cap}, "
            f"{format_cents(recharge.spent_this_period_cents)} spent")


def plan_text(subscription: Subscription) -> str:
    plan = subscription.plan
    return (f"{plan.name}: {format_credits(plan.base_credits_per_month)} a month, "
            f"rollover cap {format_credits(plan.rollover_cap, unit=False)}, "
            f"{format_cents(plan.price_cents)} {plan.billing_period}")


def cap_reached(recharge: AutoRecharge) -> bool:
    """Auto-recharge is on but its monthly cap leaves no room for one more recharge."""
    cap = recharge.monthly_cap_cents
    return recharge.enabled and cap is not None and \
        recharge.spent_this_period_cents + credits_to_cents(recharge.amount) > cap


def paused_cause(owner: bool, balance: Balance, recharge: AutoRecharge) -> str:
    """Why autopilot is paused and what fixes it, in one sentence (keys for owners)."""
    if cap_reached(recharge):
        cap = format_cents(recharge.monthly_cap_cents)
        fix = ("raise it (a) or buy credits (b)." if owner else
               "ask an owner to raise it or buy credits.")
        return f"the credits ran out and auto-recharge reached its {cap} cap: {fix}"
    # The backend's reason names the cause alone; the fix is worded here, once, for this
    # reader and this auto-recharge (on but unable to cover it: a bigger amount is the fix).
    reason = (balance.autopilot_reason or "the account has run out of credits").rstrip(".")
    if not owner:
        fix = "buy credits or raise the recharge amount" if recharge.enabled else \
            "buy credits or enable auto-recharge"
        return f"{reason}. Ask an owner to {fix}."
    if recharge.enabled:
        return f"{reason}. Press b to buy credits, or a to raise the recharge amount."
    return f"{reason}. Press b to buy credits, or a to enable auto-recharge."


class OverviewScreen(BillingScreen):
    """Everything an owner or admin needs at a glance; a member sees only their own use."""

    MODE = "overview"
    CSS_PATH = stylesheet("overview.tcss")
    # Not Textual's auto focus after compose: focusing the scroll then restyles it and every
    # figure in it, before the first frame, for a state that looks the same (nothing here
    # styles :focus). It is focused once the first load is done (`_focus_scroll`), so the
    # arrow and page keys scroll as before.
    AUTO_FOCUS = ""
    ROLE_ACTIONS = {"buy_credits": "purchase_credits",
                    "edit_auto_recharge": "manage_auto_recharge"}
    BINDINGS = [
        Binding("b", "buy_credits", "Buy credits", id="overview.buy",
                tooltip="Open Settings at the credit purchase (owner only)"),
        Binding("a", "edit_auto_recharge", "Recharge", id="overview.auto_recharge",
                tooltip="Open Settings at auto-recharge (owner only)"),
    ]
    BANNERS = ("#past-due", "#paused", "#recharge-failure")

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="overview-scroll"):
            yield Static("", id="welcome", classes="banner -info")
            yield Static("", id="past-due", classes="banner -error")
            yield Static("", id="paused", classes="banner -warning")
            yield Static("", id="recharge-failure", classes="banner -error")
            yield FigureRows(id="member-view")
            yield Static("", id="member-note")
            with Vertical(id="figures"):
                yield FigureRows(id="total")
                yield BalanceBar(id="balance-bar")
                yield FigureRows(id="buckets")
                yield FigureRows(id="period")
                yield FigureRows(id="plan")

    def on_mount(self) -> None:
        for name in (*self.BANNERS, "#member-view", "#member-note"):
            self.query_one(name).display = False
        welcome = self.query_one("#welcome", Static)
        welcome.display = self.app.welcome_pending and self.app.demo is not None
        if welcome.display:
            welcome.update(self.app.demo.welcome)

    def on_screen_suspend(self) -> None:
        # The welcome line is for the first look only.
        self.query_one("#welcome").display = False

    async def load(self, context: Context) -> None:
        try:
            await self._load(context)
        finally:
            # After the figures (or the error) are shown; the scroll only needs focus for
            # the keys, and a person cannot press one before the first frame.
            if self.focused is None:
                self.call_after_refresh(self._focus_scroll)

    def _focus_scroll(self) -> None:
        if self.focused is None:
            self.query_one("#overview-scroll").focus(scroll_visible=False)

    async def _load(self, context: Context) -> None:
        if not self.allows("view_balance"):
            usage = await self.backend.my_usage(context.account_id)
            self._show_member_view(context, usage)
            return
        balance, subscription, recharge, newest = await asyncio.gather(
            self.backend.balance(context.account_id),
            self.backend.subscription(context.account_id),
            self.backend.auto_recharge(context.account_id),
            # The newest entries give the recent pace (live work) for the forecast.
            self.backend.ledger(context.account_id, limit=RECENT_ENTRIES))
        if self.unchanged("figures", (balance, subscription, recharge, newest)):
            return  # the same answer as on screen: repaint nothing (over SSH, bytes count)
        self._show_figures(context, balance, subscription, recharge,
                           recent_use(newest, self.now()))

    def _set_member_view(self, member_view: bool) -> None:
        self.query_one("#figures").display = not member_view
        self.query_one("#member-view").display = member_view
        self.query_one("#member-note").display = member_view
        if member_view:
            for banner in self.BANNERS:
                self.query_one(banner).display = False

    def _show_member_view(self, context: Context, usage: MemberUsage) -> None:
        self._set_member_view(True)
        rows = [(" ", "Your use", f"{format_credits_dollars(usage.used_this_period)} "
                                  f"this period")]
        if usage.limit is None:
            rows.append((" ", "Your limit", "none: you may use the org's credits freely"))
        else:
            left = max(0, usage.limit - usage.used_this_period)
            rows.append((" ", "Your limit", f"{format_credits(usage.limit)} this period, "
                                            f"{format_credits(left)} left"))
            if left == 0:
                rows.append((" ", "", "You have reached your limit: your work is stopped "
                                      "until the period closes or an owner raises it."))
        self.query_one("#member-view", FigureRows).set_rows(rows)
        self.query_one("#member-note", Static).update(
            f"Balances, plans and invoices of {context.name} are for admins and owners; "
            f"ask one of them if you need more credits.")

    def _show_figures(self, context: Context, balance: Balance, subscription: Subscription,
                      recharge: AutoRecharge, recent: RecentUse | None) -> None:
        self._set_member_view(False)
        now = self.now()
        self.query_one("#total", FigureRows).set_rows(
            [(" ", "Balance", Text(format_credits_dollars(balance.total), style="bold"))])
        self.query_one(BalanceBar).parts = (balance.base, balance.rollover, balance.purchased)
        self.query_one("#buckets", FigureRows).set_rows(
            [(glyph, name.capitalize(), format_credits_dollars(amount))
             for (name, glyph), amount in zip(SEGMENTS, (balance.base, balance.rollover,
                                                          balance.purchased))])
        period = [(" ", "Used", f"{format_credits_dollars(balance.used_this_period)} "
                                f"this period"),
                  (" ", "Period closes", f"{days_until(now, balance.period_end)} "
                                         f"({day(balance.period_end)})")]
        period += forecast_rows(forecast_period(balance, subscription, now, recent), balance,
                                recharge_on=recharge.enabled)
        self.query_one("#period", FigureRows).set_rows(period)
        plan = [(" ", "Plan", plan_text(subscription))]
        if subscription.pending_plan is not None and subscription.pending_from is not None:
            plan.append((" ", "Pending change", f"to {subscription.pending_plan.name} on "
                                                f"{day(subscription.pending_from)}"))
        plan.append((" ", "Auto-recharge", recharge_text(recharge)))
        running = balance.autopilot == "running"
        plan.append((" ", "Autopilot", "running" if running else "PAUSED"))
        self.query_one("#plan", FigureRows).set_rows(plan)
        self._show_banners(context.role == "owner", balance, subscription, recharge)

    def _show_banners(self, owner: bool, balance: Balance, subscription: Subscription,
                      recharge: AutoRecharge) -> None:
        past_due = self.query_one("#past-due", Static)
        past_due.display = owner and subscription.status == "past_due"
        self._set_banner(past_due, "Subscription PAST DUE: the last payment was declined. "
                                   "Update the payment method in the portal (s, then p), "
                                   "then pay the failed invoice (i, then $).")
        failure = self.query_one("#recharge-failure", Static)
        failure.display = owner and recharge.last_failure is not None
        self._set_banner(failure, f"Auto-recharge switched itself off: "
                                  f"{recharge.last_failure}. Fix the payment method, then "
                                  f"press a to turn it back on.")
        paused = self.query_one("#paused", Static)
        paused.display = balance.autopilot == "paused"
        self._set_banner(paused, f"Autopilot is PAUSED: "
                                 f"{paused_cause(owner, balance, recharge)}")

    def _set_banner(self, banner: Static, text: str) -> None:
        # Rewritten only when shown and its words changed: a hidden or unchanged banner
        # costs no layout pass and no bytes on a live tick.
        if banner.display and not self.unchanged(f"banner {banner.id}", text):
            banner.update(text)

    # --- actions: shortcuts into Settings ------------------------------------------------
    async def action_buy_credits(self) -> None:
        if self.refuse_unless("purchase_credits"):
            await self._open_settings("purchase")

    async def action_edit_auto_recharge(self) -> None:
        if self.refuse_unless("manage_auto_recharge"):
            await self._open_settings("auto-recharge")

    async def _open_settings(self, section: str) -> None:
        await self.app.switch_mode("settings")
        # An action on whatever screen is now shown: no handle on Settings itself.
        await self.app.run_action(f"screen.focus_section({section!r})")
