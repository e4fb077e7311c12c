"""Overview: the balance and its split, this period's use, forecasts, plan, recharge, autopilot."""

from __future__ import annotations

import asyncio
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...models import AutoRecharge, Balance, Context, MemberUsage, Subscription
from ...money import format_cents, format_credits, format_credits_dollars
from ..forecast import PeriodForecast, forecast_period
from ..styles import stylesheet
from ..widgets.balance_bar import SEGMENTS, BalanceBar
from .base import BillingScreen

LABEL_WIDTH = 17


def day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def row(label: str, value: str | Text, *, glyph: str = " ") -> Text:
    line = Text(f"{glyph} {label:<{LABEL_WIDTH - 2}}", style="bold")
    line.append(value)
    return line


def days_until(now: datetime, end: datetime) -> str:
    seconds = (end - now).total_seconds()
    if seconds <= 0:
        return "closing now"
    days = int(seconds // 86_400)
    if days == 0:
        return f"in {max(1, int(seconds // 3600))} h"
    return "in 1 day" if days == 1 else f"in {days} days"


def forecast_lines(forecast: PeriodForecast | None, balance: Balance, *,
                   recharge_on: bool) -> list[Text]:
    if forecast is None:
        return [row("Forecast", "no usage yet this period, so no pace to forecast from")]
    lines = [row("At this pace",
                 f"{format_credits(round(forecast.per_day))} a day: "
                 f"{format_credits(forecast.rolls_over)} roll over, "
                 f"{format_credits(forecast.forfeited)} forfeited at the close")]
    if forecast.runs_out_at is None:
        lasts = "more than a year at this pace"
    elif forecast.runs_out_at < balance.period_end:
        lasts = f"run out around {day(forecast.runs_out_at)}, before the period closes"
    else:
        lasts = f"last until about {day(forecast.runs_out_at)}"
    if recharge_on:
        lasts += " (auto-recharge tops up before then)"
    lines.append(row("Credits", lasts))
    return lines


def recharge_text(recharge: AutoRecharge) -> str:
    if not recharge.enabled:
        return "off"
    cap = (f", cap {format_cents(recharge.monthly_cap_cents)} a period"
           if recharge.monthly_cap_cents is not None else ", no monthly cap")
    return (f"on: below {format_credits(recharge.threshold)} buys "
            f"{format_credits_dollars(recharge.amount)}{cap}; "
            f"spent {format_cents(recharge.spent_this_period_cents)} this period")


def plan_text(subscription: Subscription) -> str:
    plan = subscription.plan
    text = (f"{plan.name}: {format_credits(plan.base_credits_per_month)} a month, rollover cap "
            f"{format_credits(plan.rollover_cap, unit=False)}, "
            f"{format_cents(plan.price_cents)} {plan.billing_period}")
    return text


class OverviewScreen(BillingScreen):
    """Everything an owner or admin needs at a glance; a member sees only their own use."""

    MODE = "overview"
    CSS_PATH = stylesheet("overview.tcss")
    ROLE_ACTIONS = {"buy_credits": "purchase_credits",
                    "edit_auto_recharge": "manage_auto_recharge"}
    BINDINGS = [
        Binding("b", "buy_credits", "Buy credits", id="overview.buy",
                tooltip="Open Settings at the credit purchase (owner only)"),
        Binding("a", "edit_auto_recharge", "Auto-recharge", id="overview.auto_recharge",
                tooltip="Open Settings at auto-recharge (owner only)"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("", id="welcome", classes="banner -info")
        yield Static("", id="past-due", classes="banner -error")
        yield Static("", id="paused", classes="banner -warning")
        yield Static("", id="recharge-failure", classes="banner -error")
        yield Static("", id="member-view")
        yield Static("", id="total")
        yield BalanceBar(id="balance-bar")
        yield Static("", id="buckets")
        yield Static("", id="period")
        yield Static("", id="forecast")
        yield Static("", id="plan")
        yield Static("", id="recharge")
        yield Static("", id="autopilot")

    def on_mount(self) -> None:
        super().on_mount()
        for banner in ("#past-due", "#paused", "#recharge-failure", "#member-view"):
            self.query_one(banner).display = False
        welcome = self.query_one("#welcome", Static)
        welcome.display = self.app.welcome_pending
        if self.app.welcome_pending and self.app.demo is not None:
            welcome.update(self.app.demo.welcome)

    def on_screen_suspend(self) -> None:
        # The welcome line is for the first look only.
        self.query_one("#welcome").display = False

    async def load(self, context: Context) -> None:
        if not self.allows("view_balance"):
            usage = await self.backend.my_usage(context.account_id)
            self._show_member_view(context, usage)
            return
        balance, subscription, recharge = await asyncio.gather(
            self.backend.balance(context.account_id),
            self.backend.subscription(context.account_id),
            self.backend.auto_recharge(context.account_id))
        self._show_figures(context, balance, subscription, recharge)

    def _show_member_view(self, context: Context, usage: MemberUsage) -> None:
        self._set_figures_visible(False)
        view = self.query_one("#member-view", Static)
        lines = Text()
        lines.append(row("Your use", format_credits_dollars(usage.used_this_period)))
        lines.append("\n")
        if usage.limit is None:
            lines.append(row("Your limit", "none: the org's pool is yours to use"))
        else:
            left = max(0, usage.limit - usage.used_this_period)
            lines.append(row("Your limit", f"{format_credits(usage.limit)} this period, "
                                           f"{format_credits(left)} left"))
        lines.append("\n\n")
        lines.append(f"Balances, plans and invoices of {context.name} are for admins and "
                     f"owners; ask one of them if you need more credits.")
        view.update(lines)
        view.display = True

    def _set_figures_visible(self, visible: bool) -> None:
        for name in ("#total", "#balance-bar", "#buckets", "#period", "#forecast", "#plan",
                     "#recharge", "#autopilot"):
            self.query_one(name).display = visible
        self.query_one("#member-view").display = not visible
        if not visible:
            for banner in ("#past-due", "#paused", "#recharge-failure"):
                self.query_one(banner).display = False

    def _show_figures(self, context: Context, balance: Balance, subscription: Subscription,
                      recharge: AutoRecharge) -> None:
        self._set_figures_visible(True)
        owner = context.role == "owner"
        now = self.now()
        self.query_one("#total", Static).update(
            row("Balance", Text(format_credits_dollars(balance.total), style="bold")))
        self.query_one(BalanceBar).parts = (balance.base, balance.rollover, balance.purchased)
        buckets = Text()
        for (name, glyph), amount in zip(SEGMENTS, (balance.base, balance.rollover,
                                                    balance.purchased)):
            if buckets:
                buckets.append("\n")
            buckets.append(row(name.capitalize(), format_credits_dollars(amount), glyph=glyph))
        self.query_one("#buckets", Static).update(buckets)
        period = Text()
        period.append(row("Used", f"{format_credits_dollars(balance.used_this_period)} "
                                  f"this period"))
        period.append("\n")
        period.append(row("Period closes", f"{days_until(now, balance.period_end)} "
                                           f"({day(balance.period_end)})"))
        self.query_one("#period", Static).update(period)
        lines = forecast_lines(forecast_period(balance, subscription, now), balance,
                               recharge_on=recharge.enabled)
        self.query_one("#forecast", Static).update(Text("\n").join(lines))
        plan = Text()
        plan.append(row("Plan", plan_text(subscription)))
        if subscription.pending_plan is not None and subscription.pending_from is not None:
            plan.append("\n")
            plan.append(row("Pending change", f"to {subscription.pending_plan.name} from "
                                              f"{day(subscription.pending_from)}"))
        self.query_one("#plan", Static).update(plan)
        self.query_one("#recharge", Static).update(row("Auto-recharge",
                                                       recharge_text(recharge)))
        running = balance.autopilot == "running"
        self.query_one("#autopilot", Static).update(
            row("Autopilot", "running" if running else "PAUSED"))
        self._show_banners(owner, balance, subscription, recharge)

    def _show_banners(self, owner: bool, balance: Balance, subscription: Subscription,
                      recharge: AutoRecharge) -> None:
        past_due = self.query_one("#past-due", Static)
        past_due.display = owner and subscription.status == "past_due"
        past_due.update("Subscription PAST DUE: the last payment was declined. Update the "
                        "payment method in the portal (s, then p).")
        failure = self.query_one("#recharge-failure", Static)
        failure.display = owner and recharge.last_failure is not None
        failure.update(f"Auto-recharge switched itself off: {recharge.last_failure}. "
                       f"Fix the payment method, then press a to turn it back on.")
        paused = self.query_one("#paused", Static)
        paused.display = balance.autopilot == "paused"
        reason = balance.autopilot_reason or "the org has run out of credits"
        if owner:
            fix = "Press b to buy credits" + ("." if recharge.enabled else
                                              ", or a to enable auto-recharge.")
        else:
            fix = "Ask an owner to buy credits or enable auto-recharge."
        paused.update(f"Autopilot is PAUSED: {reason}. All autonomous work waits. {fix}")

    # --- actions: shortcuts into Settings ------------------------------------------------
    async def action_buy_credits(self) -> None:
        if self.refuse_unless("purchase_credits"):
            await self._open_settings("purchase")

    async def action_edit_auto_recharge(self) -> None:
        if self.refuse_unless("manage_auto_recharge"):
            await self._open_settings("auto-recharge")

    async def _open_settings(self, section: str) -> None:
        await self.app.run_action("switch_mode('settings')")
        focus_section = getattr(self.app.screen, "focus_section", None)
        if focus_section is not None:
            focus_section(section)
