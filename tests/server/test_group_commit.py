"""Group commit on SQLite: the debits that reach a worker's event loop at one moment share
one transaction and one COMMIT, each in a savepoint of its own, so that each keeps its own
outcome (a refusal or a failure of one leaves the others as they were), nobody hears an
answer before the COMMIT that holds it, and a group that cannot be applied leaves nothing
behind: each of its debits then goes again on its own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import httpx
import pytest

from creditdesk.engine import BillingSession as S
from creditdesk.errors import IdempotencyConflict, InsufficientCredits, InvalidRequest
from creditdesk.server.database import sqlite_database
from creditdesk.server.group_commit import GROUP_MOST, DebitGroups
from creditdesk.server.runner import migrate, sql_app
from creditdesk.server.service import model_json

from .conftest import OPERATOR
from .test_debit_on_the_loop import ran_on
from .test_operator_api import set_up


@pytest.fixture
def books(tmp_path):
    """(the app, its store), with TEAM (1,000 base credits), ann owning acme."""
    database = sqlite_database(tmp_path / "books.sqlite3")
    migrate(database, None, lambda line: None)
    app, store = sql_app(database, OPERATOR, None, {"rate": None})

    async def prepare() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as client:
            return await set_up(client)
    app.state.ann_token = asyncio.run(prepare())
    yield app, store
    store.close()


def commits(store) -> list[int]:
    """A list that grows by one at each COMMIT of the store's engine, from now on."""
    from sqlalchemy import event
    seen: list[int] = []
    event.listen(store.engine, "commit", lambda conn: seen.append(1))
    return seen


def debit(credits: int, key: str) -> tuple:
    return (S.record_usage, {"account_id": "acme", "credits": credits, "campaign": "c",
                             "idempotency_key": key})


async def at_once(service, calls) -> list:
    """Each call's answer or the exception it raised, all started in one turn of the loop."""
    return await asyncio.gather(*(service.run("ann", command, **kwargs)
                                  for command, kwargs in calls), return_exceptions=True)


def total(service) -> int:
    return service.run_sync("ann", S.balance, account_id="acme").total


def usage_entries(service) -> list:
    entries = service.run_sync("ann", S.ledger, account_id="acme", limit=1000)
    return [entry for entry in entries if entry.kind == "usage"]


def test_debits_that_arrive_together_share_one_commit(books):
    app, store = books
    service = app.state.service
    seen = commits(store)
    answers = asyncio.run(at_once(service, [debit(10, f"k{n}") for n in range(12)]))
    assert len(seen) == 1                      # one COMMIT for twelve debits
    assert [a.credits for a in answers] == [10] * 12
    assert total(service) == 1000 - 120
    assert sorted(e.idempotency_key for e in usage_entries(service)) == sorted(
        f"k{n}" for n in range(12))


def test_each_debit_of_a_group_keeps_its_own_outcome(books):
    app, store = books
    service = app.state.service
    seen = commits(store)
    answers = asyncio.run(at_once(service, [
        debit(300, "a"),
        debit(5_000, "too-much"),          # more than the balance: refused, writes nothing
        debit(200, "b"),
        debit(301, "a"),                   # the key of another debit: a conflict
        debit(0, "zero"),                  # bad input
        debit(300, "a"),                   # a replay: the first answer, applied once
    ]))
    assert len(seen) == 1
    first, too_much, second, conflict, zero, replay = answers
    assert (first.credits, second.credits) == (300, 200)
    assert isinstance(too_much, InsufficientCredits)
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(zero, InvalidRequest)
    assert model_json(replay) == model_json(first)   # the first answer's very bytes
    assert total(service) == 1000 - 500
    assert sorted(e.idempotency_key for e in usage_entries(service)) == ["a", "b"]


def test_a_replay_in_a_later_group_sends_the_first_answers_bytes(books):
    app, _store = books
    auth = {"Authorization": f"Bearer {app.state.ann_token}"}

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as client:
            async def post(key: str) -> httpx.Response:
                return await client.post("/v1/accounts/acme/usage", json={
                    "credits": 7, "campaign": "c"}, headers={**auth, "Idempotency-Key": key})
            first = await asyncio.gather(*(post(f"h{n}") for n in range(6)))
            again = await asyncio.gather(*(post(f"h{n}") for n in range(6)))
            return [*first, *again]
    answers = asyncio.run(go())
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert [a.content for a in answers[:6]] == [a.content for a in answers[6:]]
    assert total(app.state.service) == 1000 - 42


class FailingCommit:
    """The dialect's COMMIT fails `times` times with a driver error, as a full disk would."""

    def __init__(self, store, times: int = 1) -> None:
        self.dialect = store.engine.dialect
        self.real = self.dialect.do_commit
        self.left = times
        self.dialect.do_commit = self

    def __call__(self, dbapi_connection) -> None:
        if self.left > 0:
            self.left -= 1
            raise sqlite3.OperationalError("database or disk is full")
        self.real(dbapi_connection)


def test_a_group_whose_commit_fails_applies_nothing_and_each_goes_again(books):
    app, store = books
    service = app.state.service
    FailingCommit(store)
    threads = ran_on(service)
    answers = asyncio.run(at_once(service, [debit(10, f"k{n}") for n in range(5)]))
    assert [a.credits for a in answers] == [10] * 5, answers
    # Run once together on the loop (not committed), then each alone on the writer's thread.
    assert threads[:5] == [threading.main_thread().name] * 5
    assert len(threads) == 10 and all(t.startswith("creditdesk-writer") for t in threads[5:])
    assert total(service) == 1000 - 50                       # each applied once
    assert len(usage_entries(service)) == 5


def test_a_storage_failure_inside_a_group_undoes_the_whole_group(books):
    app, store = books
    service = app.state.service
    failed: list[str] = []

    def fail_the_third_ledger_row(dbapi_connection, sql, parameters, many) -> None:
        if sql.lstrip().startswith("INSERT INTO ledger "):
            failed.append(sql)
            if len(failed) == 3:
                raise sqlite3.OperationalError("disk I/O error")
    stop = store.driver.watch(fail_the_third_ledger_row)
    try:
        answers = asyncio.run(at_once(service, [debit(10, f"k{n}") for n in range(5)]))
    finally:
        stop()
    assert len(failed) >= 3
    # The first two were not committed with the group: each went again, alone, once.
    assert [a.credits for a in answers] == [10] * 5, answers
    assert total(service) == 1000 - 50
    assert sorted(e.idempotency_key for e in usage_entries(service)) == [
        f"k{n}" for n in range(5)]


def test_a_caller_gone_before_its_group_runs_is_not_applied(books):
    app, _store = books
    service = app.state.service

    async def go() -> list:
        tasks = [asyncio.create_task(service.run("ann", command, **kwargs))
                 for command, kwargs in [debit(10, f"k{n}") for n in range(3)]]
        await asyncio.sleep(0)           # each is waiting for its group now
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)
    answers = asyncio.run(go())
    assert isinstance(answers[1], asyncio.CancelledError)
    assert total(service) == 1000 - 20
    assert sorted(e.idempotency_key for e in usage_entries(service)) == ["k0", "k2"]


def test_groups_hold_at_most_group_most_calls():
    sizes: list[int] = []

    def run_together(calls):
        sizes.append(len(calls))
        return [(True, kwargs["n"]) for _actor, _command, kwargs in calls]
    groups = DebitGroups(run_together)

    async def go():
        return await asyncio.gather(*(groups.run("ann", print, {"n": n})
                                      for n in range(GROUP_MOST + 8)))
    outcomes = asyncio.run(go())
    assert sizes == [GROUP_MOST, 8]
    assert outcomes == [(True, n) for n in range(GROUP_MOST + 8)]


def test_a_group_that_breaks_tells_every_caller():
    def run_together(calls):
        raise RuntimeError("a bug")
    groups = DebitGroups(run_together)

    async def go():
        return await asyncio.wait_for(asyncio.gather(
            *(groups.run("ann", print, {}) for _ in range(3)), return_exceptions=True), 5)
    outcomes = asyncio.run(go())
    assert [type(o) for o in outcomes] == [RuntimeError] * 3


def books_after(tmp_path, name: str, together: bool) -> dict:
    """The books after one busy org's mixed debits, run in one group or one at a time:
    ann and bob (admin, a limit of 900) debit acme, whose auto-recharge buys 1,000 credits
    below 300 (capped at three recharges), with refusals, conflicts and replays between."""
    from datetime import UTC, datetime

    from creditdesk.engine import BillingSession as S
    folder = tmp_path / name
    folder.mkdir()
    start = datetime(2026, 12, 3, 12, tzinfo=UTC)
    database = sqlite_database(folder / "books.sqlite3")
    migrate(database, start, lambda line: None)
    app, store = sql_app(database, OPERATOR, start, {"rate": None})
    try:
        async def prepare() -> None:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://api") as client:
                await set_up(client)
        asyncio.run(prepare())
        service = app.state.service
        service.run_sync("ann", S.configure_auto_recharge, account_id="acme", enabled=True,
                         threshold=300, amount=1000, monthly_cap_cents=1500)
        service.run_sync("ann", S.set_member_limit, account_id="acme", user_id="bob",
                         limit=900)
        calls = []
        for n in range(40):
            who = "bob" if n % 3 == 0 else "ann"
            credits = (97 * n) % 260 + 1
            key = f"k{n // 2}" if n % 7 == 6 else f"k{n}"   # a replay or a conflict now and then
            calls.append((who, S.record_usage, {"account_id": "acme", "credits": credits,
                                                "campaign": f"c{n % 4}",
                                                "idempotency_key": key}))
        if together:
            outcomes = service.run_together(calls)
        else:
            outcomes = []
            for actor, command, kwargs in calls:
                try:
                    outcomes.append((True, service.execute(actor, command, kwargs)))
                except Exception as error:  # noqa: BLE001 - compared below
                    outcomes.append((False, error))
        read = service.run_sync
        return {
            "answers": [model_json(value) if done else (type(value).__name__, str(value))
                        for done, value in outcomes],
            "balance": model_json(read("ann", S.balance, account_id="acme")),
            "ledger": model_json(read("ann", S.ledger, account_id="acme", limit=1000)),
            "members": model_json(read("ann", S.members, account_id="acme")),
            "invoices": model_json(read("ann", S.invoices, account_id="acme")),
            "history": model_json(read("ann", S.usage_history, account_id="acme",
                                       start=start, end=datetime(2026, 12, 4, tzinfo=UTC),
                                       granularity="day", group_by="member", top=None)),
        }
    finally:
        store.close()


def test_a_group_leaves_the_books_exactly_as_one_debit_at_a_time_would(tmp_path):
    together = books_after(tmp_path, "together", together=True)
    alone = books_after(tmp_path, "alone", together=False)
    kinds = {answer[0] for answer in together["answers"] if isinstance(answer, tuple)}
    # The mix did meet the cases it is for: refusals and recharges within one group.
    assert kinds == {"MemberLimitReached", "IdempotencyConflict", "InsufficientCredits"}
    assert together["ledger"].count(b'"kind":"recharge"') == 3     # the cap's three
    for part in together:
        assert together[part] == alone[part], part
