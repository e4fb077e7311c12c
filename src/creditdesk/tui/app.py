"""CreditDeskApp: the dashboard's App: modes, the charged context, global keys, demo hooks.

Interface (for screens and tests):
- `CreditDeskApp(backend, *, clock=None, demo=None, cursor_blink=True, context=None,
  refresh_seconds=None, identity=None)`: `backend` is any BillingBackend; `identity` is
  its whoami answer when the caller already has it (the demo's in-process engine): the
  first frame then shows the context and loads the figures at once, with no "Loading your
  account…" step and no whoami worker; `context` is the account id to
  open on (a saved default; ignored if the user has no such context); `refresh_seconds`
  reloads the figures on that interval (default: every 10 s when the backend is remote, so
  an admin watching over SSH sees usage move; never for the in-process engine);
  `clock()` returns an aware UTC datetime (default: the real UTC time; tests pass a fixed
  one); `demo` is an optional `DemoControls` (live activity, time travel, welcome line).
- `MODES`: overview, usage, members, invoices, settings, activity (key v), alerts (key n;
  the header counts unseen alerts, `alert_watch` keeps the count), each imported
  on first use so start-up never pays for a screen (or plotext) it has not shown. It
  opens on `overview`.
- `app.identity` (models.Identity, once whoami answered), `app.context` (reactive
  models.Context: the charged account and the role there; the first org context, else the
  personal one), `app.data_version` (reactive int, bumped by `record_change`).
- Action `switch_context(account_id)`; key `c` and the palette list the contexts.
- `record_change(message)`: toast the change and make every screen reload quietly.
- `now()`: the injected clock; screens use it for anything time-based.
- `keymap` ({binding id: keys}, the settings file's `[keys]` table) is applied with
  `set_keymap`; `theme` opens in that theme and `remember_theme(name)` is called whenever the
  person picks another, so the CLI can write it back to the settings file.
- Messages: a screen posts `DataChanged(note)` after the backend accepted a change (the app
  toasts the note and bumps `data_version`). Every worker is made with
  `exit_on_error=False`: a failure nobody caught reaches the one `on_worker_state_changed`
  handler, which reports it in words instead of crashing the dashboard.
- First visits: once the first screen shows figures (`FiguresShown`), a thread imports
  every other screen's module (and plotext), so no first visit waits on the loop for an
  import; `refresh_css` skips Textual's full re-parse and restyle of every screen when
  nothing the rules resolve to changed (`styles.RestyleGate`), which Textual otherwise
  does on each mode's first visit. `warm_up_done` is True once the imports are done.
- `collector` (QuietCollector): while the app runs, the cycle collector's full passes
  wait for a few seconds without keys or clicks (they froze the screen for hundreds of
  milliseconds with the 10,000-member demo in memory); thresholds are restored on unmount.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from typing import TYPE_CHECKING

from textual import events
from textual.actions import parse as parse_action
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..errors import BillingError, Unauthenticated
from ..models import Context, Identity
from .alert_watch import AlertsSeen, AlertWatch
from .commands import CreditDeskCommands
from .demo_controls import DemoControls
from .permissions import as_role, role_reason
from .quiet_collector import QuietCollector
from .screens.base import DataChanged, FiguresShown
from .styles import RestyleGate, first_stylesheets, later_stylesheets
from .terminal_cells import SentCells
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
    "activity": "creditdesk.tui.screens.activity:ActivityScreen",
    "alerts": "creditdesk.tui.screens.alerts:AlertsScreen",
}


def screen_factory(target: str) -> Callable[[], Screen]:
    """A MODES entry that imports its screen module only when the mode is first shown."""
    module_name, _, class_name = target.partition(":")

    def make() -> Screen:
        return getattr(import_module(module_name), class_name)()

    make.__qualname__ = make.__name__ = class_name
    return make


# Imported in a thread once the first screen shows figures, so that no first visit of a
# screen, modal or chart waits on the loop for its module (plotext alone is tens of ms).
WARM_UP_MODULES = (*(target.partition(":")[0] for target in SCREEN_CLASSES.values()),
                   "creditdesk.tui.help", "creditdesk.tui.context_picker",
                   "creditdesk.tui.confirm", "textual_plotext")

REMOTE_REFRESH_SECONDS = 10.0
# How often the quiet collector looks whether a full pass of the cycle collector is due.
COLLECTOR_CHECK_SECONDS = 1.0
# Input that means a person is at the keyboard (a full collection then waits).
INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CreditDeskApp(App[None]):
    """The CreditDesk dashboard over one BillingBackend (see the module docstring)."""

    TITLE = "CreditDesk"
    CSS_PATH = first_stylesheets()  # the rest once the figures show (styles.py)
    MODES = {mode: screen_factory(target) for mode, target in SCREEN_CLASSES.items()}
    # Starting in the mode (rather than switching to it on mount) builds the overview
    # before the stylesheet's first parse, which saves a full re-parse at start-up.
    DEFAULT_MODE = "overview"
    COMMANDS = App.COMMANDS | {CreditDeskCommands}
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", label, id=f"app.{mode}", show=False,
                  tooltip=f"Show the {label} screen") for mode, key, label in SCREEN_KEYS),
        # Out of the footer so `q Quit` fits at 70 columns: the header names the context,
        # and help (?) and the palette list the key.
        Binding("c", "pick_context", "Context", id="app.context", show=False,
                tooltip="Choose which account (personal or an org) is charged"),
        Binding("question_mark,f1", "help", "Help", id="app.help", key_display="?",
                tooltip="Every key on this screen, in words"),
        # The demo keys stay out of the footer so `q Quit` fits at 70 columns; the welcome
        # line, help (?) and the palette name them.
        Binding("l", "toggle_live", "Live", id="app.demo.live", show=False,
                tooltip="Demo: simulated agents spend credits every second"),
        Binding("t", "time_travel", "Next close", id="app.demo.time_travel", show=False,
                tooltip="Demo: jump to the next period close"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave CreditDesk"),
        # Only what changed is sent to the terminal (terminal_cells): after something else
        # wrote over the screen, this sends it all again.
        Binding("ctrl+l", "redraw", "Redraw", id="app.redraw", show=False,
                tooltip="Draw the whole screen again"),
    ]

    # `var`, not `reactive`: watchers still run, but the App does not repaint the whole
    # screen on each change (a data_version bump every live tick or remote refresh would
    # otherwise rewrite every cell of the terminal, header included).
    identity: var[Identity | None] = var(None)
    identity_error: var[str | None] = var(None)
    context: var[Context | None] = var(None)
    data_version: var[int] = var(0)
    live: var[bool] = var(False)
    # The header's "3 new alerts (n)" for the context, kept by AlertWatch ("" for none).
    alert_badge: var[str] = var("")

    def __init__(self, backend: BillingBackend, *, clock: Callable[[], datetime] | None = None,
                 demo: DemoControls | None = None, cursor_blink: bool = True,
                 context: str | None = None, refresh_seconds: float | None = None,
                 keymap: dict[str, str] | None = None, theme: str | None = None,
                 remember_theme: Callable[[str], None] | None = None,
                 identity: Identity | None = None) -> None:
        self.restyle_gate = RestyleGate()  # before Textual may call refresh_css
        # What the terminal shows, kept by the terminal driver (CellDiffDriver).
        self.sent_cells = SentCells()
        # NO_COLOR: Textual's ANSI mode strips every colour; otherwise it only turns the
        # theme grey, still in 256-colour codes.
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        if theme and theme != self.theme and theme in self.available_themes:
            # The saved theme, before the stylesheet is first parsed: set on mount it made
            # Textual re-parse every rule and restyle every widget before the first frame
            # (an eighth more start-up). An unknown name is said on mount (on_mount).
            self.theme = theme
            self.stylesheet.set_variables(self.get_css_variables())
        # What the stylesheet is made with, and whether on_mount ran (see refresh_css).
        self._initial_css_variables = self.get_css_variables()
        self._mounted = False
        self.initial_keymap = dict(keymap or {})
        self.initial_theme = theme
        self.remember_theme = remember_theme
        self.preferred_context = context
        if refresh_seconds is None and getattr(backend, "is_remote", False):
            refresh_seconds = REMOTE_REFRESH_SECONDS
        self.refresh_seconds = refresh_seconds
        self.cursor_blink = cursor_blink  # False in tests and snapshots: a still screen
        self.backend = backend
        self.clock = clock or _utc_now
        self.demo = demo
        self.welcome_pending = demo is not None
        self._warm_up_started = False
        self._later_styles_read = False
        self.warm_up_done = False  # True once every screen module is imported
        self._identity_ready = asyncio.Event()
        self._live_timer = None
        self.collector = QuietCollector()
        # Set by a caller that left the cycle collector off for start-up (the demo): it is
        # turned on after the first frame (on_ready).
        self.collector_off_until_first_frame = False
        self.alert_watch = AlertWatch(self, self._set_alert_badge)
        if identity is not None:
            # Known before the first frame: the screens mount on the context (no loading
            # step, no second layout of the header and footer once whoami answers).
            self._use_identity(identity, quietly=True)
            self._identity_ready.set()

    def now(self) -> datetime:
        return self.clock()

    def action_redraw(self) -> None:
        self.sent_cells.forget()
        self.refresh(repaint=True)

    def get_driver_class(self):
        # In a terminal (not headless, not a browser), send only the cells that changed.
        driver = super().get_driver_class()
        if (driver.__module__, driver.__name__) == ("textual.drivers.linux_driver",
                                                    "LinuxDriver"):
            from .terminal_driver import CellDiffDriver

            return CellDiffDriver
        return driver

    # --- start-up -----------------------------------------------------------------------
    def on_mount(self) -> None:
        self._mounted = True
        # The screen is shown at once with placeholders; whoami answers in a worker.
        if self.identity is None:
            self._load_identity()
        self.alert_watch.start()
        if self.context is not None:
            # Given with the identity: the watcher saw no change, so the count is asked for
            # here, after the screen's first load (same engine thread, in order).
            self.call_after_refresh(self.alert_watch.check)
        self.collector.start()
        self.set_interval(COLLECTOR_CHECK_SECONDS, self.collector.tick)
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self._refresh_figures)
        if self.initial_keymap:
            self.set_keymap(self.initial_keymap)
        if self.initial_theme and self.initial_theme != self.theme:
            if self.initial_theme in self.available_themes:
                self.theme = self.initial_theme
            else:
                self.notify(f"The settings file names theme {self.initial_theme!r}, which "
                            f"does not exist; using {self.theme}.", severity="warning")
        # Watched only after the saved one is applied: only a person's choice is written.
        self.watch(self, "theme", self._theme_chosen, init=False)

    def on_ready(self) -> None:
        # Textual's Ready comes with the first layout; the frame is drawn on the refresh
        # after it.
        if self.collector_off_until_first_frame:
            self.collector_off_until_first_frame = False
            self.call_after_refresh(gc.enable)

    def _theme_chosen(self, theme: str) -> None:
        if self.remember_theme is not None:
            try:
                self.remember_theme(theme)
            except OSError as error:
                self.notify(f"The theme could not be saved: {error}", severity="warning")

    def refresh_css(self, animate: bool = True) -> None:
        # Skipped when nothing the rules resolve to changed (see RestyleGate): a screen's
        # first visit then costs its own widgets' styling, not the whole app's.
        variables = self.get_css_variables()
        needed = self.restyle_gate.needed(variables, frozenset(self.classes),
                                          self.stylesheet.source)
        if not self._mounted and variables == self._initial_css_variables:
            # Textual's call when it builds the first mode's screen, before anything is
            # mounted or drawn: the stylesheet was parsed a moment ago (to register that
            # screen) with these very variables, so re-parsing it is the same work again,
            # and setting the variables drops the parse cache, which made every source be
            # parsed a third time when the widgets' own CSS arrived. (The gate has noted
            # this state.) The App itself is styled here all the same, as Textual's refresh
            # did: Textual styles it again only after its compose, and the first screen's
            # load can finish before that (the demo's engine answers at once); figures drawn
            # meanwhile took their colours from an unstyled App, invisible in a real
            # terminal (tests/tui/test_real_terminal.py).
            self.stylesheet.update(self, animate=False)
            return
        if needed:
            super().refresh_css(animate)

    def on_data_changed(self, message: DataChanged) -> None:
        """A screen saw the backend accept a change: every screen reloads its figures."""
        message.stop()
        if message.note:
            self.record_change(message.note, title=message.title)
        else:
            self._bump_data()

    def on_figures_shown(self, message: FiguresShown) -> None:
        message.stop()
        if not self._warm_up_started:
            self._warm_up_started = True
            # Once the figures are on the terminal: they never wait for these.
            self.call_after_refresh(self.read_later_stylesheets)
            self.call_after_refresh(self.run_worker, self._import_screens, thread=True,
                                    group="warm-up", name="import screens",
                                    exit_on_error=False)

    def read_later_stylesheets(self) -> None:
        """Read (and parse) the other screens' stylesheets, once: after the first figures,
        or when another screen is about to be shown first, whichever comes first."""
        if self._later_styles_read:
            return
        self._later_styles_read = True
        stylesheet = self.stylesheet
        paths = [str(path) for path in later_stylesheets()
                 if not stylesheet.has_source(str(path))]
        for path in paths:
            stylesheet.read(path)
        self.restyle_gate.read_unmatched({(path, ""): stylesheet.source[(path, "")]
                                          for path in paths})
        # Parsed now, on an idle loop (earlier sources come from the parse cache): `read`
        # leaves the selector map stale until the next parse, and a first visit should not
        # wait for it.
        stylesheet.parse()

    def _import_screens(self) -> None:
        for module in WARM_UP_MODULES:
            import_module(module)
        self.warm_up_done = True

    def _bump_data(self) -> None:
        self.data_version += 1

    def _set_alert_badge(self, text: str) -> None:
        self.alert_badge = text

    def on_alerts_seen(self, message: AlertsSeen) -> None:
        """The Alerts screen showed alerts up to an id: the header's count drops them."""
        message.stop()
        self.alert_watch.mark_seen(message.account_id, message.newest_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker_failure(event)

    def report_worker_failure(self, event: Worker.StateChanged) -> None:
        """The one place a worker's uncaught failure ends up: said in words, not a crash.
        Refusals (BillingError) are handled where they happen; this is for the rest.
        Worker.StateChanged does not bubble, so screens forward theirs here."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, BillingError):
            self.notify(describe_error(error), severity="error")
            return
        self.log.error(f"worker {event.worker.name!r} failed", error)
        self.notify(f"Something went wrong ({type(error).__name__}: {error}). The figures "
                    f"on screen may be out of date; press r to reload.",
                    title="Unexpected error", severity="error", timeout=15)

    def _refresh_figures(self) -> None:
        # Quietly, like live activity: screens keep what the user is typing or choosing.
        if self.identity is not None:
            self._bump_data()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, INPUT_EVENTS):
            self.collector.touched()
        await super().on_event(event)

    async def on_unmount(self) -> None:
        self.collector.stop()
        # The HTTP client belongs to this event loop, so it is closed here, not by the CLI.
        await self.backend.aclose()

    def _load_identity(self) -> None:
        self.identity_error = None
        self._identity_ready.clear()
        # Workers get the coroutine function, not a coroutine: one cancelled before it
        # starts (a retry came first) then leaves no never-awaited coroutine behind.
        self.run_worker(self._fetch_identity, exclusive=True, group="identity",
                        name="whoami", exit_on_error=False)

    async def _fetch_identity(self) -> None:
        try:
            identity = await self.backend.whoami()
        except BillingError as error:  # the header and every screen say it in words
            # A refused token cannot be fixed by retrying: the words say what will.
            retry = "" if isinstance(error, Unauthenticated) else "  Press r to retry."
            self.identity_error = f"Cannot load your account: {describe_error(error)}{retry}"
        else:
            self._use_identity(identity)
        finally:
            self._identity_ready.set()

    def _use_identity(self, identity: Identity, *, quietly: bool = False) -> None:
        """Take whoami's answer: the identity, and the context to charge (the current one if
        still there, else the one asked for, else the first org, else the personal one).
        `quietly`: before the app runs, when there is no watcher to tell yet."""
        context = self.context
        if context is None or context not in identity.contexts:
            orgs = [c for c in identity.contexts if c.kind == "org"]
            preferred = [c for c in identity.contexts
                         if c.account_id == self.preferred_context]
            context = (preferred or orgs or identity.contexts)[0]
        if quietly:
            self.set_reactive(CreditDeskApp.identity, identity)
            self.set_reactive(CreditDeskApp.context, context)
        else:
            self.identity = identity
            self.context = context

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
                    self.notify(f"Now charging {context.name} "
                                f"(you are {as_role(context.role)}).", title="Context switched")
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
                self.run_worker(self.action_switch_context(account_id), group="context",
                                exit_on_error=False)

        self.push_screen(ContextPicker(self.identity.contexts, current), chosen)

    def action_reload(self) -> None:
        """`r` on a screen reloads it; this app-level one retries a failed whoami."""
        if self.identity is None:
            self._load_identity()

    def record_change(self, message: str, *, title: str = "Saved") -> None:
        """A change the backend accepted: say so, and refresh every screen's figures."""
        self.notify(message, title=title)
        self._bump_data()

    # --- modes, help, palette --------------------------------------------------------------

    def switch_mode(self, mode: str):
        if self.current_mode in self.MODES and mode != self.current_mode:
            self.welcome_pending = False  # the welcome line is for the first look only
        self.read_later_stylesheets()  # before the screen's own CSS_PATH would reparse all
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
                       f"Charge work to {context.name} "
                       f"({kind}, you are {as_role(context.role)})",
                       f"switch_context({context.account_id!r})", self, None)
        yield "Help: keys", "Every key on this screen, in words", "help", self, None
        yield "Redraw the screen", "Draw the whole screen again (ctrl+l), after something " \
            "else wrote over it", "redraw", self, None
        if self.demo is not None:
            yield "Demo: live activity on/off", "Simulated agents spend credits every " \
                "second", "toggle_live", self, None
            yield "Demo: jump to the next period close", "Roll over, forfeit, invoice", \
                "time_travel", self, None
        seen = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is not screen or not binding.description \
                    or binding.action in seen:
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
            words = (f"{refused}: you are {as_role(self.context.role)} here." if self.context
                     else f"{refused}: your account has not loaded yet.")
            self.notify(words, title="Not allowed", severity="warning")
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
        self.run_worker(self._simulate, exclusive=True, group="demo-live",
                        exit_on_error=False)

    async def _simulate(self) -> None:
        try:
            news = await self.demo.simulate_activity()
        except BillingError as error:
            self.notify(describe_error(error), title="Demo activity", severity="error")
            return
        if news is not None:
            lines = list(news.said)
            if not self.alert_watch.toasts_for(news.account_id):
                lines[:0] = news.alerted
            if lines:
                self.notify(" ".join(lines), title="Live activity")
        self._bump_data()

    def action_time_travel(self) -> None:
        if self.demo is not None:
            self.run_worker(self._time_travel, exclusive=True, group="demo-time",
                            exit_on_error=False)

    async def _time_travel(self) -> None:
        try:
            what = await self.demo.advance_to_period_close()
        except BillingError as error:
            self.notify(describe_error(error), title="Time travel", severity="error")
            return
        self.record_change(what, title="Period closed")
