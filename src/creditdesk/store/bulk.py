"""Bulk import: books built in memory (the demo world, a replayed journal) into empty SQL books.

    from creditdesk.store.bulk import load_books
    counts = load_books(world.engine.store, sql_store)    # a MemoryStore into a SqlStore

Going through the engine's write path would cost one statement per ledger row and per
roll-up, and one long transaction would hold SQLite's only write lock (and PostgreSQL's
account locks) for the whole load, while other workers wait. So rows are written with
`executemany`, table by table, in short transactions of about `BATCH_ROWS` rows each; a
running server keeps answering between them. The target must be empty (no plans, users
or accounts): ids are copied as they are (ledger entry ids, invoice ids), and the counters
that hand out the next ones are then set past them, so the next debit continues after.

The rows are what the engine itself writes (store/sql_rows.py), including the usage
roll-ups per day and per month and the idempotency records with their first answers, so a
history query or a replay on the loaded books answers exactly as on the memory books.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from .first_answers import answer_json, rebuilt_answer
from .ledger import (
    ACTOR,
    AT,
    BASE,
    D_BASE,
    D_PURCHASED,
    D_ROLLOVER,
    DAY_US,
    ID,
    KIND,
    MEMBER_USED,
    PAUSED,
    PERIOD_USED,
    PURCHASED,
    REF,
    ROLLOVER,
    from_micros,
    to_micros,
)
from .schema import (
    accounts,
    alert_marks,
    alert_settings,
    alerts,
    counters,
    idempotency,
    invoice_keys,
    invoice_payments,
    invoices,
    ledger,
    memberships,
    plans,
    usage_day,
    usage_month,
    users,
)
from .sql_rows import account_values

BATCH_ROWS = 5_000      # rows per transaction: short enough that other writers barely wait


class NotEmpty(Exception):
    """The target already holds books: a bulk load would clash with their ids."""


@dataclass
class Loaded:
    """What a load wrote, for the caller's one-line summary."""

    plans: int = 0
    users: int = 0
    accounts: int = 0
    ledger_entries: int = 0
    invoices: int = 0
    alerts: int = 0


def load_books(source, target, *, batch_rows: int = BATCH_ROWS) -> Loaded:
    """Copy every plan, user and account of `source` (a MemoryStore) into the empty
    SqlStore `target`, in transactions of about `batch_rows` rows."""
    if target.account_ids() or target.plans() or target.users():
        raise NotEmpty("the books can only be loaded into an empty database")
    names = source.names.names
    loaded = Loaded()
    writer = _Writer(target, batch_rows)
    for n, plan in enumerate(source.plans(), start=1):
        writer.add(plans, dict(plan.model_dump(), n=n))
        loaded.plans += 1
    for n, user in enumerate(source.users(), start=1):
        writer.add(users, {"id": user.id, "n": n, "name": user.name, "email": user.email,
                           "personal_account_id": user.personal_account_id})
        loaded.users += 1
    last_entry = last_invoice = last_alert = membership_n = 0
    for n, account_id in enumerate(source.account_ids(), start=1):
        with source.read(account_id) as account:
            writer.add(accounts, dict(account_values(account), id=account.id, n=n))
            for member in account.members.values():
                membership_n += 1
                writer.add(memberships, {
                    "account_id": account.id, "user_id": member.user_id, "n": membership_n,
                    "role": member.role, "credit_limit": member.limit, "used": member.used})
            for row in _ledger_rows(account, names):
                last_entry = max(last_entry, row["id"])
                writer.add(ledger, row)
            for row in _invoice_rows(account):
                last_invoice = max(last_invoice, int(row["id"].rsplit("_", 1)[1]))
                writer.add(invoices, row)
            for key, seq in account.idempotency.items():
                writer.add(idempotency, {"account_id": account.id, "key": key, "seq": seq,
                                         "recharged": account.recharged.get(key, 0),
                                         "answer": _first_answer(account, key, names)})
            for table, row in _rollup_rows(account, names):
                writer.add(table, row)
            for table, row in _alert_rows(account):
                last_alert = max(last_alert, row["id"]) if table is alerts else last_alert
                writer.add(table, row)
            loaded.accounts += 1
            loaded.alerts += len(account.alerts)
            loaded.ledger_entries += len(account.ledger)
            loaded.invoices += len(account.invoices)
    writer.flush()
    _set_counters(target, {"entries": last_entry, "invoices": last_invoice,
                           "plans": loaded.plans, "users": loaded.users,
                           "accounts": loaded.accounts, "memberships": membership_n,
                           "alerts": last_alert})
    return loaded


class _Writer:
    """Rows queued per table, written with executemany once `batch_rows` are queued."""

    def __init__(self, target, batch_rows: int) -> None:
        self.target, self.batch_rows = target, batch_rows
        self.queued: dict[sa.Table, list[dict]] = {}
        self.count = 0

    def add(self, table: sa.Table, row: dict) -> None:
        self.queued.setdefault(table, []).append(row)
        self.count += 1
        if self.count >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.count:
            return
        # One short transaction; tables in dependency order (accounts before their rows).
        with self.target.engine.begin() as conn:
            for table in (plans, users, accounts, memberships, ledger, invoices,
                          invoice_keys, invoice_payments, idempotency, usage_day,
                          usage_month, alert_settings, alert_marks, alerts):
                rows = self.queued.get(table)
                if rows:
                    conn.execute(table.insert(), rows)
        self.queued, self.count = {}, 0


def _first_answer(account, key: str, names: list[str]) -> str:
    """The JSON a replay sends: one written into the memory books as given (a journal's
    recorded answer), else the one they rebuild, which is what the memory store's replay
    of that key answered (the SQL books keep it from now on)."""
    given = account.answers.get(key)
    return given if given is not None else answer_json(rebuilt_answer(account, key, names))


def _ledger_rows(account, names: list[str]) -> Iterator[dict]:
    rows = account.ledger
    for seq in range(len(rows)):
        row = rows.row(seq)
        yield {
            "id": row[ID], "account_id": account.id, "seq": seq, "at_us": row[AT],
            "kind": row[KIND], "actor": names[row[ACTOR]], "d_base": row[D_BASE],
            "d_rollover": row[D_ROLLOVER], "d_purchased": row[D_PURCHASED],
            "base": row[BASE], "rollover": row[ROLLOVER], "purchased": row[PURCHASED],
            "ref": None if row[REF] < 0 else names[row[REF]],
            "idempotency_key": rows.keys[seq], "member_used": row[MEMBER_USED],
            "period_used": row[PERIOD_USED],
            "pause_reason": None if row[PAUSED] < 0 else names[row[PAUSED]]}


def _invoice_rows(account) -> Iterator[dict]:
    for seq, invoice in enumerate(account.invoices):
        yield {"id": invoice.id, "account_id": account.id, "seq": seq,
               "number": invoice.number, "created_us": to_micros(invoice.created_at),
               "kind": invoice.kind, "credits": invoice.credits,
               "amount_cents": invoice.amount_cents, "status": invoice.status,
               "description": invoice.description, "payment_method": invoice.payment_method}


def _alert_rows(account) -> Iterator[tuple[sa.Table, dict]]:
    """The account's alert settings, marks and alerts, and its invoices' payment facts (a
    failed purchase's key, a later payment), as the SQL store's tables keep them. Loaded
    alerts get no outbox row: they were raised before any webhook of these books existed."""
    config = account.alerting
    if config.balance_below or config.member_usage_percent or config.armed:
        yield alert_settings, {
            "account_id": account.id,
            "balance_below": ",".join(map(str, config.balance_below)),
            "member_usage_percent": ",".join(map(str, config.member_usage_percent)),
            "armed": ",".join(map(str, sorted(config.armed)))}
    for (user_id, mark), period_index in config.marks.items():
        yield alert_marks, {"account_id": account.id, "user_id": user_id, "mark": mark,
                            "period_index": period_index}
    for alert_id, at_us, kind, user_id, threshold, balance_after, message in account.alerts.rows:
        yield alerts, {"id": alert_id, "account_id": account.id, "at": at_us, "kind": kind,
                       "user_id": user_id, "threshold": threshold,
                       "balance_after": balance_after, "message": message}
    paid_later = {invoice_id for invoice_id, _, _ in account.invoice_payments.values()}
    for invoice in account.invoices:
        # The SQL store keeps the key of an invoice that failed when issued (paid or not).
        if invoice.key is not None and (invoice.status == "failed" or invoice.id in paid_later):
            yield invoice_keys, {"invoice_id": invoice.id, "account_id": account.id,
                                 "idempotency_key": invoice.key}
    for key, (invoice_id, user_id, paid_us) in account.invoice_payments.items():
        yield invoice_payments, {"account_id": account.id, "key": key,
                                 "invoice_id": invoice_id, "user_id": user_id,
                                 "paid_us": paid_us}


def _rollup_rows(account, names: list[str]) -> Iterator[tuple[sa.Table, dict]]:
    """The day and month roll-ups, keyed as the SQL store keys them: dimension 0 the bucket
    (base/rollover/purchased), 1 the member, 2 the campaign."""
    months: dict[tuple[int, int, str], int] = {}
    for day_index, day in sorted(account.days.items()):     # the memory roll-ups: a dict
        keyed = [(0, "base", day.base), (0, "rollover", day.rollover),
                 (0, "purchased", day.purchased)]
        keyed += [(1, names[code], credits) for code, credits in day.by_member.items()]
        keyed += [(2, names[code], credits) for code, credits in day.by_campaign.items()]
        when = from_micros(day_index * DAY_US)
        month = when.year * 12 + when.month - 1
        for dim, key, credits in keyed:
            if credits:
                yield usage_day, {"account_id": account.id, "day": day_index, "dim": dim,
                                  "key": key, "credits": credits}
                months[(month, dim, key)] = months.get((month, dim, key), 0) + credits
    for (month, dim, key), credits in months.items():
        yield usage_month, {"account_id": account.id, "month": month, "dim": dim,
                            "key": key, "credits": credits}


def _set_counters(target, values: dict[str, int]) -> None:
    """Make each counter's next value follow the copied ids (sequences on PostgreSQL)."""
    with target.engine.begin() as conn:
        for name, value in values.items():
            if value <= 0:
                continue
            if target.dialect == "postgresql":
                conn.execute(sa.text(f"SELECT setval('{name}_ids', :value)"),
                             {"value": value})
                continue
            conn.execute(counters.delete().where(counters.c.name == name))
            conn.execute(counters.insert().values(name=name, value=value))
