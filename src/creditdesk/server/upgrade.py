"""Upgrading a database of the journal release: replay its journal once, into tables.

The journal release kept the exact list of state-changing calls (`journal`: instant, actor,
method, arguments) and, beside it, what each call wrote (`ledger`) and the first answer to
each idempotency key (`idempotency`). This release keeps the books in tables, so on first
start such a database is upgraded: every journaled call runs again, in order, at its own
instant, through this release's engine, writing the tables as it goes.

This release's rules are not the journal release's (a purchase no longer clears past due;
one auto-recharge buys at most ten amounts), so a replayed call can come out differently
from what was recorded. Each such place is reported, never hidden: the account, the journal
position, what the journal recorded (before) and what this release did (after). Once an
account has diverged, its later balances and answers follow from the new outcome, so only
the first difference in what a call *did* (the entries it wrote, or whether it was refused)
is reported per call; balances, invoice numbers and stored answers are compared for every
account that has not diverged.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..engine import BillingEngine, ManualClock
from ..errors import BillingError
from ..models import Plan
from ..store.ledger import ID

OPERATOR = "@operator"
# The journal release's operator calls (server/service.py `_op_*`), by name.
_IDEMPOTENT = ("record_usage", "purchase_credits")


@dataclass(frozen=True)
class JournalCall:
    seq: int
    at: datetime
    actor: str
    method: str
    args: dict


@dataclass(frozen=True)
class Difference:
    """One place where this release's rules gave another outcome than the journal's."""

    account_id: str
    seq: int
    method: str
    before: str
    after: str

    def __str__(self) -> str:
        return (f"{self.account_id} at journal #{self.seq} ({self.method}): recorded "
                f"{self.before}; this release: {self.after}")


@dataclass
class Report:
    calls: int = 0
    differences: list[Difference] = field(default_factory=list)
    checked_entries: int = 0
    checked_answers: int = 0


def is_journal_database(path: Path) -> bool:
    """A SQLite file written by the journal release (it has the `journal` table)."""
    if not path.is_file():
        return False
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                           "name='journal'").fetchone()
    finally:
        db.close()
    return found is not None


def _decode(value: Any) -> Any:
    # The journal release's encoding of arguments (server/service.py `_encode`).
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$plan" in value:
            return Plan.model_validate(value["$plan"])
    return value


class JournalFile:
    """Read access to a journal database: its calls and what it recorded for each."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def calls(self) -> Iterator[JournalCall]:
        rows = self.db.execute("SELECT seq, at, actor, method, args FROM journal ORDER BY seq")
        for seq, at, actor, method, args in rows:
            decoded = {name: _decode(value) for name, value in json.loads(args).items()}
            yield JournalCall(seq, datetime.fromisoformat(at), actor, method, decoded)

    def entries(self) -> dict[int, list[tuple]]:
        """journal position -> the ledger rows that call wrote, in id order."""
        found: dict[int, list[tuple]] = defaultdict(list)
        for row in self.db.execute(
                "SELECT journal_seq, account_id, at, kind, actor, base, rollover, purchased, "
                "balance_after, ref, idempotency_key FROM ledger ORDER BY id"):
            found[row[0]].append(row[1:])
        return found

    def answers(self) -> dict[int, tuple[str, str, str, str]]:
        """journal position -> (account, method, key, first answer JSON)."""
        return {seq: (account, method, key, response) for account, method, key, response, seq
                in self.db.execute("SELECT account_id, method, key, response, journal_seq "
                                   "FROM idempotency")}

    def tokens(self) -> list[tuple[str, str, str]]:
        return list(self.db.execute("SELECT hash, user_id, created_at FROM tokens"))

    def close(self) -> None:
        self.db.close()


def _entry(entry) -> tuple:
    return (entry.account_id, entry.at.isoformat(), entry.kind, entry.actor, entry.base,
            entry.rollover, entry.purchased, entry.balance_after, entry.ref,
            entry.idempotency_key)


def _what(rows: list[tuple]) -> str:
    """What a call did, in words: its entries' kinds and bucket moves."""
    if not rows:
        return "nothing written"
    return ", ".join(f"{kind} {base:+}/{rollover:+}/{purchased:+}"
                     for _, _, kind, _, base, rollover, purchased, *_ in rows)


def _did(rows: list[tuple]) -> list[tuple]:
    # The part of an entry that is the call's own outcome (not a consequence of history).
    return [(account, at, kind, actor, base, rollover, purchased, key)
            for account, at, kind, actor, base, rollover, purchased, _, _, key in rows]


def _same_answer(recorded: str, replayed: str) -> bool:
    """The same answer, allowing the fields this release added (absent before: they must
    be empty now, e.g. an invoice's `paid_at` for one paid at once)."""
    if recorded == replayed:
        return True
    try:
        old, new = json.loads(recorded), json.loads(replayed)
    except ValueError:
        return False
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False
    added = set(new) - set(old)
    return all(new[key] is None for key in added) and all(
        key in new and new[key] == value for key, value in old.items())


class Replay:
    """Runs a journal through an engine; `adopt` turns a built demo world into the engine
    the replay continues on (the world itself for the memory store, a copy in a database)."""

    def __init__(self, engine: BillingEngine, clock: ManualClock,
                 adopt: Callable[[Any], BillingEngine] | None = None) -> None:
        self.engine, self.clock = engine, clock
        self.adopt = adopt or (lambda world: world.engine)

    def run(self, journal: JournalFile, say: Callable[[str], None] = print) -> Report:
        report = Report()
        recorded, answers = journal.entries(), journal.answers()
        diverged: set[str] = set()
        numbering_diverged = False       # invoice numbers are shared by every account
        for call in journal.calls():
            report.calls += 1
            first = self.engine.next_entry_id
            outcome = self._apply(call)
            written = [_entry(e) for e in self.engine.ledger_since(first, self._touched(call))]
            wanted = recorded.get(call.seq, [])
            accounts = sorted({row[0] for row in wanted + written})
            for account in accounts:
                before = [row for row in wanted if row[0] == account]
                after = [row for row in written if row[0] == account]
                if _did(before) != _did(after):
                    diverged.add(account)
                    numbering_diverged = True
                    difference = Difference(account, call.seq, call.method, _what(before),
                                            _what(after) if after or not isinstance(
                                                outcome, BillingError)
                                            else f"refused ({outcome.code})")
                    report.differences.append(difference)
                    say(f"upgrade: {difference}")
                elif account not in diverged:
                    self._same(call, account, before, after, numbering_diverged, report, say,
                               diverged)
            answer = answers.get(call.seq)
            if answer is not None and answer[0] not in diverged and not numbering_diverged:
                report.checked_answers += 1
                replayed = outcome.model_dump_json() if not isinstance(
                    outcome, BillingError) else f"refused ({outcome.code})"
                if not _same_answer(answer[3], replayed):
                    self._differ(report, say, diverged, answer[0], call,
                                 f"first answer {answer[3]}", f"answer {replayed}")
        return report

    def _same(self, call, account, before, after, numbering_diverged, report, say,
              diverged) -> None:
        """Same outcome: the balances after each entry (and, while invoice numbering is in
        step, the invoice refs) must match too."""
        report.checked_entries += len(before)
        for old, new in zip(before, after):
            balance_differs = old[7] != new[7]
            ref_differs = old[8] != new[8] and not numbering_diverged
            if balance_differs or ref_differs:
                self._differ(report, say, diverged, account, call,
                             f"balance {old[7]} ref {old[8]}",
                             f"balance {new[7]} ref {new[8]}")
                return

    @staticmethod
    def _differ(report, say, diverged, account, call, before, after) -> None:
        diverged.add(account)
        difference = Difference(account, call.seq, call.method, before, after)
        report.differences.append(difference)
        say(f"upgrade: {difference}")

    # --- running one journaled call -------------------------------------------------------

    def _apply(self, call: JournalCall) -> Any:
        if call.at > self.clock():
            self.clock.set(call.at)
        try:
            if call.actor == OPERATOR:
                return getattr(self, f"_op_{call.method}")(**call.args)
            return getattr(self.engine.session(call.actor), call.method)(**call.args)
        except BillingError as error:
            return error             # it may have been refused the first time too

    @staticmethod
    def _touched(call: JournalCall) -> list[str]:
        if call.method == "add_user":
            return [f"personal:{call.args['user_id']}"]
        if call.method == "create_org":
            return [call.args["org_id"]]
        return [call.args["account_id"]] if "account_id" in call.args else []

    def _op_add_plan(self, plan: Plan):
        return self.engine.add_plan(plan)

    def _op_add_user(self, user_id: str, name: str, email: str, plan: str):
        return self.engine.add_user(user_id, name=name, email=email, plan=plan)

    def _op_create_org(self, org_id: str, name: str, owner: str, plan: str):
        return self.engine.create_org(org_id, name=name, owner=owner, plan=plan)

    def _op_add_member(self, org_id: str, user_id: str, role: str):
        return self.engine.add_member(org_id, user_id, role=role)

    def _op_decline(self, account_id: str, decline: bool) -> None:
        self.engine.payments.decline(account_id, decline)

    def _op_set_clock(self, now: datetime) -> datetime:
        # The journal recorded the test clock's moves; the next call's instant follows it.
        return now

    def _op_load_demo(self, now: datetime, seed: int, members: int, months: int):
        from ..demo import build_demo
        world = build_demo(now=now, seed=seed, members=members, months=months)
        self.engine = self.adopt(world)
        self.clock = world.clock if self.engine is world.engine else self.clock
        return world


# --- a world built in memory, written into a database --------------------------------------

BATCH = 500     # users per transaction; each account is a transaction of its own


def copy_into(source: BillingEngine, target) -> None:
    """Write every plan, user and account of `source` (a MemoryStore engine, e.g. the demo
    world) into the empty SqlStore `target`, in many short transactions: no lock is held
    for the whole load, so a running server keeps answering. Ledger rows carry interned
    names, so `target` takes the source's name table; build the target's engine after."""
    store = source.store
    target.names = store.names
    with target.catalogue():
        for plan in store.plans():
            target.insert_plan(plan)
    users = store.users()
    for first in range(0, len(users), BATCH):
        with target.catalogue():
            for user in users[first:first + BATCH]:
                target.insert_user(user)
    last_entry = last_invoice = 0
    for account_id in store.account_ids():
        with store.read(account_id) as account:
            if len(account.ledger):
                last_entry = max(last_entry, account.ledger.get(len(account.ledger) - 1, ID))
            for invoice in account.invoices:
                last_invoice = max(last_invoice, int(invoice.id.rsplit("_", 1)[1]))
            with target.catalogue():
                target.insert_account(account)
    _advance(target, "entries", last_entry)
    _advance(target, "invoices", last_invoice)


def _advance(target, name: str, value: int) -> None:
    """Set a counter so the next id after the copied ones is value + 1."""
    import sqlalchemy as sa

    from ..store.schema import counters
    if value <= 0:
        return
    with target.engine.begin() as conn:
        if target.dialect == "postgresql":
            conn.execute(sa.text(f"SELECT setval('{name}_ids', :value)"), {"value": value})
            return
        conn.execute(counters.delete().where(counters.c.name == name))
        conn.execute(counters.insert().values(name=name, value=value))


def upgrade(path: Path, engine: BillingEngine, clock: ManualClock,
            adopt: Callable[[Any], BillingEngine] | None = None,
            say: Callable[[str], None] = print) -> tuple[Report, BillingEngine, list]:
    """Replay the journal database at `path` into `engine` (driven by `clock`).

    Returns the report, the engine the books ended in (a demo load replaces it) and the
    journal's API tokens (hash, user, created) for the caller's token table."""
    journal = JournalFile(path)
    try:
        replay = Replay(engine, clock, adopt)
        report = replay.run(journal, say)
        tokens = journal.tokens()
    finally:
        journal.close()
    say(f"upgrade: replayed {report.calls} journaled calls, {len(report.differences)} "
        f"differences from the journal's records")
    return report, replay.engine, tokens
