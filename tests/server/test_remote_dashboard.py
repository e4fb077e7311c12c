"""The dashboard on a RemoteBackend over a live server: it opens, and survives the server going."""

from __future__ import annotations

from datetime import UTC, datetime

from creditdesk.backends.remote import RemoteBackend
from creditdesk.demo import build_demo
from creditdesk.tui import CreditDeskApp
from tests.support.live_server import LiveServer
from tests.support.pilot import settle


def screen_text(app) -> str:
    return app.export_screenshot().replace("&#160;", " ")


async def test_the_dashboard_runs_remotely_and_says_when_the_server_is_gone():
    world = build_demo(datetime(2026, 11, 15, tzinfo=UTC), members=8, months=2)
    server = LiveServer(world.engine).__enter__()
    try:
        backend = RemoteBackend(server.url, server.token_for(world.owner), retries=1,
                                backoff=0.01)
        app = CreditDeskApp(backend=backend, clock=world.clock, cursor_blink=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert world.org_name in screen_text(app)
            server.__exit__(None, None, None)
            await pilot.press("m")
            await settle(pilot)
            assert app.is_running
            assert "Cannot reach the billing server" in screen_text(app)
    finally:
        server.__exit__(None, None, None)
