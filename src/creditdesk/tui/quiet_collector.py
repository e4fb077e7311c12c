"""QuietCollector: the cycle collector's full passes wait until nobody is pressing keys.

A full pass of Python's cycle collector walks every object the dashboard holds (10,000
members, a year of usage, Textual's widgets) and, with the 10,000-member demo world in
memory, froze the screen for a few hundred milliseconds several times on a tour of the
screens. The young generations stay automatic (they are small and catch most garbage);
the full pass is moved to a moment with no input for QUIET_SECONDS, and only once enough
has piled up for it to be worth a pass at all.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

# Without input this long, a person is reading, not typing: a pass then delays no key.
QUIET_SECONDS = 5.0
# Young collections since the last full pass before another is worth doing (Python's own
# trigger is 10, which a single load of 10,000 members reaches).
FULL_PASS_AFTER = 100
# Far beyond any count the young collections reach between two of our passes.
NEVER = 1_000_000_000


class QuietCollector:
    """`start()` takes over full passes, `touched()` on each key or click, `tick()` now and
    then (a timer), `stop()` gives Python its own thresholds back."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._saved: tuple[int, int, int] | None = None
        self._last_input = clock()
        self.passes = 0

    def start(self) -> None:
        if self._saved is not None:
            return
        self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, NEVER)

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def touched(self) -> None:
        self._last_input = self.clock()

    def due(self) -> bool:
        """A full pass is due: enough young passes piled up and no recent input."""
        if self._saved is None or not gc.isenabled():
            return False  # stopped, or someone (a demo build, a test) paused collection
        quiet = self.clock() - self._last_input >= QUIET_SECONDS
        return quiet and gc.get_count()[2] >= FULL_PASS_AFTER

    def tick(self) -> bool:
        """Run a full pass if one is due; True if it ran."""
        if not self.due():
            return False
        gc.collect()
        self.passes += 1
        return True
