"""CreditDeskApp: the dashboard's App: modes, the charged context, global keys, demo hooks.

Interface (for screens and tests):
- `CreditDeskApp(backend, *, clock=None, demo=None, cursor_blink=True, context=None,
  refresh_seconds=None)`: `backend` is any BillingBackend; `context` is the account id to
  open on (a saved default; ignored if the user has no such context); `refresh_seconds`
  reloads the figures on that interval (default: every 10 s when the backend is remote, so
  an admin watching over SSH sees usage move; never for the in-process engine);
  `clock()` returns an aware UTC datetime (default: the real UTC time; tests pass a fixed
  one); `demo` is an optional `DemoControls` (live activity, time travel, welcome line).
- `MODES`: overview, usage, members, invoices, settings, each imported on first use so
  start-up never pays for a screen (or plotext) it has not shown. It opens on `overview`.
- `app.identity` (models.Identity, once whoami answered), `app.context` (reactive
  models.Context: the charged account and the role there; the first org context, else the
  personal one), `app.data_version` (reactive int, bumped by `record_change`).
- Action `switch_context(account_id)`; key `c` and the palette list the contexts.
- `record_change(message)`: toast the change and make every screen reload quietly.
- `now()`: the injected clock; screens use it for anything time-based.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from datetime import UTC, datetime
from importlib import import_module
from typing import TYPE_CHECKING

from textual.actions import parse as parse_action
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.reactive import reactive
from textual.screen import Screen

from ..models import Context, Identity
from .commands import CreditDeskCommands
from .demo_controls import DemoControls
from .permissions import role_reason
from .styles import all_stylesheets
from .widgets.context_header import SCREEN_KEYS
from .widgets.error_note import describe_error

if TYPE_CHECKING:
    from ..backends import BillingBackend

# Where each mode's screen lives; usage.py and invoices.py belong to the usage/invoice work.
SCREEN_CLASSES = {
    "overview": "creditdesk.tui.screens.overview:OverviewScreen",
    "usage": "creditdesk.tui.screens.usage:UsageScreen",
    "members": "creditdesk.tui.screens.members:MembersScreen",
    "invoices": "creditdesk.tui.screens.invoices:InvoicesScreen",
    "settings": "creditdesk.tui.screens.settings:SettingsScreen",
}


def screen_factory(target: str) -> Callable[[], Screen]:
    """A MODES entry that imports its screen module only when the mode is first shown."""
    module_name, _, class_name = target.partition(":")

    def make() -> Screen:
        return getattr(import_module(module_name), class_name)()

    make.__qualname__ = make.__name__ = class_name
    return make


REMOTE_REFRESH_SECONDS = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CreditDeskApp(App[None]):
    """The CreditDesk dashboard over one BillingBackend (see the module docstring)."""

    TITLE = "CreditDesk"
    CSS_PATH = all_stylesheets()
    MODES = {mode: screen_factory(target) for mode, target in SCREEN_CLASSES.items()}
    # Starting in the mode (rather than switching to it on mount) builds the overview
    # before the stylesheet's first parse, which saves a full re-parse at start-up.
    DEFAULT_MODE = "overview"
    COMMANDS = App.COMMANDS | {CreditDeskCommands}
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", label, id=f"app.{mode}", show=False,
                  tooltip=f"Show the {label} screen") for mode, key, label in SCREEN_KEYS),
        Binding("c", "pick_context", "Context", id="app.context",
                tooltip="Choose which account (personal or an org) is charged"),
        Binding("question_mark,f1", "help", "Help", id="app.help", key_display="?",
                tooltip="Every key on this screen, in words"),
        Binding("l", "toggle_live", "Live", id="app.demo.live",
                tooltip="Demo: simulated agents spend credits every second"),
        Binding("t", "time_travel", "Next close", id="app.demo.time_travel",
                tooltip="Demo: jump to the next period close"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave CreditDesk"),
    ]

    identity: reactive[Identity | None] = reactive(None)
    identity_error: reactive[str | None] = reactive(None)
    context: reactive[Context | None] = reactive(None)
    data_version: reactive[int] = reactive(0)
    live: reactive[bool] = reactive(False)

    def __init__(self, backend: BillingBackend, *, clock: Callable[[], datetime] | None = None,
                 demo: DemoControls | None = None, cursor_blink: bool = True,
                 context: str | None = None, refresh_seconds: float | None = None) -> None:
        super().__init__()
        self.preferred_context = context
        if refresh_seconds is None and getattr(backend, "is_remote", False):
            refresh_seconds = REMOTE_REFRESH_SECONDS
        self.refresh_seconds = refresh_seconds
        self.cursor_blink = cursor_blink  # False in tests and snapshots: a still screen
        self.backend = backend
        self.clock = clock or _utc_now
        self.demo = demo
        self.welcome_pending = demo is not None
        self._identity_ready = asyncio.Event()
        self._live_timer = None
        self._modes = {mode: partial(self._new_mode_screen, factory)
                       for mode, factory in self._modes.items()}

    def _new_mode_screen(self, factory: Callable[[], Screen]) -> Screen:
        screen = factory()
        # Textual 8 re-applies every CSS rule when a mode's screen is first shown, and again
        # on its second visit (it marks the previous screen as up to date, not the new one):
        # 100-200 ms each with a big member list. A screen being created gets the current
        # CSS when it mounts anyway, so it starts out up to date. (If Textual renames this
        # private counter, the assignment is merely unused and the old cost comes back.)
        screen._css_update_count = self._css_update_count
        return screen

    def now(self) -> datetime:
        return self.clock()

    # --- start-up -----------------------------------------------------------------------
    def on_mount(self) -> None:
        # The screen is shown at once with placeholders; whoami answers in a worker.
        self._load_identity()
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self._refresh_figures)

    def _refresh_figures(self) -> None:
        # Quietly, like live activity: screens keep what the user is typing or choosing.
        if self.identity is not None:
            self.data_version += 1

    async def on_unmount(self) -> None:
        # The HTTP client belongs to this event loop, so it is closed here, not by the CLI.
        await self.backend.aclose()

    def _load_identity(self) -> None:
        self.identity_error = None
        self._identity_ready.clear()
        # Workers get the coroutine function, not a coroutine: one cancelled before it
        # starts (a retry came first) then leaves no never-awaited coroutine behind.
        self.run_worker(self._fetch_identity, exclusive=True, group="identity",
                        name="whoami")

    async def _fetch_identity(self) -> None:
        try:
            identity = await self.backend.whoami()
        except Exception as error:  # the header shows it in words, with retry
            self.identity_error = f"Cannot load your account: {describe_error(error)}"
        else:
            self.identity = identity
            orgs = [c for c in identity.contexts if c.kind == "org"]
            if self.context is None or self.context not in identity.contexts:
                preferred = [c for c in identity.contexts
                             if c.account_id == self.preferred_context]
                self.context = (preferred or orgs or identity.contexts)[0]
        finally:
            self._identity_ready.set()

    # --- context ------------------------------------------------------------------------
    async def action_switch_context(self, account_id: str) -> None:
        """Charge work to another account; every screen reloads from it."""
        await self._identity_ready.wait()
        if self.identity is None:
            self.notify("Your account has not loaded yet; press r to retry.",
                        severity="error")
            return
        for context in self.identity.contexts:
            if context.account_id == account_id:
                if context != self.context:
                    self.context = context
                    self.notify(f"Now charging {context.name} (you are {context.role}).",
                                title="Context switched")
                return
        self.notify(f"You have no account {account_id!r}.", severity="error")

    def action_pick_context(self) -> None:
        if self.identity is None:
            self.notify("Your account is still loading.", severity="warning")
            return
        from .context_picker import ContextPicker

        current = self.context.account_id if self.context else None

        def chosen(account_id: str | None) -> None:
            if account_id is not None:
                self.run_worker(self.action_switch_context(account_id), group="context")

        self.push_screen(ContextPicker(self.identity.contexts, current), chosen)

    def action_reload(self) -> None:
        """`r` on a screen reloads it; this app-level one retries a failed whoami."""
        if self.identity is None:
            self._load_identity()

    def record_change(self, message: str, *, title: str = "Saved") -> None:
        """A change the backend accepted: say so, and refresh every screen's figures."""
        self.notify(message, title=title)
        self.data_version += 1

    # --- modes, help, palette --------------------------------------------------------------

    def switch_mode(self, mode: str):
        if self.current_mode in self.MODES and mode != self.current_mode:
            self.welcome_pending = False  # the welcome line is for the first look only
        return super().switch_mode(mode)

    def action_help(self) -> None:
        from .help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def palette_entries(self, screen: Screen):
        """(title, help, action, namespace, refused reason or None) for the palette."""
        for mode, key, label in SCREEN_KEYS:
            yield f"Go to {label}", f"Show the {label} screen (key {key})", \
                f"switch_mode('{mode}')", self, None
        if self.identity is not None:
            for context in self.identity.contexts:
                kind = "organization" if context.kind == "org" else "personal"
                yield (f"Switch context: {context.name}",
                       f"Charge work to {context.name} ({kind}, you are {context.role})",
                       f"switch_context({context.account_id!r})", self, None)
        yield "Help: keys", "Every key on this screen, in words", "help", self, None
        if self.demo is not None:
            yield "Demo: live activity on/off", "Simulated agents spend credits every " \
                "second", "toggle_live", self, None
            yield "Demo: jump to the next period close", "Roll over, forfeit, invoice", \
                "time_travel", self, None
        seen = set()
        for bindings in screen._bindings.key_to_bindings.values():
            for binding in bindings:
                if not binding.description or binding.action in seen:
                    continue
                seen.add(binding.action)
                yield (binding.description, binding.tooltip or binding.description,
                       binding.action, screen, self._refusal(screen, binding.action))
        for title, help_text, action in getattr(screen, "palette_commands", lambda: ())():
            yield title, help_text, action, screen, self._refusal(screen, action)

    def _refusal(self, namespace: DOMNode, action: str) -> str | None:
        _, name, params = parse_action(action)
        if namespace.check_action(name, params):
            return None
        needed = getattr(namespace, "ROLE_ACTIONS", {}).get(name)
        return role_reason(needed) if needed else "Not available here"

    async def run_palette_action(self, namespace: DOMNode, action: str) -> None:
        refused = self._refusal(namespace, action)
        if refused:
            role = self.context.role if self.context else "not signed in"
            self.notify(f"{refused}: you are {role} here.", title="Not allowed",
                        severity="warning")
            return
        await self.run_action(action, namespace)

    # --- demo -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_live", "time_travel"):
            return self.demo is not None  # hidden entirely outside the demo
        return True

    def action_toggle_live(self) -> None:
        if self.demo is None:
            return
        self.live = not self.live
        if self.live:
            self._live_timer = self.set_interval(self.demo.tick_seconds, self._live_tick)
            self.notify("Live activity on: simulated agents spend credits every second.",
                        title="Demo")
        else:
            if self._live_timer is not None:
                self._live_timer.stop()
                self._live_timer = None
            self.notify("Live activity off.", title="Demo")

    def _live_tick(self) -> None:
        self.run_worker(self._simulate, exclusive=True, group="demo-live")

    async def _simulate(self) -> None:
        try:
            news = await self.demo.simulate_activity()
        except Exception as error:
            self.notify(describe_error(error), title="Demo activity", severity="error")
            return
        if news:
            self.notify(news, title="Live activity")
        self.data_version += 1

    def action_time_travel(self) -> None:
        if self.demo is not None:
            self.run_worker(self._time_travel, exclusive=True, group="demo-time")

    async def _time_travel(self) -> None:
        try:
            what = await self.demo.advance_to_period_close()
        except Exception as error:
            self.notify(describe_error(error), title="Time travel", severity="error")
            return
        self.record_change(what, title="Period closed")
