"""The app shell: start-up, the charged context, roles, palette, help, errors, demo hooks."""

from __future__ import annotations

import asyncio

from creditdesk.backends import MemoryBackend
from creditdesk.errors import PermissionDenied, Unavailable
from creditdesk.money import format_credits_dollars
from creditdesk.rules import REQUIRED_ROLE
from creditdesk.tui import CreditDeskApp, DemoControls
from creditdesk.tui.permissions import ROLE_NEEDED, role_allows, role_reason
from creditdesk.tui.screens.base import BillingScreen
from creditdesk.tui.widgets.context_header import ContextHeader

from .pilot_helpers import NOW, SIZE, settle, text_of, toasts


def header(app) -> str:
    return text_of(app.screen.query_one(ContextHeader))


def test_permission_mirror_matches_the_rules() -> None:
    # The dashboard may not import rules; its copy must not drift from the real table.
    assert ROLE_NEEDED == REQUIRED_ROLE
    assert role_allows("owner", "purchase_credits")
    assert not role_allows("admin", "purchase_credits")
    assert not role_allows(None, "view_own_usage")
    assert role_reason("purchase_credits") == "Owner only"
    assert role_reason("view_members") == "Admin or higher"


def test_modes_are_the_screens_of_the_contract() -> None:
    assert list(CreditDeskApp.MODES) == ["overview", "usage", "members", "invoices",
                                         "settings", "activity", "alerts"]


async def test_opens_on_overview_in_the_first_org_context(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.current_mode == "overview"
        assert app.context.account_id == demo_world.org_id
        assert "Acme Robotics" in header(app) and "owner" in header(app)


async def test_user_without_an_org_opens_on_personal(demo_world) -> None:
    engine = demo_world.engine
    engine.add_user("zed", name="Zed Solo", email="zed@example.com", plan="starter")
    app = CreditDeskApp(MemoryBackend(engine, "zed"), clock=demo_world.clock,
                        cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.context.kind == "personal"
        assert "personal account" in header(app)


async def test_context_switch_reloads_from_the_other_account(make_app, demo_world) -> None:
    session = demo_world.engine.session(demo_world.owner)
    personal = demo_world.personal_account_id
    org_total = session.balance(demo_world.org_id).total
    personal_total = session.balance(personal).total
    assert org_total != personal_total
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        total = app.screen.query_one("#total")
        assert format_credits_dollars(org_total) in total.plain
        await app.run_action(f"switch_context('{personal}')")
        await settle(pilot)
        assert "Personal" in header(app) and "Acme" not in header(app)
        assert format_credits_dollars(personal_total) in total.plain
        assert any("Now charging" in message for message in toasts(app))


async def test_other_screens_reload_when_shown_after_a_switch(make_app, demo_world) -> None:
    personal = demo_world.personal_account_id
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        org_rows = len(app.screen.view.members)
        assert org_rows == 24
        await pilot.press("o")
        await app.run_action(f"switch_context('{personal}')")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert "Personal" in header(app)
        assert [m.user_id for m in app.screen.view.members] == [demo_world.owner]


async def test_context_picker_by_key(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        # The picker lists personal first, then the org (highlighted as current).
        await pilot.press("up", "enter")
        await settle(pilot)
        assert app.context.account_id == demo_world.personal_account_id


async def test_unknown_context_is_refused_in_words(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.run_action("switch_context('nowhere')")
        await settle(pilot)
        assert app.context.account_id == demo_world.org_id
        assert any("no account 'nowhere'" in message for message in toasts(app))


async def test_admin_cannot_buy_by_key_or_palette(make_app, demo_world) -> None:
    engine = demo_world.engine
    before = engine.ledger_entries(demo_world.org_id)
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        settings = app.screen
        settings.query_one("#pack").value = "pack-10k"
        await pilot.press("b")
        await settle(pilot)
        assert app.screen is settings  # no confirmation opened
        entries = {title: (action, namespace, refused) for title, _, action, namespace, refused
                   in app.palette_entries(settings)}
        action, namespace, refused = entries["Buy credits"]
        assert refused == "Owner only"
        await app.run_palette_action(namespace, action)
        await settle(pilot)
        assert app.screen is settings
        assert any("Owner only" in message for message in toasts(app))
    assert engine.ledger_entries(demo_world.org_id) == before


async def test_owner_only_bindings_are_dimmed_for_admins(make_app) -> None:
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bindings = {b.binding.action: b.enabled for b in app.screen.active_bindings.values()}
        assert bindings["buy_credits"] is False
        assert bindings["edit_auto_recharge"] is False
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bindings = {b.binding.action: b.enabled for b in app.screen.active_bindings.values()}
        assert bindings["buy_credits"] is True


async def test_palette_lists_screens_contexts_and_screen_actions(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [entry[0] for entry in app.palette_entries(app.screen)]
        for expected in ("Go to Overview", "Go to Usage", "Go to Members", "Go to Invoices",
                         "Go to Settings", "Switch context: Acme Robotics",
                         "Switch context: Personal", "Buy credits", "Recharge"):
            assert expected in titles
        entries = {entry[0]: entry for entry in app.palette_entries(app.screen)}
        _, _, action, namespace, _ = entries["Go to Members"]
        await app.run_palette_action(namespace, action)
        await settle(pilot)
        assert app.current_mode == "members"


async def test_help_screen_lists_keys_in_words(make_app) -> None:
    from creditdesk.tui.help import HelpScreen

    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        rows = {description: note for _, description, note in
                __import__("creditdesk.tui.help", fromlist=["x"]).binding_rows(
                    app.screen.beneath)}
        assert "not available to your role" in rows["Buy credits"]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


class GatedBackend(MemoryBackend):
    """Holds whoami until the test lets it answer, to see the first paint without data."""

    def __init__(self, engine, user_id: str) -> None:
        super().__init__(engine, user_id)
        self.gate = asyncio.Event()

    async def whoami(self):
        await self.gate.wait()
        return await super().whoami()


async def test_first_paint_does_not_wait_for_the_backend(demo_world) -> None:
    backend = GatedBackend(demo_world.engine, demo_world.owner)
    app = CreditDeskApp(backend, clock=demo_world.clock, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, BillingScreen)
        assert "Loading your account" in header(app)
        assert app.screen.query_one("#body").loading
        backend.gate.set()
        await settle(pilot)
        assert "Acme Robotics" in header(app)
        assert not app.screen.query_one("#body").loading


class FailingBackend(MemoryBackend):
    """Refuses balance() until told to recover, like a flaky server (RemoteBackend raises
    Unavailable once its retries are spent)."""

    failing = True

    async def balance(self, account_id: str):
        if self.failing:
            raise Unavailable("the billing server at http://127.0.0.1:9 is unavailable "
                              "(ConnectError: connection refused); tried 4 times")
        return await super().balance(account_id)


async def test_backend_errors_show_in_words_with_retry(demo_world) -> None:
    backend = FailingBackend(demo_world.engine, demo_world.owner)
    app = CreditDeskApp(backend, clock=demo_world.clock, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#load-error")
        assert banner.display
        assert "Cannot reach the billing server" in text_of(banner)
        assert "Press r to retry" in text_of(banner)
        backend.failing = False
        await pilot.press("r")
        await settle(pilot)
        assert not banner.display
        assert "credits" in app.screen.query_one("#total").plain


class RefusingWhoami(MemoryBackend):
    refusing = True

    async def whoami(self):
        if self.refusing:
            raise PermissionDenied("token revoked")
        return await super().whoami()


async def test_whoami_failure_is_named_in_the_header_and_retried(demo_world) -> None:
    backend = RefusingWhoami(demo_world.engine, demo_world.owner)
    app = CreditDeskApp(backend, clock=demo_world.clock, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Cannot load your account: token revoked" in header(app)
        backend.refusing = False
        await pilot.press("r")
        await settle(pilot)
        assert "Acme Robotics" in header(app)
        assert "credits" in app.screen.query_one("#total").plain


async def test_demo_keys_only_exist_in_the_demo(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        assert app.live is False
        titles = [entry[0] for entry in app.palette_entries(app.screen)]
        assert not any(title.startswith("Demo:") for title in titles)


async def test_demo_hooks_live_activity_and_time_travel(make_app) -> None:
    calls = []

    async def simulate():
        calls.append("tick")
        return None

    async def advance():
        calls.append("close")
        return "Period closed: 1,000 credits rolled over."

    demo = DemoControls(simulate_activity=simulate, advance_to_period_close=advance,
                        welcome="Welcome: press l, t and ?")
    app = make_app("owner", demo=demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        welcome = app.screen.query_one("#welcome")
        assert welcome.display and "press l, t and ?" in text_of(welcome)
        version = app.data_version
        await pilot.press("t")
        await settle(pilot)
        assert "close" in calls
        assert app.data_version == version + 1
        assert any("rolled over" in message for message in toasts(app))
        await pilot.press("l")
        assert app.live is True
        app._live_tick()  # what the one-second timer calls
        await settle(pilot)
        assert "tick" in calls
        await pilot.press("l")
        assert app.live is False
        await pilot.press("m")
        await pilot.press("o")
        await settle(pilot)
        assert not app.screen.query_one("#welcome").display


def test_fixed_now_is_what_the_app_reads(make_app) -> None:
    assert make_app("owner").now() == NOW


async def test_demo_live_activity_spends_and_time_travel_closes_the_period(demo_world) -> None:
    from creditdesk.cli.demo import LiveDemo

    owner = demo_world.engine.session(demo_world.owner)
    before = owner.balance(demo_world.org_id)
    invoices = len(owner.invoices(demo_world.org_id))
    live = LiveDemo(demo_world, seed=1)
    for _ in range(3):
        await live.simulate_activity()
    spent = owner.balance(demo_world.org_id)
    assert spent.used_this_period > before.used_this_period
    told = await live.advance_to_period_close()
    after = owner.balance(demo_world.org_id)
    assert after.period_start == before.period_end
    assert after.used_this_period == 0
    assert f"{after.rollover:,} credits roll over" in told
    assert "New invoice" in told
    assert len(owner.invoices(demo_world.org_id)) == invoices + 1


async def test_command_palette_runs_a_screen_command(make_app) -> None:
    from textual.command import CommandPalette

    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"go to members")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "members"


def test_stylesheets_are_found_in_a_checkout_and_in_a_wheel(tmp_path, monkeypatch) -> None:
    from creditdesk.tui import styles

    # The editable checkout: <repo>/styles beside <repo>/src/creditdesk.
    assert (styles.styles_dir() / "app.tcss").is_file()
    names = [path.name for path in styles.all_stylesheets()]
    assert names[0] == "app.tcss"
    assert {"overview.tcss", "members.tcss", "settings.tcss"} <= set(names)
    # An installed wheel: creditdesk/styles inside the package.
    package = tmp_path / "site-packages" / "creditdesk"
    (package / "styles").mkdir(parents=True)
    (package / "styles" / "app.tcss").write_text("Screen {}")
    monkeypatch.setattr(styles, "_PACKAGE", package)
    styles.styles_dir.cache_clear()
    try:
        assert styles.styles_dir() == package / "styles"
    finally:
        styles.styles_dir.cache_clear()


async def test_opens_on_the_saved_default_context(make_app, demo_world) -> None:
    personal = demo_world.personal_account_id
    app = make_app("owner", context=personal)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.context.account_id == personal
        assert "Personal" in header(app)


async def test_a_saved_context_the_user_lost_falls_back_to_the_first_org(
        make_app, demo_world) -> None:
    app = make_app("owner", context="an-org-they-left")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.context.account_id == demo_world.org_id


async def test_periodic_refresh_shows_usage_recorded_elsewhere(make_app, demo_world) -> None:
    # What an admin watching over SSH relies on: figures move without a key press.
    app = make_app("owner", refresh_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        total = app.screen.query_one("#total")
        session = demo_world.engine.session(demo_world.owner)
        before = session.balance(demo_world.org_id).total
        assert format_credits_dollars(before) in total.plain
        session.record_usage(demo_world.org_id, 1_234, campaign="elsewhere",
                             idempotency_key="refresh-test")
        after = session.balance(demo_world.org_id).total
        for _ in range(250):        # up to ~5 s on a loaded machine; usually the first
            await asyncio.sleep(0.02)
            await settle(pilot)
            if format_credits_dollars(after) in total.plain:
                break
        assert format_credits_dollars(after) in total.plain


def test_only_a_remote_backend_refreshes_by_default(demo_world) -> None:
    memory = MemoryBackend(demo_world.engine, demo_world.owner)
    assert CreditDeskApp(memory).refresh_seconds is None

    class Remote(MemoryBackend):
        is_remote = True

    assert CreditDeskApp(Remote(demo_world.engine, demo_world.owner)).refresh_seconds > 0


async def test_the_backend_is_closed_when_the_app_exits(demo_world) -> None:
    closed = []

    class Closing(MemoryBackend):
        async def aclose(self) -> None:
            closed.append(True)

    app = CreditDeskApp(Closing(demo_world.engine, demo_world.owner), clock=demo_world.clock,
                        cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert closed == [True]


class CountedWhoami(MemoryBackend):
    calls = 0

    async def whoami(self):
        self.calls += 1
        return await super().whoami()


async def test_a_given_identity_opens_on_its_context_without_asking_whoami(
        demo_world) -> None:
    # The demo hands over the in-process engine's answer: the first frame shows the
    # context, the figures load at once, and the header's alert count still comes.
    backend = CountedWhoami(demo_world.engine, demo_world.owner)
    identity = demo_world.engine.session(demo_world.owner).whoami()
    app = CreditDeskApp(backend, clock=demo_world.clock, cursor_blink=False,
                        identity=identity)
    assert app.context.account_id == demo_world.org_id  # before the app even runs
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert backend.calls == 0
        assert app.identity == identity
        assert "Acme Robotics" in header(app) and "owner" in header(app)
        assert "credits" in app.screen.query_one("#total").plain
        assert app.alert_badge.endswith("(n)")
        # Switching contexts works as with an identity from whoami.
        personal = demo_world.personal_account_id
        await app.run_action(f"switch_context({personal!r})")
        await settle(pilot)
        assert app.context.account_id == personal


async def test_a_given_identity_honours_the_saved_context(demo_world) -> None:
    identity = demo_world.engine.session(demo_world.owner).whoami()
    personal = demo_world.personal_account_id
    app = CreditDeskApp(MemoryBackend(demo_world.engine, demo_world.owner),
                        clock=demo_world.clock, cursor_blink=False, identity=identity,
                        context=personal)
    assert app.context.account_id == personal


async def test_start_up_parses_each_stylesheet_once(make_app, monkeypatch) -> None:
    # Textual refreshes the CSS when it builds the first mode's screen, which re-parsed
    # every rule just parsed and dropped the parse cache (a third parse of each); the app
    # skips that refresh while nothing it depends on changed, and the screen looks the same.
    # (A peek at Textual's parser, the one function every cache miss goes through.)
    from textual.css import stylesheet

    parsed: list = []
    original = stylesheet.parse

    def counting(scope, css, read_from, *args, **kwargs):
        parsed.append(read_from)
        return original(scope, css, read_from, *args, **kwargs)

    monkeypatch.setattr(stylesheet, "parse", counting)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app_tcss = [where for where in parsed if where[0].endswith("app.tcss")]
        assert len(app_tcss) == 1, parsed
        assert "credits" in app.screen.query_one("#total").plain


def _looks(app) -> list:
    screen = app.screen
    widgets = [screen, screen.query_one(ContextHeader), screen.query_one("#past-due"),
               screen.query_one("#balance-bar"), screen.query_one("Footer")]
    return [(w.styles.background, w.styles.color) for w in widgets]


async def test_a_saved_theme_is_in_place_before_the_first_frame(make_app, monkeypatch) -> None:
    # Applied when the app is made, before the stylesheet's first parse: the screen looks as
    # after choosing the theme by hand, without the full re-parse and restyle it costs.
    from textual.css import stylesheet

    parsed: list = []
    original = stylesheet.parse

    def counting(scope, css, read_from, *args, **kwargs):
        parsed.append(read_from)
        return original(scope, css, read_from, *args, **kwargs)

    monkeypatch.setattr(stylesheet, "parse", counting)
    saved = make_app("owner", theme="nord")
    async with saved.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert saved.theme == "nord" and "-theme-nord" in saved.classes
        assert len([where for where in parsed if where[0].endswith("app.tcss")]) == 1
        looks = _looks(saved)
    chosen = make_app("owner")
    async with chosen.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _looks(chosen) != looks
        chosen.theme = "nord"
        await settle(pilot)
        assert _looks(chosen) == looks


async def test_figures_drawn_before_the_app_mounts_take_the_apps_colours(demo_world,
                                                                          monkeypatch) -> None:
    # With the identity given, the overview's first load can finish while Textual is still
    # composing the App, before it styles the App itself: figures drawn then must still see
    # the App's colours (an unstyled App drew them in the background's colour in a real
    # terminal; see test_real_terminal.py).
    from creditdesk.tui.widgets.figure_rows import FigureRows

    seen = []
    draw = FigureRows._draw

    def recording(self) -> None:
        if self._rows:
            seen.append((self.app.styles.background.a, self.visual_style.foreground))
        draw(self)

    monkeypatch.setattr(FigureRows, "_draw", recording)
    identity = demo_world.engine.session(demo_world.owner).whoami()
    app = CreditDeskApp(MemoryBackend(demo_world.engine, demo_world.owner),
                        clock=demo_world.clock, cursor_blink=False, identity=identity)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert seen
    assert all(alpha > 0 and foreground is not None and foreground.a > 0
               for alpha, foreground in seen), seen


async def test_a_collector_left_off_for_start_up_is_turned_on_after_the_first_frame(
        make_app) -> None:
    # `creditdesk demo` keeps the cycle collector off until Textual has drawn the first
    # frame; the app turns it back on then.
    import gc

    app = make_app("owner")
    app.collector_off_until_first_frame = True
    gc.disable()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert gc.isenabled()
            assert "credits" in app.screen.query_one("#total").plain
    finally:
        gc.enable()
