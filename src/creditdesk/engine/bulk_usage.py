"""Debits in bulk, for books built in one go (the demo's year of history).

Each debit goes through `record_usage`'s own rules (`BillingSession.debit_under_lock`:
role, periods, input, key, burn order, limits, recharges, alerts), in the order given,
under one hold of the account, and builds no receipt: nobody reads them, and a receipt
was about a quarter of a debit (bench/engine_scale.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import InsufficientCredits, MemberLimitReached

if TYPE_CHECKING:
    from .core import BillingEngine
    from .session import BillingSession

# What an agent meets in normal work; anything else is a mistake in the caller's input.
REFUSED = (InsufficientCredits, MemberLimitReached)


def record_usage_in_bulk(engine: BillingEngine, account_id: str,
                         debits: Iterable[tuple[BillingSession, int, str, str]]) -> int:
    """Record each (session, credits, campaign, idempotency key) on `account_id` as
    `session.record_usage` would at the engine's clock when it is drawn from `debits` (the
    iterable may move a ManualClock, or act on the books itself, between items); returns
    how many were refused for credits or a member's limit. For an in-memory store: one
    that keeps first answers (the SQL store) takes `record_usage`, which keeps them."""
    if engine.store.keeps_answers:
        raise ValueError("record_usage_in_bulk keeps no first answers: use record_usage "
                         "on a store that keeps them")
    refused = 0
    with engine.store.write(account_id) as account:
        for session, credits, campaign, key in debits:
            try:
                session.debit_under_lock(account, account_id, credits, campaign, key, False)
            except REFUSED:
                refused += 1
    return refused
