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
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..engine import BillingEngine, BillingSession, ManualClock
from ..errors import BillingError
from ..models import Plan
from .service import OPERATOR_COMMANDS, Operator
from .tokens import OPERATOR

# Where the journal release's file is kept once upgraded (beside it, same folder).
ASIDE_SUFFIX = ".journal-v1"


class UpgradeError(Exception):
    """The journal database cannot be upgraded; the message is one sentence for people."""


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
    kept_answers: int = 0       # first answers kept as the journal recorded them


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
    """The same answer in every field the journal release had; a field this release added
    (e.g. an invoice's `paid_at`) was never recorded, so there is nothing to compare."""
    if recorded == replayed:
        return True
    try:
        old, new = json.loads(recorded), json.loads(replayed)
    except ValueError:
        return False
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False
    return all(key in new and new[key] == value for key, value in old.items())


class Replay:
    """Runs a journal through an engine, set-up included (the operator's commands of
    server/service.py, the very ones the HTTP admin paths run)."""

    def __init__(self, engine: BillingEngine, clock: ManualClock) -> None:
        self.clock = clock
        self.operator = Operator(engine, clock)

    @property
    def engine(self) -> BillingEngine:
        return self.operator.engine     # loading the demo in memory replaces it

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
                else:
                    self._keep_answer(answer[0], answer[2], answer[3])
                    report.kept_answers += 1
        return report

    def _keep_answer(self, account_id: str, key: str, recorded: str) -> None:
        """A replay of `key` sends what the journal release first sent, byte for byte (not
        this release's rendering of it, with fields that release never sent). Where the
        outcome differed, this release's answer stays: it describes the books as they are."""
        with self.engine.store.write(account_id) as account:
            account.answers[key] = recorded

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
                if call.method == "set_clock":
                    # The journal recorded the test clock's moves; the next call's own
                    # instant follows them, and the replay's clock is already there.
                    return call.args["now"]
                return OPERATOR_COMMANDS[call.method](self.operator, **call.args)
            method = getattr(BillingSession, call.method)
            return method(self.engine.session(call.actor), **call.args)
        except BillingError as error:
            return error             # it may have been refused the first time too

    @staticmethod
    def _touched(call: JournalCall) -> list[str]:
        if call.method == "add_user":
            return [f"personal:{call.args['user_id']}"]
        if call.method == "create_org":
            return [call.args["org_id"]]
        return [call.args["account_id"]] if "account_id" in call.args else []


def upgrade(path: Path, engine: BillingEngine, clock: ManualClock,
            say: Callable[[str], None] = print) -> tuple[Report, BillingEngine, list]:
    """Replay the journal database at `path` into `engine` (driven by `clock`).

    Returns the report, the engine the books ended in (a demo load in memory replaces it)
    and the journal's API tokens (hash, user, created) for the caller's token table."""
    journal = JournalFile(path)
    try:
        replay = Replay(engine, clock)
        report = replay.run(journal, say)
        tokens = journal.tokens()
    finally:
        journal.close()
    say(f"upgrade: replayed {report.calls} journaled calls, {len(report.differences)} "
        f"differences from the journal's records, {report.kept_answers} first answers "
        f"kept as recorded")
    return report, replay.engine, tokens


# --- on first start: a journal file becomes a file of tables --------------------------------


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def upgrade_in_place(path: Path, say: Callable[[str], None] = print) -> bool:
    """If `path` is a journal database, replace it by this release's books (the journal
    replayed once) and keep the old file as `<name>.journal-v1`; True if it did.

    The journal's tables `ledger` and `idempotency` have other columns than this release's
    tables of the same names, so the books go to a fresh file. The order (build the new
    file beside, move the old one aside, move the new one in) means a crash at any point
    leaves either the journal at `path` or both files, which the next start finishes."""
    aside, building = _beside(path, ASIDE_SUFFIX), _beside(path, ".upgrading")
    if not path.exists() and aside.exists() and building.exists():
        os.replace(building, path)          # the last step of an interrupted upgrade
        return True
    if not is_journal_database(path):
        return False
    if aside.exists():
        raise UpgradeError(f"{path} is a journal database to upgrade, but {aside} (where "
                           f"the old file is kept) exists already; move one of them away")
    _checkpoint(path)
    for stale in (building, _beside(building, "-wal"), _beside(building, "-shm")):
        stale.unlink(missing_ok=True)
    say(f"upgrade: {path} is a database of the journal release; replaying it once")
    _build(path, building, say)
    for suffix in ("", "-wal", "-shm"):
        if _beside(path, suffix).exists():
            os.replace(_beside(path, suffix), _beside(aside, suffix))
    os.replace(building, path)
    say(f"upgrade: done; the journal release's file is kept as {aside}")
    return True


def _checkpoint(path: Path) -> None:
    """Fold the journal's -wal file into it, so the file moved aside is whole by itself."""
    try:
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")     # no -wal/-shm left beside it
        finally:
            db.close()
    except sqlite3.Error as error:
        raise UpgradeError(f"cannot read the journal database {path}: {error}") from None


def _build(journal_path: Path, target: Path, say: Callable[[str], None]) -> None:
    """Replay in memory (fast: no transaction per call), then write the books into
    `target` in short batches, with the journal's tokens, declines and clock."""
    from ..engine import TestPaymentGateway
    from ..store import SqlStore
    from ..store.bulk import load_books
    first = _first_instant(journal_path)
    clock = ManualClock(first)
    _, engine, tokens = upgrade(journal_path, BillingEngine(
        clock=clock, payments=TestPaymentGateway()), clock, say)
    store = SqlStore(f"sqlite:///{target.absolute()}")
    try:
        store.migrate()
        load_books(engine.store, store)
        for account_id in engine.account_ids():
            if engine.payments.is_declining(account_id):
                store.gateway_set_declining(account_id, True)
        for digest, user_id, _created in tokens:
            store.save_token(digest, user_id)
        store.save_clock(clock())     # where a --test-clock server stood when it stopped
    finally:
        store.close()


def _first_instant(path: Path) -> datetime:
    # A ManualClock never goes back: start it at the journal's first call.
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT at FROM journal ORDER BY seq LIMIT 1").fetchone()
    finally:
        db.close()
    return datetime.fromisoformat(row[0]) if row else datetime(2000, 1, 1, tzinfo=UTC)
