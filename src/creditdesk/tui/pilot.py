"""Headless runs of the dashboard (tests, screenshots, benchmarks): wait until it is idle."""

from __future__ import annotations


async def settle(pilot) -> None:
    """Wait until the backend calls started so far (workers) and the repaints are done."""
    app = pilot.app
    for _ in range(20):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            return
