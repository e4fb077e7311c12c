"""`creditdesk demo` in a pseudo-terminal with live activity: what the cell-diffing driver
sends leaves a terminal (pyte, an emulator) showing exactly what everything Textual wrote
would have shown, in fewer bytes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pyte
import pytest

pty = pytest.importorskip("pty")

# The demo, with what Textual hands the driver written to a file before it is diffed.
RECORDING_DEMO = """
import sys
from creditdesk.tui import terminal_driver

recording = open(sys.argv[1], "w", encoding="utf-8")
diffing_write = terminal_driver.CellDiffDriver.write


def write(self, data):
    recording.write(data)
    recording.flush()
    diffing_write(self, data)


terminal_driver.CellDiffDriver.write = write
from creditdesk.cli import main

sys.argv = ["creditdesk", "demo"]
sys.exit(main())
"""


class Terminal:
    """The demo in an 80x24 pseudo-terminal; `read_until` collects what it sends."""

    def __init__(self, tmp_path) -> None:
        import fcntl
        import struct
        import termios

        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24",
               "CREDITDESK_CONFIG": str(tmp_path / "config.toml")}
        for name in ("NO_COLOR", "COLORTERM", "TEXTUAL"):
            env.pop(name, None)
        self.recording = tmp_path / "textual.out"
        self.leader, follower = pty.openpty()
        os.set_blocking(self.leader, False)
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECORDING_DEMO, str(self.recording)], stdin=follower,
            stdout=follower, stderr=follower, env=env, start_new_session=True)
        os.close(follower)
        self.sent = b""

    def read_until(self, wanted: bytes | None, *, quiet: float, seconds: float = 30.0) -> None:
        """Read until `wanted` was sent (if given) and then nothing came for `quiet` s."""
        deadline = time.monotonic() + seconds
        last = time.monotonic()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.leader], [], [], 0.1)
            if ready:
                try:
                    self.sent += os.read(self.leader, 65536)
                except OSError:
                    break
                last = time.monotonic()
            elif (wanted is None or wanted in self.sent) and time.monotonic() - last > quiet:
                return
        assert wanted is None or wanted in self.sent, f"{wanted!r} never shown"

    def press(self, key: str) -> None:
        os.write(self.leader, key.encode())

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)
        os.close(self.leader)


def screen(data: str) -> list[list[tuple]]:
    emulator = pyte.Screen(80, 24)
    pyte.Stream(emulator).feed(data)
    return [[(cell.data, cell.fg, cell.bg, cell.bold, cell.reverse)
             for cell in (emulator.buffer[y][x] for x in range(80))] for y in range(24)]


def test_live_activity_looks_the_same_for_fewer_bytes(tmp_path):
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(b"credits ($", quiet=1.0)
        terminal.press("l")          # live activity: figures move every second
        terminal.read_until(None, quiet=5.0, seconds=5.0)
        terminal.press("u")          # the usage chart moving
        terminal.read_until(None, quiet=3.0, seconds=3.0)
        terminal.press("o")
        terminal.read_until(None, quiet=3.0, seconds=3.0)
        terminal.press("l")          # live off: the screen comes to rest
        terminal.read_until(None, quiet=1.5)
        at_rest = len(terminal.sent)
        terminal.press("\x0c")       # ctrl+l: everything again
        terminal.read_until(None, quiet=1.5)
    finally:
        terminal.close()
    textual_wrote = terminal.recording.read_text(encoding="utf-8")
    sent = terminal.sent.decode("utf-8")
    shown = screen(sent)
    assert shown == screen(textual_wrote)
    assert any("credits" in "".join(cell[0] for cell in row) for row in shown)
    # Most of what Textual writes on a live tick is cells that were already there.
    assert len(sent.encode()) < 0.8 * len(textual_wrote.encode())
    redrawn = terminal.sent[at_rest:].decode("utf-8")
    assert "CreditDesk" in redrawn and "Balance" in redrawn


@pytest.fixture
async def driver(monkeypatch):
    """A CellDiffDriver that is not started; what it hands on to Textual's is collected."""
    import signal

    from textual import events
    from textual.drivers.linux_driver import LinuxDriver
    from textual.geometry import Size

    from creditdesk.tui.terminal_driver import CellDiffDriver

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}
    sent: list[str] = []
    monkeypatch.setattr(LinuxDriver, "write", lambda self, data: sent.append(data))
    # (Textual's would post the event to the app; the resize is what is tested here.)
    monkeypatch.setattr(LinuxDriver, "process_message", lambda self, message: None)
    made = CellDiffDriver(object())
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    made.sent = sent
    made.resize = lambda: made.process_message(events.Resize(Size(80, 24), Size(80, 24)))
    return made


FRAME = "\x1b[3;5H\x1b[1mBalance\x1b[0m\x1b[1;1H"
AS_SENT = "\x1b[3;5H\x1b[0m\x1b[1mBalance\x1b[0m\x1b[1;1H"


async def test_a_frame_with_nothing_new_is_not_sent_at_all(driver):
    for _ in range(2):
        driver.write("\x1b[?2026h")
        driver.write(FRAME)
        driver.write("\x1b[?2026l")
    # (With the terminal's SGR not known yet, a reset goes first.)
    assert driver.sent == ["\x1b[?2026h" + AS_SENT, "\x1b[?2026l"]


async def test_after_a_resize_the_whole_frame_goes_out_again(driver):
    driver.write(FRAME)
    driver.write(FRAME)
    assert len(driver.sent) == 1
    driver.resize()
    driver.write(FRAME)
    assert driver.sent[-1] == AS_SENT
