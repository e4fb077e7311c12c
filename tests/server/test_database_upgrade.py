"""Upgrading a journal database (tests/fixtures/journal-v1.db, written by the journal
release with tests/fixtures/make_journal_fixture.py) by replaying it once into tables.

Every balance, ledger entry, invoice and stored first answer comes out as the journal's
own `ledger` and `idempotency` tables recorded, except at the places the upgrade prints,
and the fixture's differences are exactly the ones this release's rules explain."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from creditdesk.engine import BillingEngine, ManualClock
from creditdesk.server.database import sqlite_database
from creditdesk.server.runner import migrate, sql_app
from creditdesk.server.upgrade import ASIDE_SUFFIX, is_journal_database, upgrade

from .conftest import OPERATOR

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journal-v1.db"
# The one call whose outcome this release's rules change: a debit far below the
# auto-recharge threshold, for which the journal release bought 381 recharge amounts; one
# purchase now buys at most ten, so nothing is bought and the debit is refused.
EXPECTED = {("acme", 37, "record_usage")}


@pytest.fixture
def journal(tmp_path) -> Path:
    copy = tmp_path / "journal.db"
    shutil.copyfile(FIXTURE, copy)
    return copy


def run_upgrade(path: Path):
    lines: list[str] = []
    clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    report, engine, tokens = upgrade(path, BillingEngine(clock=clock), clock,
                                     say=lines.append)
    return report, engine, tokens, lines


def recorded_ledger(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT account_id, at, kind, actor, base, rollover, purchased, "
                          "balance_after, ref, idempotency_key, journal_seq FROM ledger "
                          "ORDER BY id").fetchall()


def test_the_fixture_is_a_journal_database_and_small():
    assert is_journal_database(FIXTURE)
    assert FIXTURE.stat().st_size < 2_000_000


def test_the_differences_are_exactly_the_ones_printed(journal):
    report, _, _, lines = run_upgrade(journal)
    found = {(d.account_id, d.seq, d.method) for d in report.differences}
    assert found == EXPECTED
    printed = [line for line in lines if " at journal #" in line]
    assert printed == [f"upgrade: {d}" for d in report.differences]
    (only,) = report.differences
    assert "recharge +0/+0/+152400" in only.before and "insufficient_credits" in only.after


def test_everything_else_comes_out_as_recorded(journal):
    report, engine, tokens, _ = run_upgrade(journal)
    # Not vacuous: the demo world's whole ledger and every stored answer were compared.
    assert report.calls == 46 and report.checked_entries > 500
    assert report.checked_answers >= 10
    rows = recorded_ledger(journal)
    diverged_at = {account: seq for account, seq, _ in EXPECTED}
    for account_id in {row[0] for row in rows}:
        recorded = [_renumbered(row) for row in rows if row[0] == account_id
                    and row[10] < diverged_at.get(account_id, 1 << 62)]
        entries = engine.ledger_entries(account_id)
        replayed = [(e.account_id, e.at.isoformat(), e.kind, e.actor, e.base, e.rollover,
                     e.purchased, e.balance_after, e.ref, e.idempotency_key)
                    for e in entries[:len(recorded)]]
        assert replayed == recorded, account_id
        if account_id not in diverged_at:
            # Same entries all the way: the same balance at the end.
            balance = engine.session(_owner(engine, account_id)).balance(account_id)
            assert balance.total == recorded[-1][7]
            engine.verify(account_id)
    assert [user for _, user, _ in tokens] == ["chidi"]


def _renumbered(row: tuple) -> tuple:
    """A recorded row as this release numbers it: invoices are numbered across accounts,
    and after journal #37 there is one invoice fewer (the recharge no longer bought)."""
    ref, seq = row[8], row[10]
    if seq > 37 and ref is not None and ref.startswith("in_"):
        ref = f"in_{int(ref[3:]) - 1:06d}"
    return (*row[:8], ref, row[9])


def _owner(engine, account_id: str) -> str:
    if account_id.startswith("personal:"):
        return account_id.split(":", 1)[1]
    return next(user.id for user in engine.users()
                if engine.session(user.id).whoami().contexts
                and any(c.account_id == account_id and c.role == "owner"
                        for c in engine.session(user.id).whoami().contexts))


def test_a_record_that_differs_is_reported_where_it_is(journal):
    # Tamper with one recorded debit: the upgrade must name that account and position.
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE ledger SET base = base - 1 WHERE idempotency_key = "
                   "'fixture-debit-0'")
        (seq,), = db.execute("SELECT journal_seq FROM ledger WHERE idempotency_key = "
                             "'fixture-debit-0'")
    report, *_ = run_upgrade(journal)
    found = {(d.account_id, d.seq, d.method) for d in report.differences}
    assert found == EXPECTED | {("acme", seq, "record_usage")}


def test_a_stored_first_answer_that_differs_is_reported(journal):
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE idempotency SET response = replace(response, '\"credits\":1000', "
                   "'\"credits\":1001') WHERE key = 'fixture-pack-1'")
    report, *_ = run_upgrade(journal)
    assert [(d.account_id, d.method) for d in report.differences
            if d.seq < 37] == [("acme", "purchase_credits")]


def recorded_answers(path: Path) -> list[tuple]:
    """(journal position, actor, arguments, first answer as sent) of every stored answer."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT j.seq, j.actor, j.args, i.response FROM idempotency i "
                          "JOIN journal j ON j.seq = i.journal_seq ORDER BY j.seq").fetchall()


def test_the_upgrade_keeps_the_journals_first_answers(journal):
    report, engine, _, lines = run_upgrade(journal)
    # Every answer it checked and found the same, up to the one that diverged (#37): from
    # there on, invoice numbers moved and this release's answers describe the books.
    kept = [seq for seq, *_ in recorded_answers(journal) if seq < 37]
    assert report.kept_answers == len(kept) == report.checked_answers
    assert lines[-1].endswith(f"{len(kept)} first answers kept as recorded")
    _, actor, args, sent = next(row for row in recorded_answers(journal)
                                if '"fixture-pack-1"' in row[2])
    again = engine.session(actor).purchase_credits(**json.loads(args))
    # The journal release sent no `paid_at`: read back, the answer has none either.
    assert again.model_dump_json(exclude={"paid_at"}) == sent and again.paid_at is None


async def test_a_replay_after_the_upgrade_sends_the_journals_bytes(journal):
    """The first answer exactly as first given, also across the upgrade: the journal
    release's answers (no `paid_at` on an invoice) go out as it sent them, byte for byte,
    not as this release would render the same invoice."""
    database = sqlite_database(journal)
    migrate(database, None, lambda line: None)      # upgrades the journal file in place
    answers = recorded_answers(journal.with_name(journal.name + ASIDE_SUFFIX))
    refused_now = {seq for _, seq, _ in EXPECTED}   # this release refuses that debit
    app, store = sql_app(database, OPERATOR, None, {"rate": None})
    replayed: dict[int, bytes] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        tokens: dict[str, str] = {}
        for seq, actor, args, _ in answers:
            if seq in refused_now:
                continue
            if actor not in tokens:
                issued = await client.post(f"/v1/admin/users/{actor}/tokens", json={},
                                           headers={"Authorization": f"Bearer {OPERATOR}"})
                tokens[actor] = issued.json()["token"]
            call = json.loads(args)
            path, body = _request_of(call)
            response = await client.post(path, json=body, headers={
                "Authorization": f"Bearer {tokens[actor]}",
                "Idempotency-Key": call["idempotency_key"]})
            assert response.status_code == 200, response.text
            replayed[seq] = response.content
    store.close()
    sent = {seq: response.encode() for seq, _, _, response in answers}
    before = [seq for seq in sent if seq < min(refused_now)]
    assert len(before) >= 10
    assert [replayed[seq] for seq in before] == [sent[seq] for seq in before]
    pack = next(seq for seq, _, args, _ in answers if '"fixture-pack-1"' in args)
    assert b'"paid_at"' not in replayed[pack]
    # After #37 invoices are numbered one lower: the answer names the invoice the books
    # hold (this release's answer, kept from the upgrade on).
    pat = next(seq for seq, _, args, _ in answers if '"fixture-pat-pack"' in args)
    assert (json.loads(sent[pat])["id"], json.loads(replayed[pat])["id"]) == \
        ("in_000015", "in_000014")


def _request_of(call: dict) -> tuple[str, dict]:
    account = call["account_id"]
    if "campaign" in call:
        return (f"/v1/accounts/{account}/usage",
                {"credits": call["credits"], "campaign": call["campaign"]})
    return f"/v1/accounts/{account}/purchases", {"credits": call["credits"]}
