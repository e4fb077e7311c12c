"""First answers on PostgreSQL with `creditdesk serve --workers 2`: a replay sends the bytes
its record keeps, from every worker and after the whole server restarted (billing-rules.md,
"Idempotency": "also after a restart and on any server worker")."""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa

from tests.support.worker_cluster import ServeTree

OPERATOR = "operator-token-for-the-first-answers-tests"
OP = {"Authorization": f"Bearer {OPERATOR}"}
TEAM = {"id": "team", "name": "Team", "base_credits_per_month": 1000, "rollover_cap": 500,
        "billing_period": "monthly", "price_cents": 4900}
CLIENTS = 6     # each its own connection, so the kernel spreads them over the workers


class Served(ServeTree):
    def __init__(self, url: str) -> None:
        super().__init__(url, 2, OPERATOR)

    def call(self, method: str, path: str, headers: dict, body=None) -> httpx.Response:
        # A new connection per call: the workers share one listening socket.
        return httpx.request(method, f"{self.base}{path}", json=body, headers=headers,
                             timeout=30)


def set_up(served: Served) -> dict:
    """acme (ann, owner), a debit, a purchase and a failed purchase paid later; returns
    key -> (path, body, headers, first answer's bytes)."""
    for path, body in (("/v1/admin/plans", TEAM),
                       ("/v1/admin/users", {"id": "ann", "name": "Ann",
                                            "email": "ann@example.com", "plan": "team"}),
                       ("/v1/admin/orgs", {"id": "acme", "name": "Acme", "owner": "ann",
                                           "plan": "team"})):
        assert served.call("POST", path, OP, body).status_code == 201
    token = served.call("POST", "/v1/admin/users/ann/tokens", OP, {}).json()["token"]
    ann = {"Authorization": f"Bearer {token}"}
    served.call("PUT", "/v1/admin/payments/acme", OP, {"decline": True})
    assert served.call("POST", "/v1/accounts/acme/purchases",
                       {**ann, "Idempotency-Key": "f1"}, {"credits": 200}).status_code == 402
    served.call("PUT", "/v1/admin/payments/acme", OP, {"decline": False})
    failed = next(i["id"] for i in served.call("GET", "/v1/accounts/acme/invoices", ann).json()
                  if i["status"] == "failed")
    calls = {"d1": ("/v1/accounts/acme/usage", {"credits": 300, "campaign": "a"}),
             "p1": ("/v1/accounts/acme/purchases", {"credits": 400}),
             "pay1": (f"/v1/accounts/acme/invoices/{failed}/pay", None)}
    answers = {}
    for key, (path, body) in calls.items():
        headers = {**ann, "Idempotency-Key": key}
        response = served.call("POST", path, headers, body)
        assert response.status_code == 200, response.text
        answers[key] = (path, body, headers, response.content)
    return answers


def replays(served: Served, answers: dict) -> set[tuple[str, int, bytes]]:
    return {(key, response.status_code, response.content)
            for key, (path, body, headers, _) in answers.items()
            for response in [served.call("POST", path, headers, body)
                             for _ in range(CLIENTS)]}


def test_a_replay_sends_the_kept_bytes_from_every_worker_and_after_a_restart(postgres_url):
    served = Served(postgres_url)
    try:
        answers = set_up(served)
        assert replays(served, answers) == {(key, 200, sent)
                                            for key, (*_, sent) in answers.items()}
    finally:
        served.stop()
    # An answer as an earlier release sent it (invoices without `paid_at`) stays that way.
    database = sa.create_engine(postgres_url)
    with database.begin() as conn:
        older = json.loads(answers["p1"][3])
        del older["paid_at"]
        conn.execute(sa.text("UPDATE idempotency SET answer = :a WHERE key = 'p1'"),
                     {"a": json.dumps(older, separators=(",", ":"), ensure_ascii=False)})
        kept = dict(conn.execute(sa.text("SELECT key, answer FROM idempotency")).all())
    database.dispose()
    assert b'"paid_at"' not in kept["p1"].encode()
    served = Served(postgres_url)
    try:
        assert replays(served, answers) == {(key, 200, kept[key].encode())
                                            for key in answers}
    finally:
        served.stop()
