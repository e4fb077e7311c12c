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
class LiveNews:
    """What one second of live activity in `account_id` did that is worth saying.

    `alerted` is what an alert raised by the same debits says as well (a member stopped at
    their limit raises `member_limit_reached`): a viewer who sees that account's alerts gets
    the alert's toast, so the app says these only to others; said twice, it was two toasts
    for one event."""

    account_id: str
    said: tuple[str, ...] = ()
    alerted: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoControls:
    """`simulate_activity()` does one second of simulated agents' work through the backend
    and returns what is notable (a member stopped at their limit, an auto-recharge) as
    LiveNews, or None. `advance_to_period_close()` moves the demo clock to the next
    period close and returns what happened, in words."""

    simulate_activity: Callable[[], Awaitable[LiveNews | None]]
    advance_to_period_close: Callable[[], Awaitable[str]]
    welcome: str = DEFAULT_WELCOME
    tick_seconds: float = 1.0
