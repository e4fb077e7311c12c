"""`creditdesk demo` in a real terminal (a pseudo-terminal, TERM=xterm-256color): what it
sends must be readable. Headless Pilot runs and snapshots style the screen on a path of
their own, so a start-up shortcut once drew every figure in the background's own colour
(38;5;233 on 48;5;233) in a real terminal while every snapshot still looked right."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import pytest

pty = pytest.importorskip("pty")

# One SGR sequence, and the text drawn right after it.
SGR_THEN_TEXT = re.compile(rb"\x1b\[([0-9;]*)m([^\x1b]+)")


def screen_bytes(tmp_path, wanted: bytes, seconds: float = 30.0) -> bytes:
    """What `creditdesk demo` writes to an 80x24 terminal until `wanted` has been shown."""
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24",
           "CREDITDESK_CONFIG": str(tmp_path / "config.toml")}
    for name in ("NO_COLOR", "COLORTERM", "TEXTUAL"):
        env.pop(name, None)
    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    import fcntl
    import struct
    import termios
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from creditdesk.cli import main; sys.exit(main())",
         "demo"], stdin=follower, stdout=follower, stderr=follower, env=env,
        start_new_session=True)
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + seconds
        while wanted not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break       # the program ended
        time.sleep(0.5)         # the rest of that frame
        try:
            seen += os.read(leader, 65536)
        except OSError:
            pass
    finally:
        process.kill()
        process.wait(10)
        os.close(leader)
    assert wanted in seen, f"{wanted!r} never shown; the program wrote {seen[-2000:]!r}"
    return seen


def colours(parameters: bytes) -> tuple[str | None, str | None]:
    """(foreground, background) an SGR's parameters set, e.g. ('5;253', '5;233')."""
    fields = parameters.decode().split(";")
    fg = bg = None
    n = 0
    while n < len(fields):
        if fields[n] in ("38", "48") and n + 2 < len(fields) and fields[n + 1] == "5":
            value = f"5;{fields[n + 2]}"
            fg, bg = (value, bg) if fields[n] == "38" else (fg, value)
            n += 3
        elif fields[n] in ("38", "48") and n + 4 < len(fields) and fields[n + 1] == "2":
            value = ";".join(fields[n + 1:n + 5])
            fg, bg = (value, bg) if fields[n] == "38" else (fg, value)
            n += 5
        else:
            n += 1
    return fg, bg


def test_the_overviews_figures_are_not_drawn_in_their_backgrounds_colour(tmp_path):
    sent = screen_bytes(tmp_path, b"credits ($")
    drawn = [(colours(sgr), text) for sgr, text in SGR_THEN_TEXT.findall(sent)
             if b"credits" in text or b"Balance" in text]
    assert drawn, "no figure was drawn after a colour sequence"
    invisible = [text for (fg, bg), text in drawn if fg is not None and fg == bg]
    assert not invisible, f"drawn in the background's colour: {invisible[:3]!r}"
