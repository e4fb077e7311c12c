"""DemoControls: the optional hooks `creditdesk demo` hands the app (live activity, time travel).

The dashboard never imports the demo module or the engine: the command line builds these
callables over the demo world and passes them in, so the same app runs on any backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

DEFAULT_WELCOME = ("Welcome to the CreditDesk demo: press l for live activity, "
                   "t to jump to the next period close, ? for every key.")


@dataclass(frozen=True)
class DemoControls:
    """`simulate_activity()` does one second of simulated agents' work through the backend
    and returns a short line on anything notable (a member stopped at their limit, an
    auto-recharge), or None. `advance_to_period_close()` moves the demo clock to the next
    period close and returns what happened, in words."""

    simulate_activity: Callable[[], Awaitable[str | None]]
    advance_to_period_close: Callable[[], Awaitable[str]]
    welcome: str = DEFAULT_WELCOME
    tick_seconds: float = 1.0
