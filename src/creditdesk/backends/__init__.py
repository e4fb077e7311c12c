"""Backends: where the dashboard's billing calls go (in-process engine or remote API).

RemoteBackend is imported lazily so that `creditdesk demo` never loads httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .memory import MemoryBackend
from .protocol import BACKEND_METHODS, BillingBackend

if TYPE_CHECKING:
    from .remote import RemoteBackend

__all__ = ["BACKEND_METHODS", "BillingBackend", "MemoryBackend", "RemoteBackend"]


def __getattr__(name: str) -> Any:
    if name == "RemoteBackend":
        from .remote import RemoteBackend
        return RemoteBackend
    raise AttributeError(name)
