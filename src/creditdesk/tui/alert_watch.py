"""AlertWatch: the header's count of unseen alerts and the toast when one arrives.

It asks for the newest page of alerts only when the app's figures change anyway (a change
accepted, a live-activity tick, the remote refresh interval) or the context switches, never
on a timer of its own. "Unseen" is per context: alerts newer than the newest one the person
has looked at on the Alerts screen in this run of the dashboard. The first answer for a
context raises no toast (nothing arrived while they watched); any later answer with alerts
newer than the newest known one does, once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.message import Message

from ..errors import BillingError
from ..models import Alert, Context
from .permissions import role_allows

if TYPE_CHECKING:
    from .app import CreditDeskApp

# The page asked for: counts above it show as "100+" rather than cost a second call.
UNSEEN_PAGE = 100


class AlertsSeen(Message):
    """The Alerts screen showed alerts up to `newest_id` of `account_id`: they are seen."""

    def __init__(self, account_id: str, newest_id: int) -> None:
        super().__init__()
        self.account_id = account_id
        self.newest_id = newest_id


def unseen_count(ids: list[int], seen: int) -> int:
    return sum(1 for alert_id in ids if alert_id > seen)


def badge_text(count: int, complete: bool) -> str:
    """What the header says: nothing for none, else "3 new alerts (n)"."""
    if count == 0:
        return ""
    figure = f"{count:,}" if complete else f"{count:,}+"
    return f"{figure} new alert{'' if count == 1 else 's'} (n)"


def arrival_toast(fresh: list[Alert]) -> tuple[str, str]:
    """(title, message) of the toast for alerts that arrived while the person watched."""
    newest = fresh[0]
    if len(fresh) == 1:
        return "New alert", newest.message
    return f"{len(fresh)} new alerts", f"{newest.message} (and {len(fresh) - 1} more: press n)"


class AlertWatch:
    """Owned by the app; `start()` once mounted. `mark_seen` is called when the Alerts
    screen has shown alerts up to an id. `on_badge(text)` receives the header's text."""

    def __init__(self, app: CreditDeskApp, on_badge: Callable[[str], None]) -> None:
        self.app = app
        self.on_badge = on_badge
        self.seen: dict[str, int] = {}      # account -> newest alert id looked at
        self.known: dict[str, int] = {}     # account -> newest alert id fetched
        self.ids: dict[str, list[int]] = {}  # account -> ids of the last page, newest first

    def start(self) -> None:
        self.app.watch(self.app, "context", self._context_changed, init=False)
        self.app.watch(self.app, "data_version", self._data_changed, init=False)

    def _context_changed(self, context: Context | None) -> None:
        self.on_badge("")
        self.check()

    def _data_changed(self, version: int) -> None:
        self.check()

    def toasts_for(self, account_id: str) -> bool:
        """Whether a new alert of `account_id` gets a toast now (its context is the one
        shown, in a role that sees alerts)."""
        context = self.app.context
        return (context is not None and context.account_id == account_id
                and role_allows(context.role, "view_alerts"))

    def check(self) -> None:
        context = self.app.context
        if context is None or not self.toasts_for(context.account_id):
            self.on_badge("")
            return
        self.app.run_worker(partial(self._fetch, context), exclusive=True,
                            group="alert-watch", name="alert count", exit_on_error=False)

    async def _fetch(self, context: Context) -> None:
        account = context.account_id
        try:
            # Most refreshes bring no alert: the newest one alone says so, for a fraction
            # of the cost of a page (a live tick comes every second).
            head = await self.app.backend.alerts(account, limit=1)
            if account in self.known and [a.id for a in head] == self.ids[account][:1]:
                if self.app.context == context:
                    self._show(account)  # the badge a context switch cleared comes back
                return
            page = await self.app.backend.alerts(account, limit=UNSEEN_PAGE)
        except BillingError:
            return  # the screens say what is wrong; a stale count is kept, not a second toast
        if self.app.context != context:
            return  # switched while the answer was on its way
        newest = page[0].id if page else 0
        if account in self.known:
            fresh = [alert for alert in page if alert.id > self.known[account]]
            if fresh:
                title, message = arrival_toast(fresh)
                self.app.notify(message, title=title, severity="warning")
        self.known[account] = max(newest, self.known.get(account, 0))
        self.ids[account] = [alert.id for alert in page]
        self._show(account)

    def mark_seen(self, account: str, newest_id: int) -> None:
        if newest_id > self.seen.get(account, 0):
            self.seen[account] = newest_id
        if self.app.context is not None and self.app.context.account_id == account:
            self._show(account)

    def _show(self, account: str) -> None:
        ids = self.ids.get(account, [])
        count = unseen_count(ids, self.seen.get(account, 0))
        # A full page of unseen alerts may have more beyond it.
        self.on_badge(badge_text(count, complete=count < UNSEEN_PAGE))
