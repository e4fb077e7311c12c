"""`creditdesk alerts`: table, JSON and CSV, paging with --limit/--before, and exit codes."""

from __future__ import annotations

import csv
import io

import pytest
from pydantic import TypeAdapter

from creditdesk.cli.figures.alerts import ALERT_CSV, threshold_cell
from creditdesk.models import Alert

DEMO = ("--demo", "--members", "12", "--months", "3")
ALERTS = TypeAdapter(list[Alert])


@pytest.fixture(scope="module")
def served_with_alerts(served):
    """The served demo org with alerts raised through the API itself: four balance
    thresholds just under the balance, crossed together by one small debit, and a member
    stopped by a limit set under what they used."""
    import asyncio

    from creditdesk.backends.remote import RemoteBackend
    from creditdesk.errors import MemberLimitReached

    async def raise_alerts() -> None:
        async with RemoteBackend(served.url, served.tokens["owner"]) as backend:
            balance = await backend.balance("acme")
            await backend.configure_alerts(
                "acme", balance_below=[balance.total - n for n in range(1, 5)],
                member_usage_percent=[])
            await backend.record_usage("acme", 10, campaign="cli-alerts",
                                       idempotency_key="cli-alerts-crossing")
            await backend.set_member_limit("acme", "chidi", 1)
        async with RemoteBackend(served.url, served.tokens["member"]) as backend:
            with pytest.raises(MemberLimitReached):
                await backend.record_usage("acme", 10, campaign="cli-alerts",
                                           idempotency_key="cli-alerts-over-limit")
    asyncio.run(raise_alerts())
    return served


@pytest.fixture(params=["demo", "server"])
def source(request):
    """How to reach a backend: extra arguments and environment, as the owner."""
    if request.param == "demo":
        return DEMO, {}
    served = request.getfixturevalue("served_with_alerts")
    return (), served.env("owner")


def test_table_json_and_csv_agree(cli, source):
    args, env = source
    table = cli("alerts", *args, env=env)
    as_json = cli("alerts", *args, "--json", env=env)
    as_csv = cli("alerts", *args, "--csv", env=env)
    for result in (table, as_json, as_csv):
        assert result.code == 0, result.err
        assert "\x1b[" not in result.out
    alerts = ALERTS.validate_json(as_json.out)
    assert alerts, "the demo world raises alerts"
    ids = [a.id for a in alerts]
    assert ids == sorted(ids, reverse=True)
    rows = list(csv.reader(io.StringIO(as_csv.out)))
    assert not as_csv.out.startswith("\ufeff")
    assert tuple(rows[0]) == ALERT_CSV
    assert [int(row[0]) for row in rows[1:]] == ids
    # At 80 columns each sentence has a line of its own, whole, under its alert's figures.
    lines = table.out.splitlines()
    assert lines[0].split() == ["ID", "Time", "(UTC)", "Kind", "Member", "Threshold"]
    assert all(len(line) <= 80 for line in lines)
    figures = [line for line in lines[1:] if not line.startswith("    ")]
    assert [line.split()[0] for line in figures] == [str(i) for i in ids]
    sentences = " ".join(line.strip() for line in lines if line.startswith("    "))
    assert all(alert.message in sentences for alert in alerts)
    assert "…" not in table.out
    named = next(a for a in alerts if a.user_id is not None)
    row = rows[1 + alerts.index(named)]
    assert row[ALERT_CSV.index("user_id")] == named.user_id
    assert row[ALERT_CSV.index("member")] not in ("", named.user_id)   # the member's name
    assert row[ALERT_CSV.index("message")] == named.message


def test_a_wide_terminal_has_the_sentence_as_a_column(cli):
    wide = cli("alerts", *DEMO, "--limit", "5", env={"COLUMNS": "200"})
    lines = wide.out.splitlines()
    assert wide.code == 0 and lines[0].split()[-2:] == ["What", "happened"]
    assert len(lines) == 6 and all(not line.startswith("    ") for line in lines)


def test_limit_and_before_page_on(cli, source):
    args, env = source
    every = ALERTS.validate_json(cli("alerts", *args, "--json", env=env).out)
    assert len(every) >= 4
    first = ALERTS.validate_json(cli("alerts", *args, "--json", "--limit", "2", env=env).out)
    assert [a.id for a in first] == [a.id for a in every[:2]]
    older = cli("alerts", *args, "--json", "--limit", "2", "--before", str(first[-1].id),
                env=env)
    assert [a.id for a in ALERTS.validate_json(older.out)] == [a.id for a in every[2:4]]


def test_admins_see_alerts_members_are_refused_with_1(cli):
    admin = cli("alerts", *DEMO, "--as", "admin", "--json")
    assert admin.code == 0 and ALERTS.validate_json(admin.out)
    member = cli("alerts", *DEMO, "--as", "member")
    assert member.code == 1 and member.out == ""
    assert member.err.startswith("creditdesk alerts: permission_denied: ")
    assert "Traceback" not in member.err


def test_no_alerts_is_said_in_words(cli):
    result = cli("alerts", *DEMO, "--context", "personal:ann")
    assert result.code == 0 and result.out == "No alerts.\n"
    as_json = cli("alerts", *DEMO, "--context", "personal:ann", "--json")
    assert as_json.out == "[]\n"


@pytest.mark.parametrize("argv", [
    ["alerts", "--limit", "0"], ["alerts", "--limit", "1001"], ["alerts", "--before", "x"],
    ["alerts", "--json", "--csv"], ["alerts", "--all"], ["alerts", "--seed", "3"],
])
def test_bad_usage_is_2_before_any_backend_call(cli, argv):
    result = cli(*argv, env={"CREDITDESK_URL": "http://127.0.0.1:9", "CREDITDESK_TOKEN": "t"})
    assert result.code == 2 and result.out == ""
    assert "error" in result.err and "unavailable" not in result.err


def test_thresholds_are_shown_in_their_unit():
    from datetime import UTC, datetime

    def alert(kind, threshold):
        return Alert(id=1, at=datetime(2026, 11, 15, tzinfo=UTC), kind=kind, user_id=None,
                     threshold=threshold, balance_after=0, message="m")
    assert threshold_cell(alert("balance_below", 50_000)) == "50,000"
    assert threshold_cell(alert("member_usage", 80)) == "80%"
    assert threshold_cell(alert("payment_failed", None)) == "—"
