"""The server's books in SQLite tables: a restart (or another worker) answers from them.

Each app here is what one `creditdesk serve` worker runs (`runner.sql_app`), in process on
a SQLite file, so a "restart" is a new app on the same file and "another worker" is a
second app on it at the same time. Nothing is replayed: both read the tables.
"""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from creditdesk.server.database import sqlite_database
from creditdesk.server.runner import ServeError, migrate, sql_app
from creditdesk.store.schema import STEPS

from .conftest import OPERATOR, assert_error
from .test_operator_api import OP, START, set_up


class Server:
    """In-process workers on one SQLite file; each `start()` is one more worker."""

    def __init__(self, path) -> None:
        self.path = path
        self.database = sqlite_database(path)
        self.opened: list[tuple] = []
        self.lines: list[str] = []

    async def start(self) -> httpx.AsyncClient:
        migrate(self.database, START, self.lines.append)
        app, store = sql_app(self.database, OPERATOR, START, {"rate": None})
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://api")
        self.opened.append((client, store))
        return client

    async def stop(self) -> None:
        for client, store in self.opened:
            await client.aclose()
            store.close()
        self.opened = []


@pytest.fixture
async def server(tmp_path):
    server = Server(tmp_path / "billing.sqlite3")
    yield server
    await server.stop()


async def views(client, token) -> dict:
    """Everything the owner can see, as raw JSON text."""
    auth = {"Authorization": f"Bearer {token}"}
    paths = ["/v1/me", "/v1/plans"] + [f"/v1/accounts/acme/{tail}" for tail in (
        "balance", "members", "subscription", "auto-recharge", "invoices", "ledger?limit=1000",
        "my-usage", "usage-history?start=2026-01-01T00:00:00Z&end=2026-06-01T00:00:00Z")]
    return {path: (await client.get(path, headers=auth)).text for path in paths}


def table_contents(path) -> dict[str, list]:
    """Every row of every table, sorted: equal means nothing was written."""
    db = sqlite3.connect(path)
    try:
        names = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
                for name in names}
    finally:
        db.close()


def counts(contents: dict[str, list]) -> dict[str, int]:
    return {name: len(rows) for name, rows in contents.items()}


async def test_a_restart_keeps_every_change_and_every_idempotent_answer(server):
    client = await server.start()
    token = await set_up(client)
    owner = {"Authorization": f"Bearer {token}"}
    debit = await client.post("/v1/accounts/acme/usage", json={"credits": 700, "campaign": "a"},
                              headers={**owner, "Idempotency-Key": "d1"})
    purchase = await client.post("/v1/accounts/acme/purchases", json={"credits": 400},
                                 headers={**owner, "Idempotency-Key": "p1"})
    await client.put("/v1/accounts/acme/auto-recharge", headers=owner, json={
        "enabled": True, "threshold": 100, "amount": 200})
    await client.put("/v1/accounts/acme/members/bob/limit", headers=owner, json={"limit": 5})
    await client.put("/v1/admin/payments/personal:bob", headers=OP, json={"decline": True})
    await client.put("/v1/admin/clock", headers=OP, json={"now": "2026-03-02T00:00:00+00:00"})
    seen = await views(client, token)      # this read closes two periods: written too
    await server.stop()

    client = await server.start()
    entries = counts(table_contents(server.path))["ledger"]
    assert entries > 5
    assert server.lines[-1] == (f"database {server.path} (3 accounts, {entries} ledger "
                                f"entries)")
    assert await views(client, token) == seen
    replay = await client.post("/v1/accounts/acme/usage", json={"credits": 700, "campaign": "a"},
                               headers={**owner, "Idempotency-Key": "d1"})
    assert (replay.status_code, replay.content) == (200, debit.content)
    again = await client.post("/v1/accounts/acme/purchases", json={"credits": 400},
                              headers={**owner, "Idempotency-Key": "p1"})
    assert again.content == purchase.content
    assert_error(await client.post("/v1/accounts/acme/usage",
                                   json={"credits": 701, "campaign": "a"},
                                   headers={**owner, "Idempotency-Key": "d1"}),
                 409, "idempotency_conflict", field="idempotency_key")
    assert await views(client, token) == seen
    # The gateway flag and the clock came back too.
    bob = (await client.post("/v1/admin/users/bob/tokens", headers=OP, json={})).json()["token"]
    assert_error(await client.post("/v1/accounts/personal:bob/purchases", json={"credits": 200},
                                   headers={"Authorization": f"Bearer {bob}",
                                            "Idempotency-Key": "b1"}), 402, "payment_declined")
    assert_error(await client.put("/v1/admin/clock", headers=OP,
                                  json={"now": "2026-03-01T00:00:00+00:00"}),
                 422, "invalid_request", field="now")


async def test_a_replay_is_the_first_answer_on_another_worker_and_after_a_restart(server):
    """Issue 9 item 8: key K refused once (a recharge happened on the way), then K for 100
    answered `recharged: 0` and K again `recharged: 200`. The first answer is the answer,
    byte for byte, on every worker and after a restart."""
    first, second = await server.start(), await server.start()
    token = await set_up(first)
    owner = {"Authorization": f"Bearer {token}"}
    await first.put("/v1/accounts/acme/auto-recharge", headers=owner, json={
        "enabled": True, "threshold": 0, "amount": 200, "monthly_cap_cents": 100})
    # Balance 1,000: 1,500 needs 500 more, the cap allows one 200-credit recharge.
    refused = await first.post("/v1/accounts/acme/usage", json={"credits": 1_500,
                                                                "campaign": "a"},
                               headers={**owner, "Idempotency-Key": "K"})
    assert refused.status_code == 402
    assert (await first.get("/v1/accounts/acme/balance", headers=owner)).json()[
        "purchased"] == 200
    answers = []
    for client in (first, second, first, second):
        answers.append(await client.post(
            "/v1/accounts/acme/usage", json={"credits": 100, "campaign": "a"},
            headers={**owner, "Idempotency-Key": "K"}))
    await server.stop()
    answers.append(await (await server.start()).post(
        "/v1/accounts/acme/usage", json={"credits": 100, "campaign": "a"},
        headers={**owner, "Idempotency-Key": "K"}))
    assert {(a.status_code, a.content) for a in answers} == {(200, answers[0].content)}


async def first_answers(client, owner: dict) -> dict[str, tuple[str, dict, bytes]]:
    """A debit, a purchase and the payment of a failed purchase: key -> (path, body, the
    first answer's bytes)."""
    calls = {"d1": ("/v1/accounts/acme/usage", {"credits": 300, "campaign": "a"}),
             "p1": ("/v1/accounts/acme/purchases", {"credits": 400})}
    await client.put("/v1/admin/payments/acme", headers=OP, json={"decline": True})
    declined = await client.post("/v1/accounts/acme/purchases", json={"credits": 200},
                                 headers={**owner, "Idempotency-Key": "f1"})
    assert declined.status_code == 402
    await client.put("/v1/admin/payments/acme", headers=OP, json={"decline": False})
    failed = next(i for i in (await client.get("/v1/accounts/acme/invoices",
                                               headers=owner)).json()
                  if i["status"] == "failed")
    calls["pay1"] = (f"/v1/accounts/acme/invoices/{failed['id']}/pay", None)
    answers = {}
    for key, (path, body) in calls.items():
        response = await client.post(path, json=body,
                                     headers={**owner, "Idempotency-Key": key})
        assert response.status_code == 200, response.text
        answers[key] = (path, body, response.content)
    return answers


def kept_answers(path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, answer FROM idempotency WHERE account_id = "
                               "'acme'"))


async def test_each_first_answer_is_kept_as_sent_and_replayed_as_kept(server):
    first, second = await server.start(), await server.start()
    owner = {"Authorization": f"Bearer {await set_up(first)}"}
    answers = await first_answers(first, owner)
    # Kept with its record, in the call's own transaction: the very bytes sent.
    assert {key: kept_answers(server.path)[key].encode() for key in answers} == \
        {key: sent for key, (_, _, sent) in answers.items()}
    for client in (second, first):
        for key, (path, body, sent) in answers.items():
            again = await client.post(path, json=body,
                                      headers={**owner, "Idempotency-Key": key})
            assert (again.status_code, again.content) == (200, sent)


async def test_a_failed_invoice_paid_later_reads_as_paid_in_its_row_and_answer(server):
    client = await server.start()
    owner = {"Authorization": f"Bearer {await set_up(client)}"}
    path, _, sent = (await first_answers(client, owner))["pay1"]
    paid = json.loads(sent)
    assert paid["status"] == "paid" and paid["description"].endswith(" (paid on retry)")
    assert "declined" not in paid["description"]
    await server.stop()
    again = await server.start()        # from the invoices table, not this worker's memory
    listed = (await again.get("/v1/accounts/acme/invoices", headers=owner)).json()
    assert next(i for i in listed if i["id"] == paid["id"]) == paid
    replay = await again.post(path, headers={**owner, "Idempotency-Key": "pay1"})
    assert (replay.status_code, replay.content) == (200, sent)


async def test_a_replay_sends_the_kept_bytes_not_todays_rendering_of_them(server):
    """An answer first sent by a release whose invoices had no `paid_at` (as the journal
    release's did) goes out exactly so, on every worker and after a restart: a model read
    back and serialised again would add `"paid_at":...`."""
    client = await server.start()
    owner = {"Authorization": f"Bearer {await set_up(client)}"}
    answers = await first_answers(client, owner)
    with sqlite3.connect(server.path) as db:
        for key in ("p1", "pay1"):
            older = json.loads(answers[key][2])
            del older["paid_at"]
            db.execute("UPDATE idempotency SET answer = ? WHERE key = ?",
                       (json.dumps(older, separators=(",", ":"), ensure_ascii=False), key))
    kept = kept_answers(server.path)
    await server.stop()
    workers = [await server.start(), await server.start()]
    for worker in workers:
        for key, (path, body, _) in answers.items():
            again = await worker.post(path, json=body,
                                      headers={**owner, "Idempotency-Key": key})
            assert (again.status_code, again.content) == (200, kept[key].encode())
    assert all(b'"paid_at"' not in kept[key].encode() for key in ("p1", "pay1"))


async def test_the_books_are_tables_and_tokens_are_only_hashes(server):
    client = await server.start()
    token = await set_up(client)
    await client.post("/v1/accounts/acme/usage", json={"credits": 5, "campaign": "a"},
                      headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k"})
    ledger = (await client.get("/v1/accounts/acme/ledger?limit=1000", headers={
        "Authorization": f"Bearer {token}"})).json()
    await server.stop()

    db = sqlite3.connect(server.path)
    rows = db.execute("SELECT id, d_base, base + rollover + purchased, idempotency_key "
                      "FROM ledger WHERE account_id = 'acme' ORDER BY id").fetchall()
    assert rows == [(e["id"], e["base"], e["balance_after"], e["idempotency_key"])
                    for e in reversed(ledger)]
    assert db.execute("SELECT key FROM idempotency WHERE account_id = 'acme'").fetchall() \
        == [("k",)]
    assert db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == len(STEPS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    for path in server.path.parent.iterdir():
        assert token.encode() not in path.read_bytes(), path


async def test_reads_that_change_nothing_write_nothing(server):
    client = await server.start()
    token = await set_up(client)
    before = table_contents(server.path)
    for _ in range(3):
        await client.get("/v1/accounts/acme/balance", headers={"Authorization": f"Bearer {token}"})
    assert table_contents(server.path) == before


async def test_refused_debits_with_one_key_write_nothing(server):
    """Issue 9 item 3: 2,000 refused debits (the same key) wrote 2,000 journal rows. On the
    tables a refusal that changes no state writes nothing: every table is as it was."""
    client = await server.start()
    owner = {"Authorization": f"Bearer {await set_up(client)}", "Idempotency-Key": "same"}
    debit = {"credits": 10_000_000, "campaign": "a"}
    # The first refusal may raise an alert (alerting.py's rules: state, kept once); the
    # 2,000 after it change nothing.
    assert (await client.post("/v1/accounts/acme/usage", headers=owner,
                              json=debit)).status_code == 402
    before = table_contents(server.path)
    for _ in range(2_000):
        refused = await client.post("/v1/accounts/acme/usage", headers=owner, json=debit)
        assert refused.status_code == 402
    after = table_contents(server.path)
    assert counts(after) == counts(before) and after == before


async def test_a_refusal_that_recharged_writes_only_the_recharge(server):
    client = await server.start()
    owner = {"Authorization": f"Bearer {await set_up(client)}"}
    await client.put("/v1/accounts/acme/auto-recharge", headers=owner, json={
        "enabled": True, "threshold": 0, "amount": 200, "monthly_cap_cents": 100})
    before = counts(table_contents(server.path))
    refused = await client.post("/v1/accounts/acme/usage", json={"credits": 1_500,
                                                                 "campaign": "a"},
                                headers={**owner, "Idempotency-Key": "K"})
    assert refused.status_code == 402
    after = counts(table_contents(server.path))
    grown = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    # The recharge: its entry, its invoice, its charge. Alerts the lower balance raised are
    # state too (alerting.py); no debit, no idempotency record, no usage roll-up.
    alerting = {name for name in grown if name.startswith("alert") or name == "counters"}
    assert {name: grown[name] for name in set(grown) - alerting} == {
        "ledger": 1, "invoices": 1, "gateway_charges": 1}


async def test_a_failed_write_is_never_acknowledged_and_the_next_one_works(server):
    client = await server.start()
    token = await set_up(client)
    owner = {"Authorization": f"Bearer {token}", "Idempotency-Key": "lost"}
    store = server.opened[0][1]

    def broken_disk(connection, statement, *args):
        # The roll-up upsert goes to the driver itself (store/sql_driver.py): the failure
        # comes where the driver's own would.
        if statement.startswith("INSERT INTO usage_day"):
            raise sqlite3.OperationalError("disk I/O error")

    stop = store.driver.watch(broken_disk)
    before = table_contents(server.path)
    failed = await client.post("/v1/accounts/acme/usage", json={"credits": 5, "campaign": "a"},
                               headers=owner)
    assert_error(failed, 503, "unavailable")
    assert table_contents(server.path) == before       # the half-made debit rolled back
    stop()
    done = await client.post("/v1/accounts/acme/usage", json={"credits": 5, "campaign": "a"},
                             headers=owner)
    assert done.status_code == 200 and done.json()["from_base"] == 5


def test_a_database_of_a_newer_release_is_refused_in_words(tmp_path):
    path = tmp_path / "future.sqlite3"
    migrate(sqlite_database(path), None, lambda line: None)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version (version) VALUES (?)", (len(STEPS) + 1,))
    db.commit()
    db.close()
    with pytest.raises(ServeError, match="newer creditdesk"):
        migrate(sqlite_database(path), None, lambda line: None)
