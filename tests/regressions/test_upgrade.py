"""An upgrade from the journal equals the same history written directly.

The history runs once through this release's engine on one database, and is written down
as the journal release wrote it (its `journal`, `ledger`, `idempotency` and `tokens`
tables, arguments encoded as it encoded them). `server.upgrade.upgrade` then replays that
journal into a second, empty database: both must hold the same books, and the upgrade must
report no difference from what the journal recorded."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from creditdesk.engine import BillingEngine, ManualClock
from creditdesk.errors import BillingError
from creditdesk.models import Plan
from creditdesk.server.service import OPERATOR_COMMANDS, Operator
from creditdesk.server.tokens import OPERATOR
from creditdesk.server.upgrade import upgrade

START = datetime(2026, 1, 30, 23, 0, tzinfo=UTC)
TEAM = Plan(id="team", name="Team", base_credits_per_month=1_000, rollover_cap=500,
            billing_period="monthly", price_cents=4_900)
TABLES = (("CREATE TABLE journal (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, "
           "method TEXT, args TEXT)"),
          ("CREATE TABLE ledger (account_id TEXT, id INTEGER, at TEXT, kind TEXT, "
           "actor TEXT, base INTEGER, rollover INTEGER, purchased INTEGER, "
           "balance_after INTEGER, ref TEXT, idempotency_key TEXT, journal_seq INTEGER)"),
          ("CREATE TABLE idempotency (account_id TEXT, method TEXT, key TEXT, "
           "response TEXT, journal_seq INTEGER)"),
          "CREATE TABLE tokens (hash TEXT, user_id TEXT, created_at TEXT)")


def history(at: datetime):
    """(instant, actor, method, arguments): set-up, debits, a replayed key, purchases, a
    refusal, auto-recharge, a limit, and two period closes on the way."""
    yield at, OPERATOR, "add_plan", {"plan": TEAM}
    for user in ("ann", "bob"):
        yield at, OPERATOR, "add_user", {"user_id": user, "name": user.title(),
                                         "email": f"{user}@example.com", "plan": "team"}
    yield at, OPERATOR, "create_org", {"org_id": "acme", "name": "Acme", "owner": "ann",
                                       "plan": "team"}
    yield at, OPERATOR, "add_member", {"org_id": "acme", "user_id": "bob", "role": "member"}
    for n in range(6):
        at += timedelta(hours=5)
        yield at, "bob", "record_usage", {"account_id": "acme", "credits": 150 + n,
                                          "campaign": f"c{n % 2}",
                                          "idempotency_key": f"d{n % 5}"}
    yield at, "ann", "purchase_credits", {"account_id": "acme", "credits": 400,
                                          "idempotency_key": "p1"}
    yield at, "ann", "configure_auto_recharge", {"account_id": "acme", "enabled": True,
                                                 "threshold": 300, "amount": 200,
                                                 "monthly_cap_cents": 400}
    yield at, "ann", "set_member_limit", {"account_id": "acme", "user_id": "bob",
                                          "limit": 2_500}
    for n in range(8):
        at += timedelta(days=5)
        yield at, "bob", "record_usage", {"account_id": "acme", "credits": 320,
                                          "campaign": "late", "idempotency_key": f"l{n}"}


def encode(value):
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Plan):
        return {"$plan": value.model_dump()}
    return value


def written_directly(engine: BillingEngine, clock: ManualClock, journal_path) -> None:
    """Run the history on `engine` and write it down as the journal release did."""
    operator = Operator(engine, clock)
    db = sqlite3.connect(journal_path)
    for statement in TABLES:
        db.execute(statement)
    for seq, (at, actor, method, args) in enumerate(history(START), start=1):
        clock.set(at)
        first = engine.next_entry_id
        try:
            if actor == OPERATOR:
                outcome = OPERATOR_COMMANDS[method](operator, **args)
            else:
                outcome = getattr(engine.session(actor), method)(**args)
        except BillingError as error:
            outcome = error
        db.execute("INSERT INTO journal VALUES (?, ?, ?, ?, ?)", (
            seq, at.isoformat(), actor, method,
            json.dumps({name: encode(value) for name, value in args.items()})))
        new = engine.ledger_since(first)
        db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (e.account_id, e.id, e.at.isoformat(), e.kind, e.actor, e.base, e.rollover,
             e.purchased, e.balance_after, e.ref, e.idempotency_key, seq) for e in new])
        if method in ("record_usage", "purchase_credits") and new and \
                not isinstance(outcome, BillingError):
            db.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)", (
                args["account_id"], method, args["idempotency_key"],
                outcome.model_dump_json(), seq))
    db.commit()
    db.close()


def books(engine: BillingEngine) -> dict:
    found = {}
    for account in engine.account_ids():
        owner = "ann" if account in ("acme", "personal:ann") else "bob"
        session = engine.session(owner)
        found[account] = (
            [(e.at, e.kind, e.actor, e.base, e.rollover, e.purchased, e.balance_after,
              e.idempotency_key) for e in engine.ledger_entries(account)],
            session.balance(account).model_dump(),
            [(i.number, i.kind, i.credits, i.amount_cents, i.status)
             for i in session.invoices(account)],
            session.auto_recharge(account).model_dump())
    return found


def test_an_upgraded_journal_equals_the_history_written_directly(store_factory, tmp_path):
    """OpenMeter #4846 / Autumn #2022 style migration drift (a migrated history billed
    other than the live one): same ledger, balances, invoices and settings, no difference
    reported."""
    clock = ManualClock(START)
    direct = BillingEngine(clock=clock, store=store_factory())
    journal = tmp_path / "journal.db"
    written_directly(direct, clock, journal)

    replay_clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    lines: list[str] = []
    report, upgraded, _ = upgrade(journal, BillingEngine(clock=replay_clock,
                                                         store=store_factory()),
                                  replay_clock, say=lines.append)
    assert report.differences == [], lines
    assert report.calls == len(list(history(START)))
    replay_clock.set(clock())
    assert books(upgraded) == books(direct)
    assert sum(len(v[0]) for v in books(direct).values()) > 20


def test_an_upgraded_journal_replays_the_answers_it_recorded(store_factory, tmp_path):
    """The journal's first answers are what a replay sends after the upgrade, byte for
    byte, even where this release would render the same call otherwise: here the
    purchase's answer as the journal release sent it, without `paid_at`."""
    clock = ManualClock(START)
    journal = tmp_path / "journal.db"
    written_directly(BillingEngine(clock=clock, store=store_factory()), clock, journal)
    db = sqlite3.connect(journal)
    (answer,), = db.execute("SELECT response FROM idempotency WHERE key = 'p1'")
    older = json.loads(answer)
    del older["paid_at"]
    older = json.dumps(older, separators=(",", ":"), ensure_ascii=False)
    db.execute("UPDATE idempotency SET response = ? WHERE key = 'p1'", (older,))
    recorded = dict(db.execute("SELECT key, response FROM idempotency"))
    db.commit()
    db.close()

    replay_clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    report, upgraded, _ = upgrade(journal, BillingEngine(clock=replay_clock,
                                                         store=store_factory()),
                                  replay_clock, say=lambda line: None)
    assert report.differences == [] and report.kept_answers == len(recorded)
    calls: dict[str, tuple] = {}
    for _, actor, method, args in history(START):
        if "idempotency_key" in args:       # the first call with each key made the answer
            calls.setdefault(args["idempotency_key"], (actor, method, args))
    for key, sent in recorded.items():
        actor, method, args = calls[key]
        session = upgraded.session(actor)
        session.answers_as_stored = True        # as the HTTP API asks for answers
        assert getattr(session, method)(**args) == sent, key
    bought = upgraded.session("ann").purchase_credits("acme", 400, idempotency_key="p1")
    assert bought.paid_at is None and bought.model_dump_json(exclude={"paid_at"}) == older
