"""Overview: figures from the backend, forecasts, banners for owners, the member view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditdesk.errors import InsufficientCredits
from creditdesk.models import Balance, Plan, Subscription
from creditdesk.money import format_credits, format_credits_dollars
from creditdesk.tui.forecast import RecentUse, forecast_period, recent_use
from creditdesk.tui.widgets.balance_bar import needs_repaint, split_widths

from .pilot_helpers import SIZE, settle, text_of, toasts

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
TEAM = Plan(id="team", name="Team", base_credits_per_month=100_000, rollover_cap=50_000,
            billing_period="monthly", price_cents=49_900)
SMALL_CAP = Plan(id="lean", name="Lean", base_credits_per_month=100_000, rollover_cap=10_000,
                 billing_period="monthly", price_cents=19_900)


def balance(base: int, rollover: int, purchased: int, used: int) -> Balance:
    return Balance(account_id="acme", base=base, rollover=rollover, purchased=purchased,
                   total=base + rollover + purchased, used_this_period=used,
                   period_start=START, period_end=END, autopilot="running")


def subscription(pending: Plan | None = None) -> Subscription:
    return Subscription(account_id="acme", plan=TEAM, pending_plan=pending,
                        pending_from=END if pending else None, period_start=START,
                        period_end=END, renews_at=END, status="active")


def test_forecast_rollover_and_forfeit_at_the_current_pace() -> None:
    # 10 of 30 days gone, 20,000 used: 2,000 a day, 40,000 more before the close.
    now = START + timedelta(days=10)
    forecast = forecast_period(balance(80_000, 30_000, 5_000, 20_000), subscription(), now)
    assert round(forecast.per_day) == 2_000
    assert forecast.use_until_close == 40_000
    # Base left 40,000 + rollover 30,000 = 70,000 carried; the cap keeps 50,000.
    assert (forecast.rolls_over, forecast.forfeited) == (50_000, 20_000)
    # Each later period grants 100,000 against 60,000 used: credits never run out.
    assert forecast.runs_out_at is None


def test_forecast_uses_the_cap_of_a_plan_change_pending_at_the_close() -> None:
    now = START + timedelta(days=10)
    forecast = forecast_period(balance(80_000, 30_000, 5_000, 20_000),
                               subscription(pending=SMALL_CAP), now)
    assert (forecast.rolls_over, forecast.forfeited) == (10_000, 60_000)


def test_forecast_finds_the_day_credits_run_out() -> None:
    # 3,000 a day with 30,000 left: ten days from now, before the close.
    now = START + timedelta(days=10)
    forecast = forecast_period(balance(10_000, 0, 20_000, 30_000), subscription(), now)
    assert forecast.runs_out_at == now + timedelta(days=10)
    assert forecast.rolls_over == 0


def test_no_forecast_without_usage() -> None:
    assert forecast_period(balance(100_000, 0, 0, 0), subscription(), START) is None


@pytest.mark.parametrize("parts, width, expected", [
    ([50, 30, 20], 10, [5, 3, 2]),
    ([0, 0, 0], 10, [0, 0, 0]),
    ([1, 0, 999], 10, [1, 0, 9]),       # a small non-zero bucket never disappears
    ([1, 1, 1], 10, [4, 3, 3]),
])
def test_balance_bar_widths(parts, width, expected) -> None:
    assert split_widths(parts, width) == expected
    assert sum(split_widths(parts, width)) in (0, width)


def test_balance_bar_repaints_only_when_its_cells_change() -> None:
    before = (45_000, 28_000, 35_000)
    assert not needs_repaint(before, (44_700, 28_000, 35_000), 78)  # a few debits
    assert needs_repaint(before, (25_000, 28_000, 35_000), 78)      # a cell moved
    assert needs_repaint(None, before, 78) and needs_repaint(before, None, 78)
    assert not needs_repaint(None, None, 78)


async def test_owner_sees_balance_split_use_and_plan(make_app, demo_world) -> None:
    session = demo_world.engine.session(demo_world.owner)
    figures = session.balance(demo_world.org_id)
    plan = session.subscription(demo_world.org_id).plan
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert format_credits_dollars(figures.total) in screen.query_one("#total").plain
        buckets = screen.query_one("#buckets").plain
        for amount in (figures.base, figures.rollover, figures.purchased):
            assert format_credits_dollars(amount) in buckets
        assert screen.query_one("#balance-bar").parts == (figures.base, figures.rollover,
                                                          figures.purchased)
        period = screen.query_one("#period").plain
        assert format_credits_dollars(figures.used_this_period) in period
        days = (figures.period_end - app.now()).days
        assert f"in {days} days" in period
        assert "At this pace" in period
        assert plan.name in screen.query_one("#plan").plain
        assert not screen.query_one("#member-view").display


def pause_autopilot(world) -> None:
    """Switch auto-recharge off and ask for more than the org has: autopilot pauses."""
    owner = world.engine.session(world.owner)
    recharge = owner.auto_recharge(world.org_id)
    owner.configure_auto_recharge(world.org_id, enabled=False, threshold=recharge.threshold,
                                  amount=recharge.amount)
    total = owner.balance(world.org_id).total
    with pytest.raises(InsufficientCredits):
        owner.record_usage(world.org_id, total + 1, campaign="too-big",
                           idempotency_key="pause-it")
    assert owner.balance(world.org_id).autopilot == "paused"


async def test_paused_autopilot_banner_says_why_and_which_key_fixes_it(make_app,
                                                                       demo_world) -> None:
    pause_autopilot(demo_world)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#paused")
        assert banner.display
        text = text_of(banner)
        assert "PAUSED" in text and "b to buy credits" in text
        assert "a to enable auto-recharge" in text
        await pilot.press("b")
        await settle(pilot)
        assert app.current_mode == "settings"
        assert app.focused.id == "pack"


async def test_admin_sees_the_pause_but_is_told_to_ask_an_owner(make_app, demo_world) -> None:
    pause_autopilot(demo_world)
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = text_of(app.screen.query_one("#paused"))
        assert "Ask an owner" in text and "Press b" not in text
        await pilot.press("b")
        await settle(pilot)
        assert app.current_mode == "overview"


async def test_past_due_is_shown_to_owners_only(make_app, demo_world) -> None:
    demo_world.payments.decline(demo_world.org_id, True)
    period_end = demo_world.engine.session(demo_world.owner).balance(
        demo_world.org_id).period_end
    demo_world.clock.set(period_end + timedelta(hours=1))
    assert demo_world.engine.session(demo_world.owner).subscription(
        demo_world.org_id).status == "past_due"
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#past-due")
        assert banner.display and "PAST DUE" in text_of(banner)
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#past-due").display


async def test_member_sees_own_usage_and_limit_and_the_sentence(make_app, demo_world) -> None:
    mine = demo_world.engine.session(demo_world.member).my_usage(demo_world.org_id)
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        view = screen.query_one("#member-view")
        assert view.display
        assert format_credits_dollars(mine.used_this_period) in view.plain
        if mine.limit is None:
            assert "Your limit: none" in view.plain
        else:
            assert format_credits(mine.limit) in view.plain
        note = text_of(screen.query_one("#member-note"))
        assert "are for admins and owners" in note
        assert not screen.query_one("#figures").display


async def test_member_with_a_limit_sees_what_is_left(make_app, demo_world) -> None:
    owner = demo_world.engine.session(demo_world.owner)
    member = next(m for m in owner.members(demo_world.org_id)
                  if m.user_id == demo_world.member)
    owner.set_member_limit(demo_world.org_id, demo_world.member,
                           member.used_this_period + 1_000)
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.screen.query_one("#member-view").plain
        assert f"{format_credits(1_000)} left" in view


async def test_failed_auto_recharge_is_shown_to_owners(make_app, demo_world) -> None:
    owner = demo_world.engine.session(demo_world.owner)
    org = demo_world.org_id
    recharge = owner.auto_recharge(org)
    assert recharge.enabled
    demo_world.payments.decline(org, True)
    # A debit that would leave less than the threshold makes auto-recharge try to buy.
    spend = owner.balance(org).total - recharge.threshold + 1
    owner.set_member_limit(org, demo_world.owner, None)
    # The old balance covers it, so the debit itself goes through (billing-rules.md).
    owner.record_usage(org, spend, campaign="big-run", idempotency_key="cross-it")
    failure = owner.auto_recharge(org).last_failure
    assert failure
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#recharge-failure")
        assert banner.display and failure in text_of(banner)
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#recharge-failure").display


# --- issue 10, section 3 ---------------------------------------------------------------
async def test_paused_by_the_recharge_cap_says_so(make_app, demo_world) -> None:
    owner = demo_world.engine.session(demo_world.owner)
    # A $1.00 cap under a $5.00 recharge: auto-recharge is on, yet can never buy.
    owner.configure_auto_recharge(demo_world.org_id, enabled=True, threshold=1_000,
                                  amount=1_000, monthly_cap_cents=100)
    total = owner.balance(demo_world.org_id).total
    with pytest.raises(InsufficientCredits):
        owner.record_usage(demo_world.org_id, total + 1, campaign="too-big",
                           idempotency_key="cap-it")
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = text_of(app.screen.query_one("#paused"))
        assert "auto-recharge reached its $1.00 cap: raise it (a) or buy credits (b)" in text
        assert ".." not in text and "enable auto-recharge" not in text


async def test_admin_pressing_an_owner_key_is_told_why(make_app) -> None:
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("b", "a"):
            await pilot.press(key)
            await settle(pilot)
        refusals = [m for m in toasts(app) if "Owner only: you are an admin here" in m]
        assert len(refusals) == 2
        assert app.current_mode == "overview"


def usage_entry(at, credits, kind="usage"):
    from creditdesk.models import LedgerEntry

    sign = -1 if kind == "usage" else 1
    return LedgerEntry(id=1, account_id="acme", at=at, kind=kind, actor="eli",
                       base=sign * credits, rollover=0, purchased=0, balance_after=0, ref=None)


def test_recent_use_counts_usage_only_and_a_top_up_is_not_negative_burn() -> None:
    now = START + timedelta(days=10)
    entries = [usage_entry(now - timedelta(minutes=1), 600),
               usage_entry(now - timedelta(minutes=2), 50_000, kind="recharge"),
               usage_entry(now - timedelta(minutes=5), 300),
               usage_entry(now - timedelta(hours=3), 9_999)]   # outside the hour
    recent = recent_use(entries, now)
    assert recent.credits == 900 and recent.seconds == 3_600


def test_forecast_follows_live_spending_when_it_is_faster() -> None:
    now = START + timedelta(days=10)
    figures = balance(80_000, 30_000, 5_000, 20_000)     # 2,000 a day over the period
    live = RecentUse(credits=1_700 * 60, seconds=60)       # 1,700 a second right now
    forecast = forecast_period(figures, subscription(), now, live)
    assert forecast.recent and round(forecast.per_day) == 1_700 * 86_400
    assert forecast.runs_out_at < now + timedelta(minutes=2)
    slow = forecast_period(figures, subscription(), now, RecentUse(10, 3_600))
    assert not slow.recent and round(slow.per_day) == 2_000


def per_day_shown(period_text: str) -> int:
    import re

    match = re.search(r"([\d,]+) credits a day", period_text)
    assert match, period_text
    return int(match.group(1).replace(",", ""))


async def test_forecast_follows_live_activity_and_a_top_up_is_not_negative_burn(
        make_app, demo_world) -> None:
    """Item 13: live activity spends fast, so the forecast says the last hour's pace; a
    purchase afterwards adds credits but leaves the pace as it was."""
    from dataclasses import replace

    from creditdesk.cli.demo import LiveDemo

    # Ticks every 50 ms instead of every second: the same work, a short test.
    controls = replace(LiveDemo(demo_world, seed=3).controls(), tick_seconds=0.05)
    app = make_app("owner", demo=controls)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        period = app.screen.query_one("#period").plain
        assert "At this pace" in period
        quiet_pace = per_day_shown(period)
        await pilot.press("l")
        for _ in range(100):  # at most 5 s: a few ticks are enough
            if "last hour" in app.screen.query_one("#period").plain:
                break
            await pilot.pause(0.05)
        await pilot.press("l")
        await settle(pilot)
        period = app.screen.query_one("#period").plain
        live_pace = per_day_shown(period)
        assert "At the last hour's pace" in period and live_pace > 2 * quiet_pace
        before = demo_world.engine.session(demo_world.owner).balance(demo_world.org_id)
        demo_world.engine.session(demo_world.owner).purchase_credits(
            demo_world.org_id, 50_000, idempotency_key="forecast-top-up")
        app.record_change("Bought 50,000 credits.")
        await settle(pilot)
        period = app.screen.query_one("#period").plain
        total = app.screen.query_one("#total").plain
        assert format_credits_dollars(before.total + 50_000) in total
        assert "At the last hour's pace" in period
        assert per_day_shown(period) == live_pace  # the top-up did not slow the pace


@pytest.mark.parametrize("role", ["owner", "member"])
async def test_the_scroll_has_the_keys_once_the_first_figures_show(make_app, role) -> None:
    # Focused after the first load rather than by Textual's auto focus before it (which
    # restyled every figure before the first frame): the arrow and page keys scroll.
    app = make_app(role)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        scroll = app.screen.query_one("#overview-scroll")
        assert app.screen.focused is scroll
        if role == "owner":  # the owner's figures do not fit in 12 lines
            await pilot.press("pagedown")
            await settle(pilot)
            assert scroll.scroll_y > 0


async def test_a_failed_first_load_still_gives_the_scroll_the_keys(make_app, demo_world,
                                                                    monkeypatch) -> None:
    from creditdesk.backends import MemoryBackend
    from creditdesk.errors import Unavailable

    async def refused(self, account_id):
        raise Unavailable("the billing server is unavailable")

    monkeypatch.setattr(MemoryBackend, "balance", refused)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#load-error").display
        assert app.screen.focused is app.screen.query_one("#overview-scroll")
