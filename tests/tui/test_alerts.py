"""The Alerts screen, paging, the header's unseen count, the arrival toast, the demo's alerts."""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, Input

from creditdesk.tui import alert_watch
from creditdesk.tui.alert_watch import arrival_toast, badge_text
from creditdesk.tui.screens import alerts as alerts_screen
from creditdesk.tui.screens.alerts import AlertsScreen
from creditdesk.tui.widgets.context_header import ContextHeader

from .pilot_helpers import SIZE, screen_text, settle, text_of, toasts
from .test_alert_settings import open_settings


def backend_alerts(world, limit=1000):
    return world.engine.session(world.owner).alerts(world.org_id, limit=limit)


def header(app) -> str:
    return text_of(app.screen.query_one(ContextHeader))


def cells(app) -> list[list[str]]:
    grid = app.screen.query_one("#table", DataTable)
    return [[str(getattr(v, "plain", v)).strip() for v in grid.get_row_at(i)]
            for i in range(grid.row_count)]


async def open_alerts(pilot) -> AlertsScreen:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, AlertsScreen)
    return pilot.app.screen


def raise_limit_alert(world, user_id: str = "chidi") -> None:
    """A new alert from the engine: a member stopped by a limit set below their use."""
    owner = world.engine.session(world.owner)
    owner.set_member_limit(world.org_id, user_id, 1)
    member = world.engine.session(user_id)
    from creditdesk.errors import MemberLimitReached
    with pytest.raises(MemberLimitReached):
        member.record_usage(world.org_id, 5, campaign="test", idempotency_key="over-limit")


# --- the screen -----------------------------------------------------------------------------

async def test_owner_sees_alerts_newest_first_with_member_and_threshold(make_app,
                                                                        demo_world) -> None:
    expected = backend_alerts(demo_world)
    assert expected, "the demo world raises alerts"
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        rows = cells(app)
        assert [a.id for a in screen.alerts] == [a.id for a in expected][:len(rows)]
        first = expected[0]
        assert rows[0][0] == f"{first.at:%Y-%m-%d %H:%M}"
        assert rows[0][1] == alerts_screen.KIND_WORDS[first.kind]
        assert rows[0][2] == "Eli Novak" and rows[0][3] == "100%"
        usage = [r for r in rows if r[1] == "Balance low"]
        assert usage and usage[0][3] == "50,000" and usage[0][2] == "—"
        # The whole sentence of the selected alert, under the table.
        assert first.message in screen_text(app)
        assert f"{len(expected)} alerts, newest first" in screen_text(app)


async def test_pages_are_asked_for_as_you_scroll_never_all_at_once(make_app, demo_world,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr(alerts_screen, "PAGE", 5)
    monkeypatch.setattr(alerts_screen, "NEAR_END", 2)
    app = make_app("owner")
    calls = []
    real = app.backend.alerts

    async def recording(account_id, *, limit=100, before=None):
        calls.append((limit, before))
        return await real(account_id, limit=limit, before=before)

    app.backend.alerts = recording
    expected = [a.id for a in backend_alerts(demo_world)]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        assert [a.id for a in screen.alerts] == expected[:5]
        assert (5, None) in calls and all(limit <= 100 for limit, _ in calls)
        assert "5+ alerts" in screen_text(app)
        await pilot.press("down", "down", "down")
        await settle(pilot)
        assert [a.id for a in screen.alerts] == expected[:10]
        assert (5, expected[4]) in calls
        for _ in range(len(expected)):
            await pilot.press("down")
        await settle(pilot)
        assert [a.id for a in screen.alerts] == expected
        assert screen.exhausted and f"{len(expected)} alerts, newest first" in screen_text(app)


async def test_admin_sees_alerts_and_pay_now_dimmed(make_app, demo_world) -> None:
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        assert len(cells(app)) == len(backend_alerts(demo_world))
        assert screen.check_action("pay_invoice", ()) is None      # dimmed in the footer
        await pilot.press("dollar_sign")
        await settle(pilot)
        assert any("Owner only: you are an admin here" in t for t in toasts(app))


async def test_member_sees_the_plain_sentence(make_app) -> None:
    app = make_app("member")
    async with app.run_test(size=SIZE) as pilot:
        await open_alerts(pilot)
        text = screen_text(app)
        assert "Alerts are for admins and owners." in text
        assert not app.screen.query_one("#body").display
        assert "new alert" not in header(app)


# --- unseen count and toast -----------------------------------------------------------------

def test_badge_words() -> None:
    assert badge_text(0, True) == ""
    assert badge_text(1, True) == "1 new alert (n)"
    assert badge_text(1_200, True) == "1,200 new alerts (n)"
    assert badge_text(100, False) == "100+ new alerts (n)"


async def test_unseen_count_clears_once_looked_at_and_counts_new_ones(make_app,
                                                                      demo_world) -> None:
    count = len(backend_alerts(demo_world))
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert f"{count} new alerts (n)" in header(app)
        await open_alerts(pilot)
        assert "new alert" not in header(app)
        await pilot.press("o")
        await settle(pilot)
        assert "new alert" not in header(app)
        raise_limit_alert(demo_world)
        app.record_change("something changed")  # as a change or a live tick does
        await settle(pilot)
        assert "1 new alert (n)" in header(app)
        newest = backend_alerts(demo_world, limit=1)[0]
        assert f"New alert\n{newest.message}" in toasts(app)


async def test_a_toast_is_said_once_not_at_every_refresh(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not [t for t in toasts(app) if t.startswith("New alert")]  # not on opening
        raise_limit_alert(demo_world)
        for _ in range(3):
            app.record_change("tick")
            await settle(pilot)
        assert len([t for t in toasts(app) if t.startswith("New alert")]) == 1


async def test_an_alert_arriving_while_watching_the_screen_is_shown_and_toasted(
        make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        before = len(screen.alerts)
        raise_limit_alert(demo_world)
        app.record_change("tick")
        await settle(pilot)
        assert len(screen.alerts) == before + 1
        assert cells(app)[0][1] == "Limit reached"
        assert any(t.startswith("New alert") for t in toasts(app))
        assert "new alert" not in header(app)   # seen: it is on the screen


def test_several_arrivals_make_one_toast() -> None:
    from datetime import UTC, datetime

    from creditdesk.models import Alert

    made = [Alert(id=n, at=datetime(2026, 11, 15, tzinfo=UTC), kind="member_usage",
                  user_id="dana", threshold=80, balance_after=1, message=f"m{n}")
            for n in (3, 2)]
    assert arrival_toast(made) == ("2 new alerts", "m3 (and 1 more: press n)")
    assert arrival_toast(made[:1]) == ("New alert", "m3")
    assert alert_watch.unseen_count([5, 4, 3], 3) == 2


async def test_context_switch_resets_the_count_and_the_list(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        assert screen.alerts
        await app.run_action(f"switch_context({demo_world.personal_account_id!r})")
        await settle(pilot)
        personal = demo_world.engine.session(demo_world.owner).alerts(
            demo_world.personal_account_id)
        assert [a.id for a in screen.alerts] == [a.id for a in personal]
        assert "new alert" not in header(app)


async def test_the_key_is_in_help_and_the_palette(make_app) -> None:
    from creditdesk.tui.help import binding_rows

    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert ("n", "Alerts") in [(key, does) for key, does, _ in binding_rows(app.screen)]
        titles = [entry[0] for entry in app.palette_entries(app.screen)]
        assert "Go to Alerts" in titles
        await pilot.press("i")
        await settle(pilot)
        assert "Pay now" in [entry[0] for entry in app.palette_entries(app.screen)]


# --- the demo world ---------------------------------------------------------------------------

def test_the_demo_world_has_alerts_configured_and_raised(demo_world) -> None:
    owner = demo_world.engine.session(demo_world.owner)
    settings = owner.alert_settings(demo_world.org_id)
    assert settings.balance_below and 80 in settings.member_usage_percent
    kinds = {(a.kind, a.threshold) for a in backend_alerts(demo_world)}
    assert ("member_usage", 80) in kinds
    assert ("balance_below", settings.balance_below[0]) in kinds
    assert ("member_limit_reached", None) in kinds


async def test_live_activity_raises_more_alerts(demo_world) -> None:
    from creditdesk.cli.demo import LiveDemo

    before = len(backend_alerts(demo_world))
    live = LiveDemo(demo_world, seed=7)
    for _ in range(200):
        await live.simulate_activity()
        if len(backend_alerts(demo_world)) > before:
            break
    assert len(backend_alerts(demo_world)) > before


async def test_a_narrow_header_keeps_the_count_and_its_key(make_app, demo_world) -> None:
    count = len(backend_alerts(demo_world))
    app = make_app("owner")
    async with app.run_test(size=(60, 24)) as pilot:
        await settle(pilot)
        first_line = header(app).splitlines()[0]
        assert first_line.endswith(f"● {count} (n)") and len(first_line) <= 60


async def test_switching_back_shows_the_count_again_without_a_toast(make_app,
                                                                    demo_world) -> None:
    count = len(backend_alerts(demo_world))
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert f"{count} new alerts (n)" in header(app)
        await app.run_action(f"switch_context({demo_world.personal_account_id!r})")
        await settle(pilot)
        assert "new alert" not in header(app)
        await app.run_action(f"switch_context({demo_world.org_id!r})")
        await settle(pilot)
        assert f"{count} new alerts (n)" in header(app)
        assert not [t for t in toasts(app) if t.startswith("New alert")]


async def test_a_refresh_without_news_asks_for_one_alert_only(make_app) -> None:
    app = make_app("owner")
    calls = []
    real = app.backend.alerts

    async def recording(account_id, *, limit=100, before=None):
        calls.append(limit)
        return await real(account_id, limit=limit, before=before)

    app.backend.alerts = recording
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        calls.clear()
        app.record_change("tick")
        await settle(pilot)
        assert calls == [1]


# --- over a live server -------------------------------------------------------------------------

async def test_alerts_and_their_settings_over_a_remote_backend() -> None:
    """The same screens on a RemoteBackend against a real server on loopback."""
    from datetime import UTC, datetime

    from creditdesk.backends.remote import RemoteBackend
    from creditdesk.demo import build_demo
    from creditdesk.tui import CreditDeskApp
    from tests.support.live_server import LiveServer

    world = build_demo(datetime(2026, 11, 15, tzinfo=UTC), members=8, months=2)
    expected = [a.id for a in backend_alerts(world)]
    assert expected
    with LiveServer(world.engine) as server:
        backend = RemoteBackend(server.url, server.token_for(world.owner), retries=1,
                                backoff=0.01)
        app = CreditDeskApp(backend=backend, clock=world.clock, cursor_blink=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_alerts(pilot)
            assert [a.id for a in screen.alerts] == expected
            form = await open_settings(pilot)
            form.query_one("#alert-balance-1", Input).value = "9,000"
            await settle(pilot)
            form.query_one("#alerts-save", Button).press()
            await settle(pilot)
            saved = world.engine.session(world.owner).alert_settings(world.org_id)
            assert 9000 in saved.balance_below
