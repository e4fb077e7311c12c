"""`creditdesk serve` as a real subprocess, and `creditdesk admin` against it."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys

import httpx
import pytest

from creditdesk.cli import main

SERVING = re.compile(r"creditdesk serving on (http://127\.0\.0\.1:\d+)\n")
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
OPERATOR = "operator-token-for-the-serve-test"


class Serve:
    def __init__(self, *args: str, env: dict | None = None) -> None:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        environment.pop("CREDITDESK_OPERATOR_TOKEN", None)
        environment.update(env or {})
        self.process = subprocess.Popen([sys.executable, "-c", MAIN, "serve", "--port", "0",
                                         *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=environment)
        self.lines: list[str] = []
        self.url = None
        for line in self.process.stdout:
            self.lines.append(line)
            found = SERVING.fullmatch(line)
            if found:
                self.url = found.group(1)
                break
        if self.url is None:
            raise AssertionError(f"no serving line; stderr: {self.process.stderr.read()}")

    def more_lines(self, count: int) -> list[str]:
        return [self.process.stdout.readline() for _ in range(count)]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(20)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "operator-token"
    path.write_text(OPERATOR + "\n")
    path.chmod(0o600)       # the server refuses a token file others can read
    return path


def admin(url: str, *args: str, capsys) -> str:
    code = main(["admin", "--url", url, *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_serve_admin_restart(tmp_path, token_file, capsys, monkeypatch):
    db = tmp_path / "billing.sqlite3"
    args = ("--db", str(db), "--operator-token-file", str(token_file),
            "--test-clock", "2026-01-15T09:00:00+00:00")
    server = Serve(*args)
    try:
        assert httpx.get(f"{server.url}/openapi.json").status_code == 200
        monkeypatch.setenv("CREDITDESK_OPERATOR_TOKEN", OPERATOR)
        admin(server.url, "add-plan", "team", "--name", "Team", "--base-credits", "1000",
              "--rollover-cap", "500", "--price-cents", "4900", capsys=capsys)
        for user in ("ann", "bob"):
            admin(server.url, "add-user", user, "--name", user.title(), "--plan", "team",
                  capsys=capsys)
        admin(server.url, "create-org", "acme", "--name", "Acme", "--owner", "ann",
              "--plan", "team", capsys=capsys)
        admin(server.url, "add-member", "acme", "bob", "--role", "admin", capsys=capsys)
        out = admin(server.url, "issue-token", "bob", capsys=capsys)
        token = out.strip().splitlines()[-1]
        assert main(["admin", "--url", server.url, "add-user", "ann", "--name", "A",
                     "--plan", "team"]) == 1
        assert "already_exists" in capsys.readouterr().err
        me = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["contexts"][1] == {"account_id": "acme", "kind": "org",
                                            "name": "Acme", "role": "admin"}
    finally:
        assert server.stop() == 0
    server = Serve(*args)
    try:
        again = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert again.json() == me.json()
    finally:
        server.stop()


def test_without_a_token_file_one_is_made_private_and_reused(tmp_path):
    db = tmp_path / "data" / "billing.sqlite3"
    server = Serve("--db", str(db))
    try:
        saved = tmp_path / "data" / "operator-token"
        assert f"operator token saved in {saved}\n" in server.lines
        # A fresh file: what it holds, in plain counts (nothing is replayed at start).
        assert f"database {db} (0 accounts, 0 ledger entries)\n" in server.lines
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        token = saved.read_text().strip()
        plans = httpx.post(f"{server.url}/v1/admin/plans",
                           headers={"Authorization": f"Bearer {token}"}, json={})
        assert plans.status_code == 422     # authorised; the empty body is what is wrong
    finally:
        server.stop()
    server = Serve("--db", str(db))
    try:
        assert saved.read_text().strip() == token
    finally:
        server.stop()


def test_a_bad_test_clock_start_is_refused_in_words(tmp_path, token_file):
    result = subprocess.run([sys.executable, "-c", MAIN, "serve", "--port", "0", "--db",
                             str(tmp_path / "x.sqlite3"), "--operator-token-file",
                             str(token_file), "--test-clock", "2026-01-15T09:00:00"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--test-clock START needs a UTC offset" in result.stderr


def test_serve_demo_prints_how_to_connect_with_working_tokens(token_file):
    server = Serve("--demo", "--operator-token-file", str(token_file))
    try:
        lines = server.more_lines(4)
        assert "demo world" in lines[0]
        owner = re.search(r"CREDITDESK_URL=(\S+) CREDITDESK_TOKEN=(\S+) creditdesk", lines[1])
        assert owner.group(1) == server.url
        me = httpx.get(f"{server.url}/v1/me",
                       headers={"Authorization": f"Bearer {owner.group(2)}"})
        assert me.status_code == 200 and "as the owner" in lines[1]
    finally:
        server.stop()


def test_admin_says_what_is_missing_or_unreachable(tmp_path, monkeypatch, capsys, token_file):
    monkeypatch.delenv("CREDITDESK_OPERATOR_TOKEN", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "nothing-saved"))
    assert main(["admin", "--url", "http://127.0.0.1:9", "issue-token", "ann"]) == 1
    assert "no operator token" in capsys.readouterr().err
    assert main(["admin", "--url", "http://127.0.0.1:9", "--operator-token-file",
                 str(token_file), "issue-token", "ann"]) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
