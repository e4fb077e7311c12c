"""Send the terminal only the cells that changed (over SSH every byte counts).

Textual repaints a region by writing whole segments of text: when a toast goes away it
writes again every line that was under it, from where the text there starts, and a live
tick writes a whole figure when its last digits moved. `SentCells` remembers what the
terminal shows (a character and its SGR attributes per cell), reads each frame Textual
writes (cursor moves, SGR, text) and passes on only the runs of cells that differ.

Whatever it does not model (erasing, scrolling, the alternate screen, wide characters
half overwritten, a terminal that changed size) makes it forget what it knew, so the
cells concerned go out again: it can send more than needed, never less.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rich.cells import cell_len, get_character_cell_size

# CSI (with its parameters and final byte), OSC and other string sequences, two-byte
# escapes, single control characters, and runs of printable text.
TOKEN = re.compile(
    r"\x1b\[(?P<params>[0-?]*)(?P<inter>[ -/]*)(?P<final>[@-~])"
    r"|\x1b[\]P^_X].*?(?:\x07|\x1b\\)"
    r"|\x1b[\s\S]?"
    r"|(?P<control>[\x00-\x1f\x7f])"
    r"|(?P<text>[^\x00-\x1f\x7f\x1b]+)",
    re.DOTALL,
)
POSITION = re.compile(r"\d*(?:;\d*)?")  # CUP's "row;column", either left out for 1
# Of the private modes (cursor, mouse, paste, focus, sync...), the ones that change what is
# on the screen: the alternate screen swaps every cell.
SCREEN_SWAPPING_MODES = {"47", "1047", "1049"}


def move_to(x: int, y: int) -> str:
    return f"\x1b[{y + 1};{x + 1}H"


def sgr_after(current: str, params: str) -> str:
    """The SGR parameters in effect after `ESC [ params m` (Rich resets with `0` or none)."""
    if params in ("", "0"):
        return ""
    if not current and not params.startswith(("0;", ";")):
        return params  # Rich's way: a reset, then one sequence with the whole style
    parts = params.split(";")
    if parts[0] in ("0", ""):
        current, parts = "", parts[1:]
    extra = ";".join(parts)
    if not extra:
        return current
    return f"{current};{extra}" if current else extra


class SentCells:
    """What the terminal shows, as far as this knows; `frame(text)` returns what to send."""

    def __init__(self) -> None:
        # Per line, the character and the SGR parameters of each cell (None: not known);
        # lists, so a run of unchanged cells is found equal by slices, not cell by cell.
        self.chars: dict[int, list[str | None]] = {}
        self.sgrs: dict[int, list[str | None]] = {}
        # Where the incoming stream's cursor is and its SGR, as Textual means them.
        self.x = self.y = 0
        self.sgr = ""
        # The terminal's own cursor and SGR after what was sent (None: not known).
        self.sent_at: tuple[int, int] | None = None
        self.sent_sgr: str | None = None

    def forget(self) -> None:
        """Nothing known of the screen: the next cells written all go out."""
        self.chars.clear()
        self.sgrs.clear()
        self.sent_at = None
        self.sent_sgr = None

    def frame(self, data: str) -> str:
        out: list[str] = []
        placed = False  # the stream put its cursor somewhere (a frame always does)
        for match in TOKEN.finditer(data):
            kind = match.lastgroup
            if kind == "text":
                self._text(match.group(), out)
                placed = True
            elif kind == "final":
                if match.group("final") == "m" and not match.group("inter"):
                    self.sgr = sgr_after(self.sgr, match.group("params"))  # the most common
                else:
                    placed = self._csi(match, out) or placed
            elif kind == "control":
                self._control(match.group(), out)
            else:
                self._unknown(match.group(), out)  # OSC, two-byte escapes: not modelled
        if self.sent_sgr:
            out.append("\x1b[0m")  # as Textual leaves it: nothing sent after carries it
            self.sent_sgr = ""
        if placed and self.sent_at != (self.x, self.y):
            # Textual ends a frame by placing the cursor (for IMEs and the like); a write of
            # modes alone (leaving the alternate screen at exit) must not move it.
            out.append(move_to(self.x, self.y))
            self.sent_at = (self.x, self.y)
        return "".join(out)

    # --- what the stream does ---------------------------------------------------------------
    def _csi(self, match: re.Match[str], out: list[str]) -> bool:
        """Apply one control sequence; True if it placed the cursor."""
        params, final = match.group("params"), match.group("final")
        if final in "Hf" and not match.group("inter") and POSITION.fullmatch(params):
            row, _, column = params.partition(";")
            self.y = int(row or 1) - 1
            self.x = int(column or 1) - 1
            return True
        elif final in "hl" and params.startswith("?") and not (
                set(params[1:].split(";")) & SCREEN_SWAPPING_MODES):
            out.append(match.group())
        else:
            self._unknown(match.group(), out)  # erase, scroll, insert...: the screen changes
        return False

    def _control(self, char: str, out: list[str]) -> None:
        if char == "\r":
            self.x = 0
        elif char == "\n":
            self.y += 1
        else:
            self._unknown(char, out)

    def _unknown(self, sequence: str, out: list[str]) -> None:
        """Pass on what is not modelled, with the cursor and SGR the stream had there (an
        erase fills with the current background, from the cursor), then forget."""
        self._place(self.x, self.y, out)
        out.append(sequence)
        self.forget()

    def _text(self, text: str, out: list[str]) -> None:
        if not text.isascii() and any(get_character_cell_size(char) != 1 for char in text):
            self._odd_text(text, out)
            return
        x0, y, sgr, width = self.x, self.y, self.sgr, len(text)
        self.x = x0 + width
        chars, sgrs = self._line(y, x0 + width)
        was_chars, was_sgrs = chars[x0:x0 + width], sgrs[x0:x0 + width]
        if was_chars == list(text) and was_sgrs == [sgr] * width:
            return  # the usual case: all there already
        changed = [index for index, char in enumerate(text)
                   if was_chars[index] != char or was_sgrs[index] != sgr]
        for start, end in spans(changed, len(move_to(x0, y))):
            self._send(x0 + start, y, text[start:end], out)

    def _line(self, y: int, width: int) -> tuple[list[str | None], list[str | None]]:
        chars = self.chars.setdefault(y, [])
        sgrs = self.sgrs.setdefault(y, [])
        if len(chars) < width:
            chars.extend([None] * (width - len(chars)))
            sgrs.extend([None] * (width - len(sgrs)))
        return chars, sgrs

    def _odd_text(self, text: str, out: list[str]) -> None:
        """Text with wide or zero-width characters: sent as it is, its cells not kept."""
        x, y = self.x, self.y
        width = cell_len(text)
        self._place(x, y, out)
        out.append(text)
        chars, sgrs = self._line(y, x + width + 1)
        start = max(0, x - 1)
        chars[start:x + width + 1] = sgrs[start:x + width + 1] = [None] * (x + width + 1 - start)
        self.x = x + width
        self.sent_at = (self.x, y)

    # --- what is sent --------------------------------------------------------------------------
    def _send(self, x: int, y: int, text: str, out: list[str]) -> None:
        """Send narrow `text` at (x, y) and keep its cells."""
        self._place(x, y, out)
        out.append(text)
        self.sent_at = (x + len(text), y)
        # (A wide character's cells are never kept, so overwriting half of one, which
        # blanks its other half, leaves nothing wrong here.)
        chars, sgrs = self._line(y, x + len(text))
        chars[x:x + len(text)] = text
        sgrs[x:x + len(text)] = [self.sgr] * len(text)

    def _place(self, x: int, y: int, out: list[str]) -> None:
        """Bring the terminal's cursor to (x, y) and its SGR to the stream's."""
        if self.sent_at != (x, y):
            if self.sent_at is not None and x == 0 and y == self.sent_at[1] + 1:
                out.append("\r\n")  # the next line's start: shorter than a move
            else:
                out.append(move_to(x, y))
        if self.sent_sgr != self.sgr:
            if self.sent_sgr != "":
                out.append("\x1b[0m")
            if self.sgr:
                out.append(f"\x1b[{self.sgr}m")
            self.sent_sgr = self.sgr
        self.sent_at = (x, y)


def spans(changed: list[int], bridge: int) -> Iterator[tuple[int, int]]:
    """[start, end) runs covering the changed indexes; a gap shorter than `bridge` (what
    a cursor move costs) is sent rather than jumped."""
    if not changed:
        return
    start = previous = changed[0]
    for index in changed[1:]:
        if index - previous - 1 >= bridge:
            yield start, previous + 1
            start = index
        previous = index
    yield start, previous + 1
