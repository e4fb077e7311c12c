"""The command palette's provider: every action of the app and of the current screen."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import CreditDeskApp


class CreditDeskCommands(Provider):
    """Screens, context switches, the screen's own bindings and extra commands. Entries the
    role may not run stay listed with the reason, and are refused when chosen."""

    app: CreditDeskApp

    def _commands(self):
        for entry in self.app.palette_entries(self.screen):
            title, help_text, action, namespace, refused = entry
            if refused:
                help_text = f"{refused} · {help_text}"
            yield title, help_text, partial(self.app.run_palette_action, namespace, action)

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
