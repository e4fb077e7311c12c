"""The contract world (ann owner, bob admin, cat member of acme; dan outside), served by each
kind of backend: in memory, and over real HTTP on loopback; each on the memory store, SQLite
and PostgreSQL."""

from __future__ import annotations

import contextlib

import pytest

from creditdesk.backends import MemoryBackend
from tests.store.stores import store_factory_on_every_store  # noqa: F401 (each backend on each)


@pytest.fixture(params=["memory", "remote"])
def backend_kind(request) -> str:
    return request.param


@pytest.fixture
async def backend_for(world, backend_kind):
    """`backend_for(user_id)`: that user's backend of the kind under test, on `world`.

    The engine is the very object the test holds, so a test can move `world.clock`, decline
    cards, or read the engine directly to check what a backend call did."""
    opened = []
    with contextlib.ExitStack() as stack:
        server = None
        if backend_kind == "remote":
            from tests.support.live_server import LiveServer
            server = stack.enter_context(LiveServer(world.engine))

        def open_backend(user_id: str):
            if server is None:
                backend = MemoryBackend(world.engine, user_id)
            else:
                from creditdesk.backends import RemoteBackend
                backend = RemoteBackend(server.url, server.token_for(user_id))
            opened.append(backend)
            return backend

        yield open_backend
        for backend in opened:
            await backend.aclose()
