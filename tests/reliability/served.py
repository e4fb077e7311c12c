"""`creditdesk serve` as a real subprocess on a temp SQLite file (or a PostgreSQL database of
the session's server, `books("postgresql", ...)`): start, wait, kill -9, restart.

Durability and multi-threaded HTTP checks go through the real command and store, exactly as
a user runs it, rather than an in-process app that would share the test's memory.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .worlds import START

_SERVING = re.compile(r"creditdesk serving on (http://\S+)")
_MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"


# The stores the served concurrency scenarios run on. PostgreSQL is not in the default yet:
# one `creditdesk serve` on it answers 503 (its pool of 15 connections times out after 10 s)
# under the 16-20 concurrent clients of those scenarios; run it by hand with
# CREDITDESK_SERVED_STORES=sqlite,postgresql.
SERVED_STORES = os.environ.get("CREDITDESK_SERVED_STORES", "sqlite").split(",")


class ServeFailed(RuntimeError):
    pass


@contextmanager
def books(kind: str, workdir: Path) -> Iterator[Path | str]:
    """What `--db` names for a store kind: a SQLite file in `workdir`, or the URL of a fresh
    database on the session's PostgreSQL (dropped afterwards)."""
    if kind == "sqlite":
        yield Path(workdir) / "creditdesk.db"
        return
    from tests.support.postgres import shared_cluster
    cluster = shared_cluster()
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


class ServedProcess:
    """One `creditdesk serve` on `db`; `start()` may be called again after `kill()`."""

    def __init__(self, workdir: Path, *, db: Path | str | None = None,
                 test_clock: str | None = None,
                 env: dict[str, str] | None = None, startup_timeout: float = 60.0) -> None:
        self.workdir = Path(workdir)
        self.db = db or self.workdir / "creditdesk.db"
        self.test_clock = test_clock or START.isoformat()
        self.operator_token = secrets.token_urlsafe(24)
        self.token_file = self.workdir / "operator-token"
        self.token_file.write_text(self.operator_token)
        self.token_file.chmod(0o600)    # the server refuses a token file others can read
        self.extra_env = env or {}
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.starts = 0

    def start(self) -> str:
        assert self.process is None, "already running"
        self.starts += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        env.pop("CREDITDESK_OPERATOR_TOKEN", None)
        stderr = open(self.workdir / f"serve-{self.starts}.stderr", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _MAIN, "serve", "--host", "127.0.0.1", "--port", "0",
             "--db", str(self.db), "--operator-token-file", str(self.token_file),
             "--test-clock", self.test_clock],
            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
            cwd=self.workdir, text=True)
        stderr.close()
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=self.startup_timeout)
            except queue.Empty:
                self.kill()
                raise ServeFailed(f"no 'creditdesk serving on' line within "
                                  f"{self.startup_timeout} s") from None
            if line is None:
                code = self.process.wait()
                self.process = None
                raise ServeFailed(f"creditdesk serve exited with {code}: {self.stderr()[-2000:]}")
            found = _SERVING.search(line)
            if found:
                self.url = found.group(1).rstrip("/")
                return self.url

    def stderr(self) -> str:
        path = self.workdir / f"serve-{self.starts}.stderr"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, exactly a crash."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> ServedProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _pump(stream, lines: queue.Queue) -> None:
    # Keep draining stdout after start-up too, so a chatty server never blocks on a full pipe.
    for line in stream:
        lines.put(line)
    lines.put(None)
