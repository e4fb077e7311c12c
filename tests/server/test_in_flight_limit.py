"""Over the limit of requests in flight the answer is the contract's 503 `unavailable`
(issue 9, item 11: uvicorn's own over-the-limit answer was plain text)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from creditdesk.server.limits import InFlightLimit, guard
from creditdesk.server.runner import MAX_CONCURRENT


def held_app():
    release = asyncio.Event()

    async def app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})
    return app, release


async def test_the_request_over_the_limit_gets_a_json_503_at_once():
    app, release = held_app()
    limited = InFlightLimit(app, max_in_flight=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited),
                                 base_url="http://test") as client:
        held = [asyncio.create_task(client.get("/v1/me")) for _ in range(3)]
        while limited.active < 3:
            await asyncio.sleep(0)
        over = await asyncio.wait_for(client.get("/v1/me"), 2)
        assert over.status_code == 503 and over.headers["retry-after"] == "1"
        assert over.headers["content-type"] == "application/json"
        assert over.json()["error"]["code"] == "unavailable"
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200] * 3
        assert limited.active == 0
        assert (await client.get("/v1/me")).status_code == 200     # room again


def test_the_guard_answers_before_uvicorn_would():
    from creditdesk.server.limits import DEFAULT_MAX_IN_FLIGHT
    assert isinstance(guard(held_app()[0]), InFlightLimit)
    assert DEFAULT_MAX_IN_FLIGHT < MAX_CONCURRENT      # uvicorn's plain 503 never comes first


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(ValueError, match="max_in_flight"):
        InFlightLimit(held_app()[0], max_in_flight=bad)
