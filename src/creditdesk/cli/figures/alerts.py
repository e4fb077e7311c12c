"""`creditdesk alerts`: the alerts raised on an account, newest first, one page of them.

The table has the dashboard's Alerts columns (time, kind, member, threshold, the sentence;
the sentence on a line of its own under each alert when the width cannot hold it whole);
JSON is the contract's `Alert` list as the HTTP API sends it; CSV one row per alert, with
the member's name beside their id, as the dashboard shows it.
"""

from __future__ import annotations

import asyncio
import io
import textwrap
from typing import TYPE_CHECKING, TextIO

from ...models import Alert
from .reports import csv_time, csv_writer, table_time, write_json
from .table import (
    GAP,
    Column,
    TableWriter,
    terminal_width,
    use_colour,
    widths_for,
    write_table,
)

if TYPE_CHECKING:
    from ...backends import BillingBackend

DEFAULT_LIMIT = 100
KIND_WORDS = {"balance_below": "balance low", "member_usage": "member usage",
              "recharge_failed": "recharge failed", "payment_failed": "payment failed",
              "autopilot_paused": "autopilot paused",
              "member_limit_reached": "limit reached"}
ALERT_COLUMNS = (Column("ID", right=True), Column("Time (UTC)"), Column("Kind"),
                 Column("Member", grow=True), Column("Threshold", right=True),
                 Column("What happened", grow=True))
ALERT_CSV = ("id", "time_utc", "kind", "user_id", "member", "threshold", "balance_after",
             "message")


def threshold_cell(alert: Alert) -> str:
    if alert.threshold is None:
        return "—"
    return f"{alert.threshold}%" if alert.kind == "member_usage" else f"{alert.threshold:,}"


def print_alerts(out: TextIO, alerts: list[Alert], form: str, names: dict[str, str]) -> None:
    if form == "json":
        return write_json(out, alerts)
    if form == "csv":
        writer = csv_writer(out)
        writer.writerow(ALERT_CSV)
        writer.writerows((a.id, csv_time(a.at), a.kind, a.user_id or "",
                          names.get(a.user_id, a.user_id) if a.user_id else "",
                          "" if a.threshold is None else a.threshold, a.balance_after,
                          a.message) for a in alerts)
        return
    if not alerts:
        out.write("No alerts.\n")
        return
    rows = [(str(a.id), table_time(a.at), KIND_WORDS.get(a.kind, a.kind),
             names.get(a.user_id, a.user_id) if a.user_id else "—", threshold_cell(a),
             a.message) for a in alerts]
    width = terminal_width()
    natural = widths_for(ALERT_COLUMNS, rows, 10**6)
    if sum(natural) + len(GAP) * (len(natural) - 1) <= width:
        write_table(out, ALERT_COLUMNS, rows)
        return
    # The sentence is what matters most: rather than cut it to a few words, each alert's
    # sentence goes on the line under its figures, indented, wrapped to the width.
    figures = io.StringIO()
    TableWriter(figures, ALERT_COLUMNS[:-1], width=width).rows([row[:-1] for row in rows])
    header, *lines = figures.getvalue().splitlines()
    out.write(f"\x1b[1m{header}\x1b[0m\n" if use_colour(out) else header + "\n")
    for line, row in zip(lines, rows, strict=True):
        out.write(line + "\n")
        out.write("".join(f"    {part}\n" for part in textwrap.wrap(row[-1], width - 4)))


async def report_alerts(backend: BillingBackend, account_id: str, out: TextIO, form: str, *,
                        limit: int | None, before: int | None) -> None:
    page = backend.alerts(account_id, limit=limit or DEFAULT_LIMIT, before=before)
    if form == "json":
        print_alerts(out, await page, form, {})
        return
    # Members by name, as the dashboard shows them; asked beside the page.
    alerts, members = await asyncio.gather(page, backend.members(account_id))
    print_alerts(out, alerts, form, {m.user_id: m.name for m in members})
