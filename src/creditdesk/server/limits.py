"""The HTTP API's guards put together, and their settings from the environment.

Each guard is a pure ASGI app in a module of its own (body_limit.py, rate_limit.py,
in_flight.py; what they share in asgi.py), answering with the contract's JSON error body
(`{"error": {code, message, required_role, field}}`) so clients never see a framework's
own error shape; their OpenAPI answers are in guard_docs.py, and the guard below the ASGI
app (slow heads, malformed HTTP) in http_protocol.py. Their names are here too, for the
server factory and the tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from .asgi import ASGIApp, send_error
from .body_limit import DEFAULT_MAX_BODY_BYTES, BodySizeLimit, OneSegmentIds
from .guard_docs import ERROR_BODY_SCHEMA, document_limits
from .http_protocol import install_header_timeout
from .in_flight import DEFAULT_MAX_IN_FLIGHT, InFlightLimit
from .rate_limit import (
    DEFAULT_BURST,
    DEFAULT_FAILED_BURST,
    DEFAULT_FAILED_RATE,
    DEFAULT_MAX_CALLERS,
    DEFAULT_RATE,
    RateLimit,
)


def limits_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Guard settings for `creditdesk serve`, from the environment.

    `CREDITDESK_MAX_BODY_BYTES` (an int) and `CREDITDESK_RATE_LIMIT` as `RATE/BURST`
    (e.g. `50/200`) or `off`. Returns keyword arguments: max_bytes, rate, burst.
    """
    settings: dict[str, Any] = {"max_bytes": DEFAULT_MAX_BODY_BYTES,
                                "rate": DEFAULT_RATE, "burst": DEFAULT_BURST}
    raw_bytes = environ.get("CREDITDESK_MAX_BODY_BYTES", "").strip()
    if raw_bytes:
        if not raw_bytes.isdigit():
            raise ValueError(f"CREDITDESK_MAX_BODY_BYTES must be a whole number of bytes, "
                             f"not {raw_bytes!r}")
        settings["max_bytes"] = int(raw_bytes)
    raw_rate = environ.get("CREDITDESK_RATE_LIMIT", "").strip().lower()
    if raw_rate in ("off", "none", "0"):
        settings["rate"] = None
    elif raw_rate:
        rate, _, burst = raw_rate.partition("/")
        try:
            settings["rate"] = float(rate)
            settings["burst"] = int(burst) if burst else settings["burst"]
        except ValueError:
            raise ValueError(f"CREDITDESK_RATE_LIMIT must look like 50/200 or off, "
                             f"not {raw_rate!r}") from None
        if not (settings["rate"] > 0 and settings["burst"] >= 1):
            raise ValueError(f"CREDITDESK_RATE_LIMIT must be positive, not {raw_rate!r}")
    return settings


def guard(app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES,
          rate: float | None = DEFAULT_RATE, burst: int = DEFAULT_BURST,
          clock: Callable[[], float] = time.monotonic,
          identify: Callable[[str], str | None] | None = None,
          max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
          identify_cached: Callable[[str], tuple[bool, str | None]] | None = None) -> ASGIApp:
    """Wrap `app` in the guards; the in-flight limit and then the rate limit go outside,
    so a flood is turned away before any token is looked up or any body is read."""
    limited = RateLimit(OneSegmentIds(BodySizeLimit(app, max_bytes=max_bytes)), rate=rate,
                        burst=burst, clock=clock, identify=identify,
                        identify_cached=identify_cached)
    return InFlightLimit(limited, max_in_flight=max_in_flight)


__all__ = ["DEFAULT_BURST", "DEFAULT_FAILED_BURST", "DEFAULT_FAILED_RATE",
           "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_CALLERS", "DEFAULT_MAX_IN_FLIGHT",
           "DEFAULT_RATE", "ERROR_BODY_SCHEMA", "BodySizeLimit", "InFlightLimit",
           "OneSegmentIds", "RateLimit", "document_limits", "guard", "install_header_timeout",
           "limits_from_env", "send_error"]
