"""Headless runs of the dashboard (tests, screenshots, benchmarks): wait until it is idle.

Kept out of the shipped package: it is for the test suite and `scripts/screenshots.py`,
which puts the checkout's `tests/` folder on its path to import it.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

_SEEN: WeakKeyDictionary = WeakKeyDictionary()


async def settle(pilot) -> None:
    """Wait until the backend calls started so far (workers) and the repaints are done."""
    app = pilot.app
    for _ in range(20):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            return


def record_toasts(app):
    """Keep every notification the app raises, for `toasts(app)`: Textual's test harness
    draws no toasts, and its own list of them is private. Wraps the public `notify`."""
    seen = _SEEN.setdefault(app, [])
    notify = app.notify

    def recording(message, *, title="", **options):
        seen.append(f"{title}\n{message}" if title else str(message))
        return notify(message, title=title, **options)

    app.notify = recording
    return app


def toasts(app) -> list[str]:
    """Title and message of each notification since `record_toasts(app)`, oldest first."""
    if app not in _SEEN:
        raise AssertionError("call record_toasts(app) before running it to read its toasts")
    return list(_SEEN[app])
