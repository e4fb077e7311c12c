"""Audit of the contract's command line against `creditdesk balance|usage|members|invoices|
ledger|alerts`: what tests/cli left unasserted (every command's --json and --csv, spans back
from now end to end, exit 1 for a backend's invalid_request, exit 3 for `unavailable`)."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import TypeAdapter

from creditdesk.models import Alert, Balance, Invoice, LedgerEntry, MemberUsage, UsageSeries

DEMO = ("--demo", "--members", "6", "--months", "2")

# The contract's model (or list of models) each command prints with --json.
MODELS = {
    "balance": Balance, "members": list[MemberUsage], "invoices": list[Invoice],
    "ledger": list[LedgerEntry], "alerts": list[Alert], "usage": UsageSeries,
}


@pytest.mark.parametrize("command", sorted(MODELS))
def test_every_command_prints_one_json_document_and_bomless_csv(cli, command):
    extra = ("--since", "30d") if command == "usage" else ()
    as_json = cli(command, *DEMO, *extra, "--json")
    as_csv = cli(command, *DEMO, *extra, "--csv")
    for result in (as_json, as_csv):
        assert (result.code, result.err) == (0, "")
    parsed = TypeAdapter(MODELS[command]).validate_json(as_json.out)
    assert json.loads(as_json.out) is not None          # one document, nothing around it
    assert not as_csv.out.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(as_csv.out)))
    header = rows[0]
    assert header and len(set(header)) == len(header)
    assert all(len(row) == len(header) for row in rows[1:])
    items = parsed.points if command == "usage" else (
        [parsed] if command == "balance" else parsed)
    assert len(rows) - 1 == len(items)


def window(cli, *span: str) -> tuple[UsageSeries, datetime, datetime]:
    before = datetime.now(UTC)
    result = cli("usage", *DEMO, "--json", *span)
    after = datetime.now(UTC)
    assert result.code == 0, result.err
    return UsageSeries.model_validate_json(result.out), before, after


def test_since_30d_starts_thirty_days_before_now(cli):
    series, before, after = window(cli, "--since", "30d")
    assert before - timedelta(days=30) <= series.start <= after - timedelta(days=30)
    assert before <= series.end <= after          # no --until: now


def test_until_a_span_ends_that_far_back(cli):
    series, before, after = window(cli, "--since", "12w", "--until", "7d")
    assert before - timedelta(weeks=12) <= series.start <= after - timedelta(weeks=12)
    assert before - timedelta(days=7) <= series.end <= after - timedelta(days=7)


def test_a_backends_invalid_request_exits_1(cli):
    # Valid usage (a date after 1970), which the engine refuses: more than ten years of days.
    result = cli("usage", *DEMO, "--since", "1990-01-01", "--per", "month")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("creditdesk usage: invalid_request: ")
    assert "Traceback" not in result.err


@pytest.fixture
def unavailable_server():
    """A server that answers every request 503 `unavailable`, in the contract's shape."""
    body = json.dumps({"error": {"code": "unavailable", "message": "the database is down",
                                 "required_role": None, "field": None}}).encode()
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_a_server_answering_unavailable_exits_3(cli, unavailable_server):
    url, seen = unavailable_server
    result = cli("balance", "--context", "acme",
                 env={"CREDITDESK_URL": url, "CREDITDESK_TOKEN": "t"})
    assert result.code == 3 and result.out == ""
    assert result.err.startswith("creditdesk balance: unavailable: ")
    assert "Traceback" not in result.err
    assert seen and all(path == "/v1/accounts/acme/balance" for path in seen)


def test_the_balance_table_names_the_periods_instants(cli):
    """"`period_end` is exclusive: it equals the next `period_start`" and periods are anchored
    at a time of day: HEAD printed e.g. "2026-11-14 to 2026-12-13", a last day that leaves out
    the hours of 14 December before the 09:00 close, which still belong to the period."""
    balance = Balance.model_validate_json(cli("balance", *DEMO, "--json").out)
    assert (balance.period_end.hour, balance.period_end.minute) != (0, 0)   # else no test
    table = cli("balance", *DEMO).out
    [period] = [line for line in table.splitlines() if line.startswith("Period")]
    assert period.split(None, 1)[1] == (f"{balance.period_start:%Y-%m-%d %H:%M} to "
                                        f"{balance.period_end:%Y-%m-%d %H:%M} (UTC)")
