"""`creditdesk serve` on SQLite as real processes: several workers on one file.

Issue 9 item 6: a second `creditdesk serve` on the same SQLite file used to start, serve
stale reads, and lock the first one out (503 to everything). With the books in tables a
second process is just another worker. One file is shared by the whole module: a server
with `--workers 2` and a second `creditdesk serve` on the same file; each test works on
its own users and org, so they do not disturb each other.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .test_serve_command import Serve

OPERATOR = "operator-token-for-the-sqlite-workers"
OP = {"Authorization": f"Bearer {OPERATOR}"}
ENV = {"CREDITDESK_OPERATOR_TOKEN": OPERATOR}
TEAM = {"id": "team", "name": "Team", "base_credits_per_month": 10_000, "rollover_cap": 0,
        "billing_period": "monthly", "price_cents": 900}
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journal-v1.db"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite-workers") / "books.db"
    first = Serve("--db", str(path), "--workers", "2", env=ENV)
    second = Serve("--db", str(path), env=ENV)      # the same file: one more worker
    try:
        assert httpx.post(f"{first.url}/v1/admin/plans", headers=OP,
                          json=TEAM).status_code == 201
        yield path, [first.url, second.url]
    finally:
        second.stop()
        first.stop()


def org_for(urls: list[str], name: str, members: int = 1) -> dict[str, str]:
    """An org `name` owned by `<name>-0` with more members; a token per user (issued on
    alternating servers, so each works on the other)."""
    tokens = {}
    for n in range(members):
        user = f"{name}-{n}"
        url = urls[n % len(urls)]
        assert httpx.post(f"{url}/v1/admin/users", headers=OP, json={
            "id": user, "name": user, "email": "", "plan": "team"}).status_code == 201
        if n == 0:
            assert httpx.post(f"{url}/v1/admin/orgs", headers=OP, json={
                "id": name, "name": name, "owner": user, "plan": "team"}).status_code == 201
        else:
            assert httpx.post(f"{url}/v1/admin/orgs/{name}/members", headers=OP, json={
                "user_id": user, "role": "member"}).status_code == 201
        tokens[user] = httpx.post(f"{url}/v1/admin/users/{user}/tokens", headers=OP,
                                  json={}).json()["token"]
    return tokens


def auth(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    return headers if key is None else {**headers, "Idempotency-Key": key}


def debit(url: str, org: str, token: str, credits: int, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/accounts/{org}/usage", headers=auth(token, key),
                      json={"credits": credits, "campaign": "test"}, timeout=60)


def balance(url: str, org: str, token: str) -> dict:
    response = httpx.get(f"{url}/v1/accounts/{org}/balance", headers=auth(token), timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_second_serve_on_the_file_is_another_worker_with_fresh_answers(books):
    _, urls = books
    owner = org_for(urls, "fresh")["fresh-0"]
    for n in range(6):
        url, other = urls[n % 2], urls[(n + 1) % 2]
        assert debit(url, "fresh", owner, 10, f"fresh-{n}").status_code == 200
        # The other process sees the debit at once: no stale read, no lock-out.
        assert balance(other, "fresh", owner)["used_this_period"] == 10 * (n + 1)


def test_concurrent_debits_over_both_servers_add_up_exactly(books):
    _, urls = books
    tokens = org_for(urls, "sums", members=4)
    owner = tokens["sums-0"]
    plan = [(user, n) for user in tokens for n in range(15)]

    def one(item):
        user, n = item
        return debit(urls[n % 2], "sums", tokens[user], 7, f"{user}-{n}").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, plan)) == {200}
    seen = balance(urls[0], "sums", owner)
    assert seen["used_this_period"] == 7 * len(plan)
    assert seen["total"] == TEAM["base_credits_per_month"] - 7 * len(plan)
    ledger = httpx.get(f"{urls[1]}/v1/accounts/sums/ledger?limit=1000", headers=auth(owner),
                       params={"kind": "usage"}).json()
    assert len(ledger) == len(plan) and sum(e["base"] for e in ledger) == -7 * len(plan)


def test_an_overdraft_race_across_the_servers_has_one_winner(books):
    _, urls = books
    owner = org_for(urls, "race")["race-0"]
    everything = TEAM["base_credits_per_month"]

    def one(n):
        return debit(urls[n % 2], "race", owner, everything, f"race-{n}").status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(one, range(6)))
    assert codes == [200] + [402] * 5
    assert balance(urls[1], "race", owner)["total"] == 0


def test_one_key_sent_to_both_at_once_is_applied_once_with_one_answer(books):
    _, urls = books
    owner = org_for(urls, "once")["once-0"]

    def one(n):
        response = debit(urls[n % 2], "once", owner, 25, "the-one-key")
        return response.status_code, response.content

    with ThreadPoolExecutor(6) as pool:
        answers = set(pool.map(one, range(6)))
    assert len(answers) == 1 and next(iter(answers))[0] == 200
    assert balance(urls[0], "once", owner)["used_this_period"] == 25


def _chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, *map(str, paths)],
                          capture_output=True, check=False).returncode == 0


def test_a_file_made_read_only_gives_503_quickly_then_writes_resume(books):
    """Issue 9 item 13 (SQLite half). Permissions are checked when a file is opened, and
    the workers hold theirs open; the immutable flag (chattr +i, root on ext4) is checked
    at every write, so it is what makes the file read-only under a running server."""
    path, urls = books
    owner = org_for(urls, "frozen")["frozen-0"]
    assert debit(urls[0], "frozen", owner, 5, "before").status_code == 200
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    if os.geteuid() != 0 or not _chattr("+i", *files):
        pytest.skip("making a file read-only under open handles needs chattr +i (root)")
    try:
        for n in range(4):
            started = time.monotonic()
            refused = debit(urls[n % 2], "frozen", owner, 5, f"while-{n}")
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable"
            assert time.monotonic() - started < 5
        # Reads keep working: the books can still be read.
        assert balance(urls[1], "frozen", owner)["used_this_period"] == 5
    finally:
        _chattr("-i", *files)
    # Retries with the same keys, once the file is writable again, on both servers: a
    # connection that met the frozen file may answer one more 503 before it is replaced,
    # so each key is retried until it goes through (the workers recover by themselves).
    deadline = time.monotonic() + 20
    for n in range(4):
        for url in urls:
            while (answer := debit(url, "frozen", owner, 5, f"while-{n}")).status_code != 200:
                assert answer.status_code == 503, answer.text
                assert time.monotonic() < deadline, "writes did not resume"
                time.sleep(0.1)
    assert debit(urls[0], "frozen", owner, 5, "before").status_code == 200     # a replay
    assert balance(urls[0], "frozen", owner)["used_this_period"] == 5 * 5


def test_a_journal_database_is_upgraded_on_first_start(tmp_path):
    """The previous release's file is replayed once into tables, kept aside, and the
    server then serves from the tables; the next start replays nothing."""
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    journal = sqlite3.connect(FIXTURE)
    (recorded,) = journal.execute("SELECT COUNT(*) FROM ledger").fetchone()
    journal.close()
    # --test-clock without START: the clock stands where the journal's last call left it.
    server = Serve("--db", str(path), "--test-clock", env=ENV)
    try:
        lines = "".join(server.lines)
        assert "upgrade: acme at journal #37 (record_usage)" in lines
        assert f"the journal release's file is kept as {path}.journal-v1" in lines
        token = httpx.post(f"{server.url}/v1/admin/users/ann/tokens", headers=OP,
                           json={}).json()["token"]
        # As the journal recorded it (its last ledger row for the account).
        assert balance(server.url, "personal:ann", token)["total"] == 30_970
    finally:
        server.stop()
    assert (tmp_path / "old.db.journal-v1").exists()
    again = Serve("--db", str(path), env=ENV)
    try:
        assert not any("upgrade" in line for line in again.lines)
        entries = int(next(line for line in again.lines if line.startswith("database"))
                      .split("accounts, ")[1].split()[0].replace(",", ""))
        # Every recorded entry but journal #37's two (its recharge and its debit): this
        # release's recharge bound buys nothing there, so the debit is refused.
        assert entries == recorded - 2
    finally:
        again.stop()
