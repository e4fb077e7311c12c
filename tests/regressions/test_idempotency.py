"""The same top-up or debit posted twice gives one effect: in sequence, in parallel (threads
racing on one database) and across a restart. Across workers: test_workers.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def _usage(engine, key: str) -> list:
    return [e for e in engine.ledger_entries("acme") if e.idempotency_key == key]


def test_a_debit_posted_twice_in_sequence_applies_once(world):
    """Lago #5870 (a retried event was billed twice): the second post of a key is the
    first answer, byte for byte, and writes nothing."""
    bob = world.session("bob")
    first = bob.record_usage("acme", 70, campaign="c", idempotency_key="dup")
    entries = len(world.engine.ledger_entries("acme"))
    again = bob.record_usage("acme", 70, campaign="c", idempotency_key="dup")
    assert again.model_dump_json() == first.model_dump_json()
    assert len(world.engine.ledger_entries("acme")) == entries
    assert world.session("ann").balance("acme").total == first.balance.total


def test_a_top_up_posted_twice_in_sequence_buys_once(world):
    """Lago #3618 (a wallet top-up applied twice on a retried request): one invoice, one
    charge, one credit."""
    ann = world.session("ann")
    before, invoices = ann.balance("acme").total, len(ann.invoices("acme"))
    charges = len(world.payments.charges)
    first = ann.purchase_credits("acme", 1_000, idempotency_key="top")
    again = ann.purchase_credits("acme", 1_000, idempotency_key="top")
    assert again == first
    assert ann.balance("acme").total == before + 1_000
    assert len(ann.invoices("acme")) == invoices + 1
    assert len(world.payments.charges) == charges + 1


def test_the_same_key_posted_by_many_threads_at_once_applies_once(world):
    """Lago #2664 (concurrent requests with one key both applied): twelve threads race one
    debit key and one top-up key on the same database; each applies once."""
    bob, ann = world.session("bob"), world.session("ann")
    barrier = threading.Barrier(12)
    before = ann.balance("acme").total

    def race(n: int):
        barrier.wait()
        if n % 2:
            return bob.record_usage("acme", 30, campaign="c", idempotency_key="race-d")
        return ann.purchase_credits("acme", 200, idempotency_key="race-p")

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(race, range(12)))
    assert len({a.model_dump_json() for a in answers[1::2]}) == 1
    assert len({a.model_dump_json() for a in answers[0::2]}) == 1
    assert len(_usage(world.engine, "race-d")) == 1
    assert len(_usage(world.engine, "race-p")) == 1
    assert ann.balance("acme").total == before - 30 + 200


def test_a_key_posted_again_after_a_restart_applies_once(world, reopen):
    """Lago #5870, #2664 across a restart: the first answer is kept in the database, not in
    the process, so a new engine on the same books replays it."""
    first = world.session("bob").record_usage("acme", 45, campaign="c", idempotency_key="r")
    bought = world.session("ann").purchase_credits("acme", 400, idempotency_key="rp")
    restarted = reopen(world)
    again = restarted.session("bob").record_usage("acme", 45, campaign="c",
                                                  idempotency_key="r")
    assert again.model_dump_json() == first.model_dump_json()
    assert restarted.session("ann").purchase_credits("acme", 400,
                                                     idempotency_key="rp") == bought
    assert len(_usage(restarted, "r")) == 1 and len(_usage(restarted, "rp")) == 1
