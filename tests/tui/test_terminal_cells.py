"""The cell-diffing output (tui/terminal_cells.py): a terminal fed only the changed cells
shows exactly what it shows when fed everything Textual wrote, in fewer bytes."""

from __future__ import annotations

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.tui.terminal_cells import SentCells, move_to, spans

WIDTH, HEIGHT = 24, 6
STYLES = ["", "1", "38;5;253;48;5;233", "1;38;5;253;48;5;233", "7;38;5;23;48;5;233",
          "38;5;32;48;5;233"]
# Narrow letters and block glyphs (3 bytes each in UTF-8), and wide characters.
CHARACTERS = "ab0123,.$ █▓▒▌漢字"


def screen_after(stream: list[str]) -> tuple[list[list[tuple]], tuple[int, int]]:
    screen = pyte.Screen(WIDTH, HEIGHT)
    feed = pyte.Stream(screen)
    for data in stream:
        feed.feed(data)
    cells = [[(char.data, char.fg, char.bg, char.bold, char.reverse)
              for char in (screen.buffer[y][x] for x in range(WIDTH))]
             for y in range(HEIGHT)]
    return cells, (screen.cursor.x, screen.cursor.y)


def segment(style: str, text: str) -> str:
    """As Rich writes a segment: its style, its text, a reset."""
    return f"\x1b[{style}m{text}\x1b[0m" if style else text


@st.composite
def frames(draw) -> list[str]:
    """Frames as Textual writes them: lines of styled segments placed by cursor moves,
    sometimes several lines joined by CRLF, sometimes an erase; the cursor placed last."""
    written = []
    for _ in range(draw(st.integers(1, 6))):
        parts = []
        for _ in range(draw(st.integers(1, 4))):
            y = draw(st.integers(0, HEIGHT - 1))
            x = draw(st.integers(0, WIDTH - 2))
            parts.append(move_to(x, y))
            room = WIDTH - x
            for _ in range(draw(st.integers(1, 3))):
                text = draw(st.text(CHARACTERS, min_size=1, max_size=6))
                while text and sum(2 if ord(c) > 0x3000 else 1 for c in text) > room:
                    text = text[:-1]
                if not text:
                    break
                room -= sum(2 if ord(c) > 0x3000 else 1 for c in text)
                parts.append(segment(draw(st.sampled_from(STYLES)), text))
            if y < HEIGHT - 1 and draw(st.booleans()):
                parts.append("\r\n" + segment(draw(st.sampled_from(STYLES)), "ab"))
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(st.sampled_from(["\x1b[2J", "\x1b[K", "\x1b[?1049h"])))
        parts.append(move_to(draw(st.integers(0, WIDTH - 1)), draw(st.integers(0, HEIGHT - 1))))
        written.append("".join(parts))
    return written


@settings(max_examples=300, deadline=None)
@given(frames())
def test_the_terminal_shows_the_same_screen_fed_only_the_changes(written):
    cells = SentCells()
    assert screen_after([cells.frame(data) for data in written]) == screen_after(written)


@st.composite
def screenful(draw) -> str:
    """One frame writing each of some lines once, from its left edge, in narrow glyphs."""
    parts = []
    for y in draw(st.sets(st.integers(0, HEIGHT - 1), min_size=1)):
        parts.append(move_to(0, y))
        for style, text in draw(st.lists(st.tuples(st.sampled_from(STYLES),
                                                   st.text("ab0$ █▓▌", min_size=1, max_size=4)),
                                         min_size=1, max_size=WIDTH // 4)):
            parts.append(segment(style, text))
    return "".join(parts) + move_to(0, 0)


@settings(max_examples=100, deadline=None)
@given(frames(), screenful())
def test_a_frame_written_again_sends_nothing(before, frame):
    # Textual repaints regions that did not change (a toast's second layout, say).
    cells = SentCells()
    for data in before:
        cells.frame(data)
    cells.frame(frame)
    assert cells.frame(frame) == ""


def test_a_live_tick_sends_the_digits_that_moved_not_the_line():
    cells = SentCells()
    style = "1;38;5;253;48;5;233"
    cells.frame(move_to(20, 9) + segment(style, "123,145 credits ($615.72)") + move_to(0, 0))
    out = cells.frame(move_to(20, 9) + segment(style, "123,195 credits ($615.97)")
                      + move_to(0, 0))
    # The changed cells alone; the style stays set across the jump.
    assert out == f"\x1b[10;26H\x1b[{style}m9\x1b[10;43H97\x1b[0m\x1b[1;1H"
    assert cells.frame(move_to(20, 9) + segment(style, "123,195 credits ($615.97)")
                       + move_to(0, 0)) == ""


def test_a_gap_shorter_than_a_cursor_move_is_sent_through():
    assert list(spans([0, 1, 4, 20], bridge=7)) == [(0, 5), (20, 21)]
    assert list(spans([], bridge=7)) == []


def test_leaving_the_alternate_screen_does_not_move_the_shells_cursor():
    cells = SentCells()
    cells.frame(move_to(3, 3) + "abc" + move_to(5, 5))
    assert cells.frame("\x1b[?1049l") == "\x1b[?1049l"


def test_after_an_erase_everything_is_sent_again():
    cells = SentCells()
    cells.frame(move_to(0, 0) + "abc")
    cells.frame("\x1b[2J")
    assert "abc" in cells.frame(move_to(0, 0) + "abc")
