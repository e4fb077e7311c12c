"""One report per command: ask the backend, then print a table, JSON or CSV.

JSON is the contract's models exactly as the HTTP API sends them (one document: a model as an
object, a list as an array). CSV has one row per object, with the dashboard's columns where
the dashboard has a table, then the model's remaining fields; times are ISO 8601 UTC to the
second and dollars plain (`499.00`), as in the dashboard's exports, and there is no
byte-order mark (that is for files Excel opens, not for a pipe).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TextIO

from pydantic import BaseModel

from ...models import Balance, Invoice, LedgerEntry, MemberUsage, UsageSeries
from ...money import format_cents, format_credits, format_credits_dollars
from .table import (
    Column,
    TableWriter,
    terminal_width,
    widths_for,
    write_pairs,
    write_table,
)

# The server's own bound on one ledger page (and the engine's).
MAX_LEDGER_PAGE = 1000


# --- shared formatting -----------------------------------------------------------------------

def csv_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_dollars(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def table_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def figure(credits: int | None) -> str:
    return "—" if credits is None else format_credits(credits, unit=False)


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return csv_time(value)
    return str(value)


def csv_writer(out: TextIO):
    # "\n", not csv's default "\r\n": the rows go to pipes, cut and awk more than to Excel.
    return csv.writer(out, lineterminator="\n")


def write_json(out: TextIO, value: BaseModel | list) -> None:
    if isinstance(value, list):
        out.write(json_array(value))
    else:
        out.write(value.model_dump_json(indent=2) + "\n")


def json_array(items: list[BaseModel]) -> str:
    if not items:
        return "[]\n"
    return "[\n" + ",\n".join(indent(item.model_dump_json(indent=2)) for item in items) + "\n]\n"


def indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


def fields_of(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


# --- balance ------------------------------------------------------------------------------

def print_balance(out: TextIO, balance: Balance, form: str) -> None:
    if form == "json":
        return write_json(out, balance)
    if form == "csv":
        writer = csv_writer(out)
        writer.writerow(fields_of(Balance))
        writer.writerow([csv_cell(getattr(balance, name)) for name in fields_of(Balance)])
        return
    autopilot = balance.autopilot + (f" ({balance.autopilot_reason})"
                                     if balance.autopilot_reason else "")
    write_pairs(out, [
        ("Account", balance.account_id),
        ("Balance", format_credits_dollars(balance.total)),
        ("  base", format_credits(balance.base)),
        ("  rollover", format_credits(balance.rollover)),
        ("  purchased", format_credits(balance.purchased)),
        ("Used this period", format_credits(balance.used_this_period)),
        # Both instants, to the minute: a period closes at its anchor's time of day, so
        # naming the day before its end as its last would leave out the hours of the end
        # day that still belong to it (period_end is exclusive, billing-rules.md).
        ("Period", f"{table_time(balance.period_start)} to "
                   f"{table_time(balance.period_end)} (UTC)"),
        ("Autopilot", autopilot),
    ])


# --- members ------------------------------------------------------------------------------

MEMBER_COLUMNS = (Column("Name", grow=True), Column("User", grow=True), Column("Role"),
                  Column("Used", right=True), Column("Limit", right=True),
                  Column("To limit", right=True), Column("Share", right=True))


def share(used: int, total: int) -> str:
    return "—" if total <= 0 else f"{Decimal(used * 100) / total:.1f}%"


def print_members(out: TextIO, members: list[MemberUsage], form: str) -> None:
    if form == "json":
        return write_json(out, members)
    if form == "csv":
        writer = csv_writer(out)
        writer.writerow(fields_of(MemberUsage))
        writer.writerows([csv_cell(getattr(m, name)) for name in fields_of(MemberUsage)]
                         for m in members)
        return
    total = sum(m.used_this_period for m in members)
    rows = [(m.name, m.user_id, m.role, figure(m.used_this_period), figure(m.limit),
             figure(None if m.limit is None else m.limit - m.used_this_period),
             share(m.used_this_period, total)) for m in members]
    write_table(out, MEMBER_COLUMNS, rows)


# --- invoices -----------------------------------------------------------------------------

INVOICE_COLUMNS = (Column("Number"), Column("Date"), Column("What for"),
                   Column("Credits", right=True), Column("Amount", right=True),
                   Column("Status"), Column("Description", grow=True))
KIND_WORDS = {"subscription": "Subscription", "purchase": "Credit purchase",
              "recharge": "Auto-recharge"}
# The dashboard's export columns, then the fields it leaves out.
INVOICE_CSV = ("number", "date", "kind", "credits", "amount_usd", "status", "description",
               "payment_method", "id", "paid_at")


def print_invoices(out: TextIO, invoices: list[Invoice], form: str) -> None:
    if form == "json":
        return write_json(out, invoices)
    if form == "csv":
        writer = csv_writer(out)
        writer.writerow(INVOICE_CSV)
        writer.writerows((i.number, csv_time(i.created_at), i.kind, i.credits,
                          csv_dollars(i.amount_cents), i.status, i.description,
                          i.payment_method, i.id, csv_cell(i.paid_at)) for i in invoices)
        return
    rows = [(i.number, f"{i.created_at.astimezone(UTC):%Y-%m-%d}", KIND_WORDS.get(i.kind, i.kind),
             "—" if i.kind == "subscription" else figure(i.credits), format_cents(i.amount_cents),
             "FAILED" if i.status == "failed" else "paid", i.description) for i in invoices]
    write_table(out, INVOICE_COLUMNS, rows)


# --- ledger -------------------------------------------------------------------------------

# Short titles: at 80 columns the figures take most of the line, and Who/Ref need the rest.
LEDGER_COLUMNS = (Column("ID", right=True), Column("Time (UTC)"), Column("Kind"),
                  Column("Who", grow=True), Column("Base", right=True),
                  Column("Rollover", right=True), Column("Bought", right=True),
                  Column("Balance", right=True), Column("Ref", grow=True))
# The dashboard's Activity export columns, then the field it leaves out.
LEDGER_CSV = ("id", "time_utc", "kind", "who", "user_id", "base", "rollover", "purchased",
              "balance_after", "invoice_id", "campaign", "idempotency_key", "account_id")
INVOICE_KINDS = {"purchase", "recharge"}


def signed(credits: int) -> str:
    return f"{credits:+,}" if credits else "0"


class LedgerPrinter:
    """Prints ledger pages as they come, so `--all` holds one page at a time."""

    def __init__(self, out: TextIO, form: str, names: dict[str, str]) -> None:
        self.out, self.form, self.names = out, form, names
        self.count = 0
        self.table = TableWriter(out, LEDGER_COLUMNS) if form == "table" else None
        self.csv = csv_writer(out) if form == "csv" else None
        if self.csv is not None:
            self.csv.writerow(LEDGER_CSV)

    def who(self, entry: LedgerEntry) -> str:
        return "system" if entry.actor == "system" else self.names.get(entry.actor, entry.actor)

    def page(self, entries: Sequence[LedgerEntry]) -> None:
        if not entries:
            return
        if self.form == "json":
            self.out.write(("[\n" if not self.count else ",\n")
                           + ",\n".join(indent(e.model_dump_json(indent=2)) for e in entries))
        elif self.csv is not None:
            self.csv.writerows(self.csv_row(e) for e in entries)
        else:
            self.table.rows([(str(e.id), table_time(e.at), e.kind, self.who(e), signed(e.base),
                              signed(e.rollover), signed(e.purchased), figure(e.balance_after),
                              e.ref or "") for e in entries])
        self.count += len(entries)

    def csv_row(self, e: LedgerEntry) -> tuple:
        invoice = e.ref if e.kind in INVOICE_KINDS else None
        campaign = e.ref if e.kind == "usage" else None
        return (e.id, csv_time(e.at), e.kind, self.who(e), e.actor, e.base, e.rollover,
                e.purchased, e.balance_after, csv_cell(invoice), csv_cell(campaign),
                csv_cell(e.idempotency_key), e.account_id)

    def finish(self) -> None:
        if self.form == "json":
            self.out.write("\n]\n" if self.count else "[]\n")
        elif self.form == "table" and not self.count:
            self.out.write("No ledger entries.\n")


# --- usage --------------------------------------------------------------------------------

SOURCE_TITLES = {"base": "Base", "rollover": "Rollover", "purchased": "Purchased"}


def period_label(start: datetime, granularity: str) -> str:
    start = start.astimezone(UTC)
    if granularity == "month":
        return f"{start:%b %Y}"
    if granularity == "week":
        return f"week of {start:%Y-%m-%d}"
    return f"{start:%Y-%m-%d}"


def print_usage(out: TextIO, series: UsageSeries, form: str, *, width: int | None = None
                ) -> None:
    if form == "json":
        return write_json(out, series)
    if form == "csv":
        writer = csv_writer(out)
        writer.writerow(("start", "key", "credits"))
        writer.writerows((csv_time(p.start), p.key, p.credits) for p in series.points)
        return
    if not series.points:
        out.write(f"No usage from {series.start:%Y-%m-%d %H:%M} to "
                  f"{series.end:%Y-%m-%d %H:%M} UTC.\n")
        return
    columns, rows = usage_grid(series)
    if sum(widths_for(columns, rows, 10**6)) + 2 * (len(columns) - 1) > (width or terminal_width()):
        # Too many keys side by side: one line per (period, key) instead, which always fits.
        columns = (Column("Period"), Column("Key", grow=True), Column("Credits", right=True))
        rows = [(period_label(p.start, series.granularity), p.key, figure(p.credits))
                for p in series.points]
        rows.append(("Total", "", figure(sum(p.credits for p in series.points))))
    write_table(out, columns, rows)


def usage_grid(series: UsageSeries) -> tuple[tuple[Column, ...], list[tuple[str, ...]]]:
    """The dashboard's usage table: a row per period, a column per key, and a total."""
    totals: dict[str, int] = {}
    cells: dict[datetime, dict[str, int]] = {}
    for point in series.points:
        totals[point.key] = totals.get(point.key, 0) + point.credits
        cells.setdefault(point.start, {})[point.key] = point.credits
    keys = sorted(totals, key=lambda k: (k == "(other)", -totals[k], k))
    titles = [SOURCE_TITLES.get(k, k) if series.group_by == "source" else k for k in keys]
    columns = (Column("Period"), *(Column(t, right=True) for t in titles),
               Column("Total", right=True))
    rows = []
    for start in sorted(cells):
        row = cells[start]
        rows.append((period_label(start, series.granularity),
                     *(figure(row.get(k, 0)) for k in keys), figure(sum(row.values()))))
    rows.append(("Total", *(figure(totals[k]) for k in keys), figure(sum(totals.values()))))
    return columns, rows

