"""The races that need separate processes: one `creditdesk serve --workers 3` on the
session's PostgreSQL for the whole module (tests/server/test_workers_postgres.py starts
it), clients spread over its workers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.worker_cluster import Cluster, debit, ledger


@pytest.fixture(scope="module")
def served(postgres_cluster):
    name = postgres_cluster.create_database()
    running = Cluster(postgres_cluster.url(name), workers=3)
    yield running
    running.stop()
    postgres_cluster.drop_database(name)


def race(count: int, work):
    barrier = threading.Barrier(count)

    def run(n: int):
        barrier.wait()
        return work(n)
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_one_key_posted_to_every_worker_applies_once(served):
    """Lago #5870, #2664 across processes: 12 clients post one debit key and one top-up
    key at once; each applies once and every answer is the first, byte for byte."""
    def post(n: int):
        with served.client("ann") as client:
            if n % 2:
                return debit(client, served.org, 11, "w-one").content
            return client.post(f"/v1/accounts/{served.org}/purchases", json={"credits": 200},
                               headers={"Idempotency-Key": "w-top"}).content
    answers = race(12, post)
    assert len(set(answers[1::2])) == 1 and len(set(answers[0::2])) == 1
    with served.client("ann") as owner:
        keys = [e.idempotency_key for e in ledger(owner, served.org)]
    assert keys.count("w-one") == 1 and keys.count("w-top") == 1


def test_a_member_limit_holds_across_workers(served):
    """The check-then-act race across processes: 12 clients of one member, each on its
    own connection, debit against a limit with room for exactly 7 debits."""
    with served.client("ann") as owner:
        used = next(m for m in owner.get(f"/v1/accounts/{served.org}/members").json()
                    if m["user_id"] == "dana")["used_this_period"]
        assert owner.put(f"/v1/accounts/{served.org}/members/dana/limit",
                         json={"limit": used + 7 * 30 + 29}).status_code == 200

    def spend(n: int) -> list[int]:
        with served.client("dana") as client:
            return [debit(client, served.org, 30, f"lim-{n}-{i}").status_code
                    for i in range(2)]
    codes = [code for codes in race(12, spend) for code in codes]
    assert codes.count(200) == 7 and set(codes) == {200, 402}, codes
    with served.client("ann") as owner:
        dana = next(m for m in owner.get(f"/v1/accounts/{served.org}/members").json()
                    if m["user_id"] == "dana")
    assert dana["used_this_period"] == used + 210 <= dana["limit"]


def test_the_recharge_cap_holds_across_workers(served):
    """Lago #6103, #6177 across processes: concurrent debits on three workers keep the
    monthly recharge spend at or under the cap, one purchase at a time."""
    with served.client("ann") as owner:
        total = owner.get(f"/v1/accounts/{served.org}/balance").json()["total"]
        # Three debits of 150 in four cross the threshold again: far more purchases are
        # wanted than the cap's room for 5 amounts.
        settings = {"enabled": True, "threshold": total, "amount": 200,
                    "monthly_cap_cents": 500}
        assert owner.put(f"/v1/accounts/{served.org}/auto-recharge",
                         json=settings).status_code == 200

    def spend(n: int) -> int:
        with served.client("bob") as client:
            got = 0
            for i in range(3):
                response = debit(client, served.org, 150, f"cap-{n}-{i}")
                if response.status_code == 200:
                    got += response.json()["recharged"]
            return got
    bought = sum(race(10, spend))
    with served.client("ann") as owner:
        state = owner.get(f"/v1/accounts/{served.org}/auto-recharge").json()
        recharges = [e for e in ledger(owner, served.org) if e.kind == "recharge"]
    assert state["spent_this_period_cents"] == 500            # reached, never passed
    assert bought == sum(e.purchased for e in recharges) == 200 * len(recharges) == 1_000
