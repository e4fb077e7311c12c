"""Fixtures for the figure commands and `creditdesk web`: the CLI run in-process, and a real
`creditdesk serve --demo` on loopback with a token per demo role."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass

import pytest

from creditdesk.cli import main

MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
SERVING = re.compile(r"creditdesk serving on (http://127\.0\.0\.1:\d+)\n")
ROLE_TOKEN = re.compile(r"as the (\w+) .*CREDITDESK_TOKEN=(\S+) creditdesk")
OPERATOR = "operator-token-for-the-cli-tests"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `creditdesk ARGS` in this process: its exit code (argparse's SystemExit too),
    stdout and stderr. The environment never points at a real settings file."""
    monkeypatch.setenv("CREDITDESK_CONFIG", os.devnull)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "80")     # tables fit 80 columns, whatever runs pytest

    def run(*args: str, env: dict | None = None) -> Result:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        for name in env or {}:
            monkeypatch.delenv(name)
        return Result(code, out, err)
    return run


@dataclass
class Served:
    url: str
    tokens: dict[str, str]

    def env(self, role: str) -> dict[str, str]:
        return {"CREDITDESK_URL": self.url, "CREDITDESK_TOKEN": self.tokens[role]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`creditdesk serve --demo` (24 members) on a free loopback port."""
    token_file = tmp_path_factory.mktemp("operator") / "token"
    token_file.write_text(OPERATOR + "\n")
    token_file.chmod(0o600)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CREDITDESK_OPERATOR_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-c", MAIN, "serve", "--demo", "--port", "0",
                                "--operator-token-file", str(token_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    url, tokens = None, {}
    try:
        for line in process.stdout:
            found = SERVING.fullmatch(line)
            if found:
                url = found.group(1)
            role = ROLE_TOKEN.search(line)
            if role:
                tokens[role.group(1)] = role.group(2)
            if len(tokens) == 3:
                break
        if url is None or len(tokens) != 3:
            raise AssertionError(f"serve --demo did not say how to connect: "
                                 f"{process.stderr.read()}")
        yield Served(url, tokens)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
