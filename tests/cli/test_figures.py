"""`creditdesk balance|usage|members|invoices|ledger`: table, JSON and CSV on the demo world
and on a real server, and the exit codes a script relies on."""

from __future__ import annotations

import csv
import io
import re

import pytest
from pydantic import TypeAdapter

from creditdesk.models import Balance, Invoice, LedgerEntry, MemberUsage, UsageSeries
from creditdesk.money import format_cents, format_credits_dollars

DEMO = ("--demo", "--members", "12", "--months", "3")
THOUSANDS = re.compile(r"\b\d{1,3}(,\d{3})+\b")


@pytest.fixture(params=["demo", "server"])
def source(request):
    """How to reach a backend: extra arguments and environment, as the owner."""
    if request.param == "demo":
        return DEMO, {}
    served = request.getfixturevalue("served")
    return (), served.env("owner")


def forms(cli, source, *command: str):
    args, env = source
    table = cli(*command, *args, env=env)
    as_json = cli(*command, *args, "--json", env=env)
    as_csv = cli(*command, *args, "--csv", env=env)
    for result in (table, as_json, as_csv):
        assert result.code == 0, result.err
        assert "\x1b[" not in result.out      # not a terminal: no colour
    assert not as_csv.out.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(as_csv.out)))
    return table.out, as_json.out, rows


def test_balance(cli, source):
    table, text, rows = forms(cli, source, "balance")
    balance = Balance.model_validate_json(text)
    assert format_credits_dollars(balance.total) in table     # 91,490 credits ($457.45)
    assert f"{balance.used_this_period:,} credits" in table
    assert rows[0] == list(Balance.model_fields)
    assert len(rows) == 2 and int(rows[1][rows[0].index("total")]) == balance.total


def test_members(cli, source):
    table, text, rows = forms(cli, source, "members")
    members = TypeAdapter(list[MemberUsage]).validate_json(text)
    assert len(members) >= 5
    lines = table.splitlines()
    assert lines[0].split() == ["Name", "User", "Role", "Used", "Limit", "To", "limit", "Share"]
    assert len(lines) == len(members) + 1
    assert all(len(line) <= 80 for line in lines)
    assert rows[0] == ["user_id", "name", "role", "used_this_period", "limit"]
    assert [row[0] for row in rows[1:]] == [m.user_id for m in members]
    biggest = max(members, key=lambda m: m.used_this_period)
    assert f"{biggest.used_this_period:,}" in table


def test_invoices(cli, source):
    table, text, rows = forms(cli, source, "invoices")
    invoices = TypeAdapter(list[Invoice]).validate_json(text)
    assert invoices and [row[0] for row in rows[1:]] == [i.number for i in invoices]
    assert rows[0][:8] == ["number", "date", "kind", "credits", "amount_usd", "status",
                           "description", "payment_method"]
    assert rows[1][4] == f"{invoices[0].amount_cents / 100:.2f}"
    assert format_cents(invoices[0].amount_cents) in table        # $499.00
    assert all(len(line) <= 80 for line in table.splitlines())


def test_ledger_page(cli, source):
    table, text, rows = forms(cli, source, "ledger", "--limit", "7")
    entries = TypeAdapter(list[LedgerEntry]).validate_json(text)
    assert len(entries) == 7 and len(rows) == 8 and len(table.splitlines()) == 8
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)
    assert [int(row[0]) for row in rows[1:]] == [e.id for e in entries]
    assert f"{entries[0].balance_after:,}" in table
    args, env = source
    older = cli("ledger", *args, "--json", "--limit", "3", "--before", str(entries[2].id),
                env=env)
    assert [e.id for e in TypeAdapter(list[LedgerEntry]).validate_json(older.out)] == \
        [e.id for e in entries[3:6]]


def test_ledger_all_pages_join_up(cli, source):
    args, env = source
    every = cli("ledger", *args, "--json", "--all", "--limit", "50", env=env)
    entries = TypeAdapter(list[LedgerEntry]).validate_json(every.out)
    ids = [e.id for e in entries]
    assert len(ids) > 150 and ids == sorted(set(ids), reverse=True)
    first_page = cli("ledger", *args, "--json", "--limit", "50", env=env)
    page = TypeAdapter(list[LedgerEntry]).validate_json(first_page.out)
    # Two demo runs are two worlds built a moment apart: the same entries, other clock times.
    assert [(e.id, e.kind, e.balance_after) for e in page] == \
        [(e.id, e.kind, e.balance_after) for e in entries[:50]]


@pytest.mark.parametrize("by", ["source", "member", "campaign"])
def test_usage(cli, source, by):
    table, text, rows = forms(cli, source, "usage", "--since", "8w", "--by", by,
                              "--per", "week", "--top", "3")
    series = UsageSeries.model_validate_json(text)
    assert series.group_by == by and series.granularity == "week" and series.points
    assert len({p.key for p in series.points} - {"(other)"}) <= 3
    assert rows[0] == ["start", "key", "credits"] and len(rows) == len(series.points) + 1
    total = sum(p.credits for p in series.points)
    last = table.splitlines()[-1].split()
    assert last[0] == "Total" and last[-1] == f"{total:,}"


def test_usage_until_includes_that_day(cli):
    text = cli("usage", *DEMO, "--json", "--since", "2026-01-01", "--until", "2026-01-31").out
    series = UsageSeries.model_validate_json(text)
    assert series.start.isoformat() == "2026-01-01T00:00:00+00:00"
    assert series.end.isoformat() == "2026-02-01T00:00:00+00:00"


def test_many_keys_fall_back_to_one_line_per_key(cli):
    result = cli("usage", *DEMO, "--by", "member", "--per", "month", "--since", "2m")
    lines = result.out.splitlines()
    assert lines[0].split() == ["Period", "Key", "Credits"]
    assert all(len(line) <= 80 for line in lines)


def test_colour_only_on_a_terminal_without_no_color(monkeypatch, capsys):
    from creditdesk.cli.figures.table import Column, write_table

    class Tty(io.StringIO):
        def isatty(self):
            return True
    out = Tty()
    write_table(out, [Column("Name")], [("Ann",)])
    assert out.getvalue().startswith("\x1b[1m")
    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    write_table(out, [Column("Name")], [("Ann",)])
    assert "\x1b" not in out.getvalue()


# --- exit codes ------------------------------------------------------------------------------

def test_a_plain_member_asking_for_the_balance_is_refused_with_1(cli, served):
    for result in (cli("balance", *DEMO, "--as", "member"),
                   cli("balance", env=served.env("member"))):
        assert result.code == 1 and result.out == ""
        assert result.err.startswith("creditdesk balance: permission_denied: ")
        assert "Traceback" not in result.err


def test_an_unknown_token_is_refused_with_1(cli, served):
    result = cli("members", env={"CREDITDESK_URL": served.url,
                                 "CREDITDESK_TOKEN": "not-a-token-at-all"})
    assert result.code == 1 and "unauthenticated" in result.err
    assert "Traceback" not in result.err


def test_a_bad_argument_for_the_backend_is_refused_with_1(cli, served):
    result = cli("members", "--context", "no-such-org", env=served.env("owner"))
    assert result.code == 1 and "not_found" in result.err


@pytest.mark.parametrize("argv", [
    ["balance", "--bogus"], ["balance", "--json", "--csv"], ["usage", "--since", "3x"],
    ["usage", "--by", "planet"], ["usage", "--top", "0"], ["ledger", "--limit", "1001"],
    ["ledger", "--before", "x"], ["usage", "--since", "2026-02-01", "--until", "2026-01-01"],
    ["balance", "--members", "12"],
])
def test_bad_usage_is_2_before_any_backend_call(cli, argv):
    # No server is configured: a usage error must be found before looking for one.
    result = cli(*argv, env={"CREDITDESK_URL": "http://127.0.0.1:9", "CREDITDESK_TOKEN": "t"})
    assert result.code == 2 and result.out == ""
    assert "error" in result.err and "unavailable" not in result.err


def test_no_server_configured_is_2(cli, monkeypatch):
    monkeypatch.delenv("CREDITDESK_URL", raising=False)
    monkeypatch.delenv("CREDITDESK_TOKEN", raising=False)
    result = cli("balance")
    assert result.code == 2 and "no server configured" in result.err


def test_an_unreachable_server_is_3(cli):
    import socket
    with socket.socket() as closed:     # a port that surely refuses: bound, never listening
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = cli("balance", env={"CREDITDESK_URL": f"http://127.0.0.1:{port}",
                                     "CREDITDESK_TOKEN": "t"})
    assert result.code == 3 and result.out == ""
    assert result.err.startswith("creditdesk balance: unavailable: ")
    assert "Traceback" not in result.err


def test_the_default_context_is_the_dashboards():
    import asyncio

    from creditdesk.cli.figures import choose_context
    from creditdesk.models import Context, Identity

    class Backend:
        def __init__(self, *contexts):
            self.identity = Identity(user_id="ann", name="Ann", contexts=list(contexts))

        async def whoami(self):
            return self.identity
    personal = Context(account_id="p-ann", kind="personal", name="Ann", role="owner")
    acme = Context(account_id="acme", kind="org", name="Acme", role="admin")
    beta = Context(account_id="beta", kind="org", name="Beta", role="member")
    both = Backend(personal, acme, beta)
    assert asyncio.run(choose_context(both, None)) == "acme"          # the first org
    assert asyncio.run(choose_context(both, "beta")) == "beta"        # the saved one
    assert asyncio.run(choose_context(both, "gone")) == "acme"        # saved, but not yours
    assert asyncio.run(choose_context(Backend(personal), None)) == "p-ann"


def test_context_picks_another_account(cli, served):
    me = cli("balance", "--json", env=served.env("owner"))
    personal = cli("balance", "--json", "--context", "personal:ann", env=served.env("owner"))
    assert Balance.model_validate_json(me.out).account_id == "acme"
    assert Balance.model_validate_json(personal.out).account_id == "personal:ann"
