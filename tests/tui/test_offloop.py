"""The dashboard never waits on the event loop, says failures in words, and its app-level
habits: one failure handler, DataChanged, keymap and theme from the settings file, a footer
that keeps `q Quit` visible, live activity that tells a thing once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from textual.widgets import Footer

from creditdesk.backends import MemoryBackend
from creditdesk.errors import Unauthenticated
from creditdesk.tui import CreditDeskApp, DemoControls
from creditdesk.tui.screens.base import BillingScreen, DataChanged

from .pilot_helpers import SIZE, record_toasts, settle, text_of, toasts


class SlowBackend(MemoryBackend):
    """A balance() whose engine call takes 300 ms of blocking work, like a big world."""

    threads: list[str] = []

    def __init__(self, engine, user_id: str) -> None:
        super().__init__(engine, user_id)
        session_balance = self._session.balance

        def slow_balance(account_id):
            self.threads.append(threading.current_thread().name)
            time.sleep(0.3)
            return session_balance(account_id)

        self._session.balance = slow_balance


async def test_engine_calls_run_off_the_event_loop(demo_world) -> None:
    backend = SlowBackend(demo_world.engine, demo_world.owner)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    balance = await backend.balance(demo_world.org_id)
    task.cancel()
    assert balance.total > 0
    # On the loop, the 300 ms sleep would have let no tick through.
    assert ticks >= 10
    assert backend.threads and backend.threads[-1] != threading.main_thread().name


def drain(world) -> None:
    """Auto-recharge off and every credit spent: each live debit is refused for want of
    credits, second after second."""
    owner = world.engine.session(world.owner)
    recharge = owner.auto_recharge(world.org_id)
    owner.configure_auto_recharge(world.org_id, enabled=False, threshold=recharge.threshold,
                                  amount=recharge.amount)
    owner.record_usage(world.org_id, owner.balance(world.org_id).total, campaign="drain",
                       idempotency_key="drain-it")
    assert owner.balance(world.org_id).total == 0


async def test_live_activity_says_out_of_credits_once(demo_world) -> None:
    from creditdesk.cli.demo import LiveDemo

    drain(demo_world)
    live = LiveDemo(demo_world, seed=3)
    told = [await live.simulate_activity() for _ in range(4)]
    out = [news for news in told if news and "ran out of credits" in " ".join(news.said)]
    assert len(out) == 1, told


async def test_time_travel_reads_only_what_the_close_wrote(demo_world, monkeypatch) -> None:
    from creditdesk.cli.demo import LiveDemo

    def whole_ledger(*_args, **_kwargs):
        raise AssertionError("time travel read the whole ledger")

    monkeypatch.setattr(demo_world.engine, "ledger_entries", whole_ledger)
    told = await LiveDemo(demo_world, seed=1).advance_to_period_close()
    assert "Period closed on" in told and "forfeited above the cap" in told


class BuggyBackend(MemoryBackend):
    async def balance(self, account_id: str):
        raise RuntimeError("a bug, not a refusal")


async def test_an_unexpected_failure_is_reported_once_and_the_app_keeps_running(
        demo_world) -> None:
    app = record_toasts(CreditDeskApp(BuggyBackend(demo_world.engine, demo_world.owner),
                                      clock=demo_world.clock, cursor_blink=False))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.is_running
        assert any("Unexpected error" in t and "a bug, not a refusal" in t
                   for t in toasts(app))
        assert not app.screen.query_one("#body").loading  # the spinner stopped
        await pilot.press("m")
        await settle(pilot)
        assert app.screen.query_one("#body").display


class RefusedToken(MemoryBackend):
    async def whoami(self):
        raise Unauthenticated("a valid token is required: send 'Authorization: Bearer "
                              "<token>'")


async def test_a_refused_token_is_said_for_people_without_a_spinner_or_retry(
        demo_world) -> None:
    app = CreditDeskApp(RefusedToken(demo_world.engine, demo_world.owner),
                        clock=demo_world.clock, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = text_of(app.screen.query_one("#load-error"))
        assert "Your token was refused: run `creditdesk login`" in banner
        assert "Authorization" not in banner
        assert "retry" not in banner
        assert not app.screen.query_one("#body").loading


async def test_figures_from_before_a_failure_are_marked_stale(make_app, demo_world) -> None:
    from creditdesk.errors import Unavailable

    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        body = app.screen.query_one("#body")
        assert not body.has_class("-stale")

        async def down(account_id):
            raise Unavailable("the billing server at http://127.0.0.1:9 is unavailable")

        app.backend.balance = down
        await pilot.press("r")
        await settle(pilot)
        assert body.has_class("-stale")
        assert "from the last successful load" in text_of(app.screen.query_one("#load-error"))


async def test_a_posted_data_changed_toasts_and_reloads_every_screen(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        version = app.data_version
        app.screen.post_message(DataChanged("Bought 1,000 credits", title="Bought"))
        await settle(pilot)
        assert app.data_version == version + 1
        assert any("Bought 1,000 credits" in t for t in toasts(app))


async def test_a_screen_is_set_up_once_even_with_its_own_on_mount(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")  # usage has an on_mount of its own
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BillingScreen)
        loads = []
        original = screen.load

        async def counting(context):
            loads.append(context.account_id)
            await original(context)

        screen.load = counting
        app.post_message(DataChanged())
        await settle(pilot)
        assert len(loads) == 1


async def test_keys_are_remapped_from_the_settings_table(make_app) -> None:
    from creditdesk.tui.help import HelpScreen

    app = make_app("owner", keymap={"app.help": "f2", "app.members": "f3"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert app.current_mode == "members"
        await pilot.press("f2")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)


async def test_the_saved_theme_opens_and_a_new_choice_is_remembered(make_app) -> None:
    chosen = []
    app = make_app("owner", theme="nord", remember_theme=chosen.append)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "nord" and chosen == []
        app.theme = "gruvbox"
        await settle(pilot)
        assert chosen == ["gruvbox"]


async def test_an_unknown_saved_theme_is_said_not_fatal(make_app) -> None:
    app = make_app("owner", theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any("no-such-theme" in t for t in toasts(app))


@pytest.mark.parametrize("width", [80, 70])
@pytest.mark.parametrize("key", ["o", "u", "m", "i", "s", "v", "n"])
async def test_the_footer_keeps_quit_visible(make_app, width, key) -> None:
    async def advance():
        return "closed"

    async def simulate():
        return None

    demo = DemoControls(simulate_activity=simulate, advance_to_period_close=advance)
    app = make_app("owner", demo=demo)
    async with app.run_test(size=(width, 24)) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        footer = app.screen.query_one(Footer)
        keys = [k for k in footer.query("FooterKey") if k.display]
        quit_key = [k for k in keys if k.action == "quit"]
        assert quit_key, "q Quit is not in the footer"
        palette = [k for k in keys if k.action == "command_palette"][0]
        assert 0 < quit_key[0].region.right <= palette.region.x, (
            [(k.description, k.region) for k in keys], palette.region)


async def test_live_ticks_do_not_stack_toasts(make_app, demo_world) -> None:
    from creditdesk.cli.demo import LiveDemo

    drain(demo_world)
    live = LiveDemo(demo_world, seed=3)
    app = make_app("owner", demo=live.controls())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(4):
            app.run_worker(app._simulate, exclusive=True, group="demo-live")
            await settle(pilot)
        assert sum("ran out of credits" in t for t in toasts(app)) == 1


def test_the_settings_file_keeps_keys_and_theme(tmp_path) -> None:
    from creditdesk import config

    path = tmp_path / "config.toml"
    path.write_text('url = "http://127.0.0.1:8000"\n\n[keys]\n"app.quit" = "ctrl+q"\n',
                    encoding="utf-8")
    settings = config.load_settings(path)
    assert settings.keys == {"app.quit": "ctrl+q"}
    config.remember_theme("nord", path)
    again = config.load_settings(path)
    assert again.theme == "nord" and again.keys == {"app.quit": "ctrl+q"}
    assert again.url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("table, words", [
    ('[keys]\n"quit" = "q"\n', "'quit' is not a binding id"),
    ('[keys]\n"app.quit" = 3\n', "app.quit must be key names"),
    ('keys = "q"\n', "'keys' must be a table"),
    ('theme = 7\n', "'theme' must be a theme name"),
])
def test_bad_keys_or_theme_are_refused_naming_the_key(tmp_path, table, words) -> None:
    from creditdesk import config

    path = tmp_path / "config.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(config.ConfigError, match=words):
        config.load_settings(path)



async def test_a_refresh_with_the_same_figures_repaints_nothing(make_app, demo_world) -> None:
    app = make_app("owner", refresh_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        total = app.screen.query_one("#total")
        painted = []
        set_rows = total.set_rows
        total.set_rows = lambda rows: (painted.append(rows), set_rows(rows))
        for _ in range(6):  # several refreshes of unchanged books
            await asyncio.sleep(0.05)
            await settle(pilot)
        assert painted == []
        demo_world.engine.session(demo_world.owner).record_usage(
            demo_world.org_id, 500, campaign="elsewhere", idempotency_key="repaint-test")
        for _ in range(100):
            await asyncio.sleep(0.02)
            await settle(pilot)
            if painted:
                break
        assert painted


@pytest.mark.parametrize("role, where, told", [
    ("owner", "org", False),        # the alert's own toast says it
    ("admin", "org", False),
    ("member", "org", True),        # members see no alerts: the live line says it
    ("owner", "personal", True),    # watching another account: no alert toast comes
])
async def test_a_member_stopped_is_said_once(make_app, demo_world, role, where, told) -> None:
    from creditdesk.tui import LiveNews

    async def simulate():
        return LiveNews(demo_world.org_id, said=("Auto-recharge bought 2,000 credits.",),
                        alerted=("Dana Reyes was stopped at their credit limit.",))

    async def advance():
        return "closed"

    app = make_app(role, demo=DemoControls(simulate_activity=simulate,
                                           advance_to_period_close=advance))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if where == "personal":
            personal = next(c for c in app.identity.contexts if c.kind == "personal")
            await app.action_switch_context(personal.account_id)
            await settle(pilot)
        app.run_worker(app._simulate, exclusive=True, group="demo-live")
        await settle(pilot)
        live = [t for t in toasts(app) if "Auto-recharge bought" in t]
        assert len(live) == 1
        assert ("stopped at their credit limit" in live[0]) is told


async def first_tick_where(world, wanted, *, ticks: int = 400):
    """Live ticks (seed 7) until `wanted(news)`: that tick's news and the members whose
    member_limit_reached alerts it raised; fails if no tick is as wanted."""
    from creditdesk.cli.demo import LiveDemo

    owner = world.engine.session(world.owner)
    live = LiveDemo(world, seed=7)
    for _ in range(ticks):
        before = {alert.id for alert in owner.alerts(world.org_id, limit=1000)}
        news = await live.simulate_activity()
        if news is not None and wanted(news):
            raised = [alert.user_id for alert in owner.alerts(world.org_id, limit=1000)
                      if alert.id not in before and alert.kind == "member_limit_reached"]
            return news, raised
    pytest.fail(f"no tick in {ticks} was as wanted")


async def test_a_stop_the_live_demo_tells_of_is_an_alert_too(demo_world) -> None:
    # What LiveNews.alerted holds must come with an alert, or dropping it for those who
    # see alerts would leave them told nothing.
    news, raised = await first_tick_where(demo_world, lambda news: news.alerted)
    names = {person.user_id: person.name for person in demo_world.people}
    assert sorted(f"{names[user_id]} was stopped at their credit limit."
                  for user_id in raised) == sorted(news.alerted)


async def test_a_stop_with_no_alert_of_its_own_is_said_by_the_live_line(demo_world) -> None:
    # A member refused earlier this period (in the built history) raises no alert when
    # stopped again: for them the live line is the only notice, whoever watches.
    news, raised = await first_tick_where(
        demo_world, lambda news: any("stopped" in line for line in news.said))
    names = {person.user_id: person.name for person in demo_world.people}
    assert not any(f"{names[user_id]} was stopped" in line
                   for user_id in raised for line in news.said)
