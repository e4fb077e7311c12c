"""Textual's Linux/macOS driver, sending only the cells that changed (see terminal_cells).

The app picks it in place of `LinuxDriver` (`CreditDeskApp.get_driver_class`); the
browser, headless and Windows drivers are left as they are.
"""

from __future__ import annotations

import signal

from textual import events
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from .terminal_cells import SentCells

# Textual brackets each frame with these (synchronized output) when the terminal has it.
FRAME_START = "\x1b[?2026h"
FRAME_END = "\x1b[?2026l"


class CellDiffDriver(LinuxDriver):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The app's own, when it keeps one (CreditDeskApp forgets it on ctrl+l).
        app = args[0] if args else kwargs["app"]
        self.sent_cells = getattr(app, "sent_cells", None) or SentCells()
        self._resized = False
        self._frame_open = False   # FRAME_START seen, not sent yet
        self._frame_sent = False   # FRAME_START sent: FRAME_END follows

    def write(self, data: str) -> None:
        if data == FRAME_START:
            self._frame_open, self._frame_sent = True, False
            return
        if data == FRAME_END and self._frame_open:
            self._frame_open = False
            if self._frame_sent:
                super().write(FRAME_END)
            return  # a frame with nothing new is not sent at all
        if self._resized:
            # The terminal may have rewrapped or cleared what it showed.
            self._resized = False
            self.sent_cells.forget()
        out = self.sent_cells.frame(data)
        if not out:
            return
        if self._frame_open and not self._frame_sent:
            self._frame_sent = True
            out = FRAME_START + out
        super().write(out)

    def start_application_mode(self) -> None:
        # Also on resuming after ctrl+z or a suspend: the shell drew over everything.
        self.sent_cells.forget()
        super().start_application_mode()
        textual_handler = signal.getsignal(signal.SIGWINCH)

        def resized(signum, frame) -> None:
            # Only a flag: this runs between any two bytecodes of the thread that writes.
            self._resized = True
            if callable(textual_handler):
                textual_handler(signum, frame)

        signal.signal(signal.SIGWINCH, resized)

    def process_message(self, message: Message) -> None:
        if isinstance(message, events.Resize):  # in-band resize reports (mode 2048)
            self._resized = True
        super().process_message(message)
