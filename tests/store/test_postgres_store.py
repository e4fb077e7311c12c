"""The SQL store on PostgreSQL: the account row locked with FOR UPDATE, so two engines
(two workers) on one database never overdraw and apply one key once."""

from __future__ import annotations

import threading

from creditdesk.errors import InsufficientCredits
from creditdesk.store import SqlStore
from tests.store.test_sql_store import _engine, _org_on
from tests.support.postgres import postgres_cluster, postgres_url  # noqa: F401


def test_concurrent_debits_on_two_engines_never_overdraw(postgres_url):
    store, engine, clock = _org_on(postgres_url, members=4)
    second_store = SqlStore(postgres_url)
    engines = [engine, _engine(second_store, clock)]
    done, refused = [], []

    def spend(worker: int) -> None:
        session = engines[worker % 2].session(f"u{worker % 4}")
        for n in range(15):
            try:
                session.record_usage("acme", 10, campaign="c",
                                     idempotency_key=f"w{worker}-{n}")
                done.append(1)
            except InsufficientCredits:
                refused.append(1)
    threads = [threading.Thread(target=spend, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 100 and len(refused) == 20
    assert engine.session("u0").balance("acme").total == 0
    engine.verify("acme")
    store.close()
    second_store.close()


def test_one_key_from_two_engines_at_once_is_applied_once(postgres_url):
    store, engine, clock = _org_on(postgres_url)
    second_store = SqlStore(postgres_url)
    engines = [engine, _engine(second_store, clock)]
    answers = []

    def send(n: int) -> None:
        answers.append(engines[n % 2].session("u0").record_usage(
            "acme", 50, campaign="c", idempotency_key="same"))
    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({answer.model_dump_json() for answer in answers}) == 1
    assert engine.session("u0").balance("acme").total == 950
    store.close()
    second_store.close()
