"""Audit (session 6) of design/dashboard.md's "When autopilot is paused, a banner says why and
what fixes it" (issue 10, item 3: "Say the real cause and its fix"), on the banner's own
sentence (tui/screens/overview.py `paused_cause`) over the engine's real pause reason.
tests/tui/test_overview.py covers a switched-off auto-recharge and a monthly cap reached;
these are the other two ways a debit is refused while auto-recharge is on or explained."""

from __future__ import annotations

import pytest

from creditdesk.errors import InsufficientCredits
from creditdesk.tui.screens.overview import paused_cause


def refuse(world, credits: int) -> None:
    with pytest.raises(InsufficientCredits):
        world.session("cat").record_usage("acme", credits, campaign="c", idempotency_key="big")


def banner(world, user: str, *, owner: bool) -> str:
    session = world.session(user)
    return paused_cause(owner, session.balance("acme"), session.auto_recharge("acme"))


def test_an_owner_is_not_told_to_enable_auto_recharge_while_it_is_on(world):
    """On, no cap, but reaching the threshold would take more than ten amounts: nothing is
    bought (billing-rules.md), and the debit is refused."""
    world.session("ann").configure_auto_recharge("acme", enabled=True, threshold=5_000,
                                                 amount=400)
    refuse(world, 1_500)
    text = banner(world, "ann", owner=True)
    assert "b to buy credits" in text.lower()
    assert "enable auto-recharge" not in text.lower(), text


def test_an_admin_is_given_the_fix_once(world):
    refuse(world, 1_500)                        # auto-recharge off
    text = banner(world, "bob", owner=False)
    assert "ask an owner" in text.lower()
    assert text.lower().count("enable auto-recharge") == 1, text
