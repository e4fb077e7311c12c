"""Shared dashboard fixtures: the demo world at a fixed instant and an app factory.

`make_app("owner")` gives a CreditDeskApp over a MemoryBackend on `demo_world` acting as the
world's owner, admin or member (or any user id), with the world's fixed clock and no cursor
blink, so Pilot tests and snapshots see the same screen every run. Helpers for Pilot tests
(settle, text_of, toasts, NOW, SIZE) are in `pilot_helpers.py`.
"""

from __future__ import annotations

import pytest

from .pilot_helpers import NOW, record_toasts


@pytest.fixture
def demo_world():
    from creditdesk.demo import build_demo

    return build_demo(now=NOW, seed=7, members=24, months=6)


@pytest.fixture
def make_app(demo_world):
    from creditdesk.backends import MemoryBackend
    from creditdesk.tui import CreditDeskApp

    def build(role: str = "owner", **options):
        user = {"owner": demo_world.owner, "admin": demo_world.admin,
                "member": demo_world.member}.get(role, role)
        options.setdefault("clock", demo_world.clock)
        options.setdefault("cursor_blink", False)
        return record_toasts(CreditDeskApp(backend=MemoryBackend(demo_world.engine, user),
                                           **options))

    return build
