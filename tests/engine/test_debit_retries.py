"""A debit the store gives up is computed again on fresh state, MAX_ATTEMPTS times in all.

The debit's first attempt runs outside `retrying` (one frame less on every debit); these
check that the attempts still add up to MAX_ATTEMPTS and that a retried debit is applied
once."""

from __future__ import annotations

import pytest

from creditdesk.store import MemoryStore
from creditdesk.store.retry import MAX_ATTEMPTS, RetryTransaction


class GivingUpStore(MemoryStore):
    """A memory store whose next `give_up` transactions are given up, as a database may."""

    def __init__(self) -> None:
        super().__init__()
        self.give_up = 0
        self.attempts = 0

    def write(self, account_id: str):
        self.attempts += 1
        if self.give_up:
            self.give_up -= 1
            raise RetryTransaction("serialization failure")
        return super().write(account_id)


@pytest.fixture
def store_factory():
    return GivingUpStore


def test_a_debit_given_up_until_the_last_attempt_goes_through_once(world):
    store = world.engine.store
    ann = world.session("ann")
    before = ann.balance("acme").total
    store.give_up, store.attempts = MAX_ATTEMPTS - 1, 0
    receipt = ann.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    assert store.attempts == MAX_ATTEMPTS
    assert receipt.balance.total == before - 300
    assert ann.balance("acme").total == before - 300
    usage = [e for e in world.engine.ledger_entries("acme") if e.idempotency_key == "job-1"]
    assert len(usage) == 1


def test_a_debit_given_up_every_time_is_given_up_after_max_attempts(world):
    store = world.engine.store
    ann = world.session("ann")
    before = ann.balance("acme").total
    store.give_up, store.attempts = MAX_ATTEMPTS, 0
    with pytest.raises(RetryTransaction):
        ann.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    assert store.attempts == MAX_ATTEMPTS
    assert ann.balance("acme").total == before
