"""Endpoint registration, removal, fan-out and the deliveries listing (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditdesk.errors import InvalidRequest, NotFound
from creditdesk.models import Alert
from creditdesk.server.webhook_registry import MAX_ENDPOINTS, MemoryWebhooks
from creditdesk.server.webhook_urls import UrlRefused, WebhookPolicy
from creditdesk.server.webhooks import Attempt, MemoryOutbox

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def alert(id_: int, at: datetime = T0) -> Alert:
    return Alert(id=id_, at=at, kind="autopilot_paused", user_id=None, threshold=None,
                 balance_after=0, message="Autopilot paused.")


@pytest.fixture
def hooks() -> MemoryWebhooks:
    return MemoryWebhooks(WebhookPolicy(), MemoryOutbox())


def test_register_list_remove(hooks):
    a = hooks.register("acme", "https://a.example/in", T0)
    b = hooks.register("acme", "https://b.example/in", T0)
    assert [e.id for e in hooks.endpoints("acme")] == [a.id, b.id]
    assert hooks.endpoints("other") == []
    hooks.remove("acme", a.id)
    assert hooks.endpoints("acme") == [b]
    with pytest.raises(NotFound):
        hooks.remove("acme", a.id)
    with pytest.raises(NotFound):
        hooks.remove("other", b.id)  # another account's endpoint does not exist for it


def test_a_refused_url_registers_nothing(hooks):
    with pytest.raises(UrlRefused):
        hooks.register("acme", "http://a.example/in", T0)
    assert hooks.endpoints("acme") == []


def test_at_most_ten_endpoints(hooks):
    for n in range(MAX_ENDPOINTS):
        hooks.register("acme", f"https://h{n}.example/", T0)
    with pytest.raises(InvalidRequest) as caught:
        hooks.register("acme", "https://one-more.example/", T0)
    assert caught.value.field == "url" and len(hooks.endpoints("acme")) == MAX_ENDPOINTS


def test_fan_out_sends_each_alert_to_the_endpoints_of_its_time(hooks):
    early = hooks.register("acme", "https://a.example/in", T0 - timedelta(hours=1))
    late = hooks.register("acme", "https://b.example/in", T0 + timedelta(minutes=1))
    hooks.register("other", "https://c.example/in", T0 - timedelta(hours=1))
    rows = hooks.fan_out("acme", [alert(1), alert(2, T0 + timedelta(minutes=2))], T0)
    assert [(r.alert_id, r.endpoint_id) for r in rows] == [
        (1, early.id), (2, early.id), (2, late.id)]
    assert len({r.delivery_id for r in rows}) == 3  # one id per alert and endpoint
    assert rows[0].secret == early.secret and hooks.outbox.pending_count() == 3


def test_deliveries_list_the_endpoints_attempts(hooks):
    endpoint = hooks.register("acme", "https://a.example/in", T0)
    [row] = hooks.fan_out("acme", [alert(1)], T0)
    hooks.outbox.mark_failed(Attempt(row.delivery_id, endpoint.id, 1, T0, "failed",
                                     "HTTP 500", T0 + timedelta(seconds=30)))
    assert hooks.deliveries("acme", endpoint.id) == [{
        "alert_id": 1, "at": T0.isoformat(), "status": "failed", "error": "HTTP 500",
        "next_retry_at": (T0 + timedelta(seconds=30)).isoformat()}]
    with pytest.raises(NotFound):
        hooks.deliveries("other", endpoint.id)
