"""`creditdesk web --demo` in a real headless Chromium: the page with its key draws the
dashboard (read from xterm.js's own buffer, not the HTML), and nothing opens without it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest

from .conftest import MAIN

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WEB_LINE = re.compile(r"creditdesk web on (http://127\.0\.0\.1:\d+)/\?key=(\S+)\n")
DEMO = ("--members", "12", "--months", "3", "--seed", "7")
BALANCE_WITHIN = 60.0       # seconds: page load, a Python start and a demo world

# Captures every xterm.js Terminal the page makes: textual-serve keeps its terminal in a
# closure, so the test catches the object as it is assigned (`this.terminal = new Terminal`)
# and reads its buffer through xterm's public API.
CATCH_TERMINALS = """
window.__terminals = [];
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(value) {
    if (value && value.buffer) window.__terminals.push(value);
    Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true,
                                             enumerable: true});
  },
});
"""
READ_BUFFER = """
const term = (window.__terminals || []).find(t => t.buffer && t.buffer.active);
if (!term) return null;
const buffer = term.buffer.active, lines = [];
for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
return lines.join('\\n');
"""


def browser_missing() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if not missing:
        return None
    return f"no {' and no '.join(missing)} (apt-get install chromium chromium-driver)"


@pytest.fixture
def web():
    """`creditdesk web --demo` on a free loopback port: (base URL, key)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CREDITDESK_CONFIG": os.devnull}
    process = subprocess.Popen([sys.executable, "-c", MAIN, "web", "--demo", "--port", "0",
                                *DEMO], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    try:
        line = process.stdout.readline()
        found = WEB_LINE.fullmatch(line)
        if not found:
            raise AssertionError(f"no URL line: {line!r} {process.stderr.read()}")
        yield found.group(1), found.group(2)
    finally:
        # The whole group: the web server and the dashboard processes it started.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_without_the_key_page_and_websocket_are_refused(web):
    base, key = web
    assert httpx.get(f"{base}/").status_code == 403
    assert httpx.get(f"{base}/?key=wrong-{key}").status_code == 403
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert httpx.get(f"{base}/ws", headers=upgrade).status_code == 403
    assert httpx.get(f"{base}/ws", headers=upgrade,
                     cookies={"creditdesk_web": "guess"}).status_code == 403
    page = httpx.get(f"{base}/?key={key}")
    assert page.status_code == 200 and "textual-terminal" in page.text
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=Strict" in page.headers["set-cookie"]


def test_the_browser_shows_the_overview_balance(web):
    reason = browser_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from creditdesk.demo import build_demo
    world = build_demo(now=datetime.now(UTC).replace(microsecond=0), seed=7, members=12,
                       months=3)
    total = world.engine.session(world.owner).balance(world.org_id).total
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": CATCH_TERMINALS})
        base, key = web
        started = time.monotonic()
        driver.get(f"{base}/?key={key}")
        screen = ""
        while time.monotonic() - started < BALANCE_WITHIN:
            screen = driver.execute_script(READ_BUFFER) or ""
            if f"{total:,}" in screen:
                break
            time.sleep(0.2)
        assert f"{total:,}" in screen, f"no balance {total:,} on screen:\n{screen}"
        print(f"balance shown in the browser after {time.monotonic() - started:.2f} s")
    finally:
        driver.quit()


@pytest.mark.parametrize("argv", [["web", "--port", "99999"], ["web", "--members", "50"],
                                  ["web"]])
def test_bad_usage_or_no_server_configured_is_2_before_serving(cli, monkeypatch, argv):
    monkeypatch.delenv("CREDITDESK_URL", raising=False)
    monkeypatch.delenv("CREDITDESK_TOKEN", raising=False)
    result = cli(*argv)
    assert result.code == 2 and "creditdesk web" in result.err and result.out == ""


def test_the_served_command_is_the_dashboard_with_the_same_flags():
    from argparse import Namespace

    from creditdesk.cli.web import app_command
    demo = app_command(Namespace(demo=True, role="admin", members=50, months=2, seed=3))
    assert demo.endswith("demo --as admin --members 50 --months 2 --seed 3")
    remote = app_command(Namespace(demo=False, role="owner", members=24, months=6, seed=7))
    assert remote.endswith("sys.exit(main())'")     # plain `creditdesk`: the server's
