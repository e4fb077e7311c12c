"""The SQLite journal: a restart rebuilds the same state, idempotent answers included."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import httpx
import pytest

from creditdesk.server.app import create_app
from creditdesk.server.store import SCHEMA_VERSION, StorageFailure, Store

from .conftest import OPERATOR, assert_error
from .test_operator_api import OP, START, set_up


class Server:
    """An in-process app on a SQLite file, that can be stopped and started again."""

    def __init__(self, path) -> None:
        self.path = path
        self.store: Store | None = None
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> httpx.AsyncClient:
        self.store = Store(self.path)
        app = create_app(store=self.store, operator_token=OPERATOR, test_clock=START,
                         limits={"rate": None})
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://api")
        return self.client

    async def stop(self) -> None:
        await self.client.aclose()
        self.store.close()


@pytest.fixture
async def server(tmp_path):
    server = Server(tmp_path / "billing.sqlite3")
    yield server
    if server.store is not None and server.store._writer.is_alive():
        await server.stop()


async def views(client, token) -> dict:
    """Everything the owner can see, as raw JSON text."""
    auth = {"Authorization": f"Bearer {token}"}
    paths = ["/v1/me", "/v1/plans"] + [f"/v1/accounts/acme/{tail}" for tail in (
        "balance", "members", "subscription", "auto-recharge", "invoices", "ledger?limit=1000",
        "my-usage", "usage-history?start=2026-01-01T00:00:00Z&end=2026-06-01T00:00:00Z")]
    return {path: (await client.get(path, headers=auth)).text for path in paths}


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
    seen = await views(client, token)      # this read closes two periods: journaled too
    await server.stop()

    client = await server.start()
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


async def test_the_books_are_queryable_and_tokens_are_only_hashes(server):
    client = await server.start()
    token = await set_up(client)
    await client.post("/v1/accounts/acme/usage", json={"credits": 5, "campaign": "a"},
                      headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k"})
    engine = client._transport.app.state.service.engine
    await server.stop()

    db = sqlite3.connect(server.path)
    ledger = db.execute("SELECT id, kind, base, balance_after, idempotency_key FROM ledger "
                        "WHERE account_id = 'acme' ORDER BY id").fetchall()
    assert ledger == [(e.id, e.kind, e.base, e.balance_after, e.idempotency_key)
                      for e in engine.ledger_entries("acme")]
    (response,) = db.execute("SELECT response FROM idempotency WHERE key = 'k'").fetchone()
    assert '"credits":5' in response
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    for path in server.path.parent.iterdir():
        assert token.encode() not in path.read_bytes(), path


async def test_reads_that_change_nothing_are_not_journaled(server):
    client = await server.start()
    token = await set_up(client)
    count = server.store.count("journal")
    for _ in range(3):
        await client.get("/v1/accounts/acme/balance", headers={"Authorization": f"Bearer {token}"})
    assert server.store.count("journal") == count


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StorageFailure, match="newer"):
        Store(path)


class BrokenDisk:
    """A connection whose every write fails, like a full or vanished disk."""

    def execute(self, sql, *args):
        raise sqlite3.OperationalError("disk I/O error")


async def test_a_failed_commit_is_never_acknowledged_and_stops_the_server(server):
    client = await server.start()
    token = await set_up(client)
    owner = {"Authorization": f"Bearer {token}", "Idempotency-Key": "lost"}
    real, server.store._db = server.store._db, BrokenDisk()
    failed = await client.post("/v1/accounts/acme/usage", json={"credits": 5, "campaign": "a"},
                               headers=owner)
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "unavailable"
    later = await client.get("/v1/me", headers=owner)
    assert later.status_code == 503
    server.store._db = real
    await server.stop()
    # Nothing of the refused write is on disk.
    client = await server.start()
    ledger = await client.get("/v1/accounts/acme/ledger", headers=owner)
    assert all(entry["idempotency_key"] != "lost" for entry in ledger.json())


def test_replay_uses_each_call_s_own_instant(tmp_path):
    """The journal records when each call ran; replaying elsewhere in time changes nothing."""
    path = tmp_path / "t.sqlite3"
    store = Store(path)
    app = create_app(store=store, operator_token=OPERATOR,
                     test_clock=datetime(2026, 5, 1, tzinfo=UTC), limits={"rate": None})
    service = app.state.service
    from creditdesk.models import Plan
    from creditdesk.server.tokens import OPERATOR as ACTOR
    service.run_sync(ACTOR, "add_plan", plan=Plan(**{**_team(), "id": "solo"}))
    service.run_sync(ACTOR, "add_user", user_id="zoe", name="Zoe", email="", plan="solo")
    first = service.engine.session("zoe").balance("personal:zoe")
    store.close()
    store = Store(path)
    later = create_app(store=store, operator_token=OPERATOR,
                       test_clock=datetime(2026, 5, 2, tzinfo=UTC), limits={"rate": None})
    again = later.state.service.engine.session("zoe").balance("personal:zoe")
    assert again.period_start == first.period_start == datetime(2026, 5, 1, tzinfo=UTC)
    store.close()


def _team() -> dict:
    return {"id": "team", "name": "Team", "base_credits_per_month": 1000, "rollover_cap": 500,
            "billing_period": "monthly", "price_cents": 4900}


def test_an_engine_built_outside_the_journal_cannot_be_given_with_a_store(world, tmp_path):
    store = Store(tmp_path / "x.sqlite3")
    try:
        with pytest.raises(ValueError, match="not both"):
            create_app(world.engine, store, operator_token=OPERATOR)
    finally:
        store.close()


def test_an_unexpected_error_after_a_change_stops_the_server_taking_requests(tmp_path):
    # Memory ahead of the journal must never answer again: a restart would not rebuild it.
    from creditdesk.server.service import BillingService
    from creditdesk.server.tokens import OPERATOR as SERVICE_OPERATOR

    store = Store(tmp_path / "books.db")
    service = BillingService(store=store)
    engine = service.engine

    def broken(**kwargs):
        engine.mutations += 1
        raise RuntimeError("a bug after a state change")

    service._op_break = broken
    with pytest.raises(RuntimeError):
        service.run_sync(SERVICE_OPERATOR, "break")
    with pytest.raises(StorageFailure):
        service.run_sync(SERVICE_OPERATOR, "break")
    store.close()
