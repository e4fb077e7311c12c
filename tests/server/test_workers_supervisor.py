"""`serve_workers`: N processes accepting on one socket, one killed is replaced, and a
signal stops them all. Runs a bare app that says which process answered."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

SCRIPT = r"""
import sys
from fastapi import FastAPI
from creditdesk.server.runner import bind, serve_workers, url_of

def build():
    import os
    app = FastAPI()
    @app.get("/pid")
    def pid():
        return {"pid": os.getpid()}
    return app

sock = bind("127.0.0.1", 0)
sys.exit(serve_workers(int(sys.argv[1]), sock, build,
                       lambda: print("ready", url_of(sock), flush=True),
                       lambda line: print(line, flush=True)))
"""


def start(count: int):
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(count)],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("ready "), line
    return process, line.split()[1]


def pids_seen(url: str, tries: int = 200) -> set[int]:
    host, port = url.removeprefix("http://").split(":")
    seen = set()
    for _ in range(tries):
        # A new connection each time: the kernel spreads them over the accepting workers.
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", "/pid")
            seen.add(json.loads(connection.getresponse().read())["pid"])
        finally:
            connection.close()
    return seen


def test_workers_share_the_socket_and_a_killed_one_is_replaced():
    process, url = start(3)
    try:
        seen = pids_seen(url)
        assert 2 <= len(seen) <= 3
        victim = sorted(seen)[0]
        os.kill(victim, signal.SIGKILL)
        assert "starting another" in process.stdout.readline()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            later = pids_seen(url, 60)
            if victim not in later and len(later) >= 2:
                break
        assert victim not in later
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    # Every worker is gone with the supervisor.
    for pid in seen:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {pid} outlived the server")
