"""BillingScreen: the base every dashboard screen builds on (loading, roles, errors).

How to write a screen (usage.py and invoices.py follow the same pattern as overview.py):

    class UsageScreen(BillingScreen):
        MODE = "usage"                      # its key in CreditDeskApp.MODES (header highlight)
        CSS_PATH = stylesheet("usage.tcss") # from creditdesk.tui.styles
        VIEW_ACTION = "view_usage_history"  # permission needed to see it at all (None: anyone)
        VIEW_REFUSED = "Usage history is for admins and owners."  # optional custom sentence
        ROLE_ACTIONS = {"export": "view_invoices"}  # screen action -> permission: its binding
                                                    # is dimmed in the footer and refused
        BINDINGS = [Binding("e", "export", "Export CSV", id="usage.export",
                            tooltip="Save the table as CSV")]

        def compose_body(self) -> ComposeResult:     # NOT compose(): the base adds the
            yield Static(id="figures")               # header, #body, notices and footer
            yield RoleGate("purchase_credits", Button("Buy", id="buy"))

        async def load(self, context: Context) -> None:
            # Runs in an exclusive worker: on mount, on every context switch, after every
            # change (app.record_change) and on `r`. Raise freely: a BillingError or a
            # transport error is shown in words in the #load-error banner, with retry.
            series = await self.backend.usage_history(context.account_id, ...)
            self.query_one("#figures", Static).update(...)

What the base gives you:
- `self.backend` (the app's BillingBackend), `self.context` (a models.Context or None while
  whoami is loading), `self.role`, `self.account_id`, `self.now()` (the app's injectable
  clock: use it for anything time-based, never datetime.now(), so snapshots are stable).
- The base sets itself up in its own Mount handler (`_set_up_billing_screen`), not in
  `on_mount`, so a screen's `on_mount` is its own: define it freely (Textual calls every
  class's handler by itself; the base has no `on_mount` to call twice).
- Context changes: the app's reactive `context` is watched; the screen reloads when it is
  visible, or when it is next shown. Override `on_context_changed(context)` for extra
  resets (clear a filter, ...), called before the reload.
- Loading: while the first load for a context runs, `#body` shows Textual's loading
  indicator (`quiet=True` reloads, e.g. after a change or a demo tick, keep the old figures
  on screen). The first paint never waits for data: compose shows placeholders.
- Roles: `self.allows("purchase_credits")`, `role_reason(action)`; every `RoleGate` in the
  screen is re-applied on each context change; `check_action` returns None (shown, dimmed,
  refused) for actions listed in ROLE_ACTIONS the role may not do; call
  `self.refuse_unless(action)` at the top of an owner-only action method as a second guard
  (it toasts the reason and returns False).
- Busy controls: `with busy(button): await self.backend...` shows a loading indicator on
  the control that caused the call.
- Errors: `describe_error(exc)` (widgets.error_note) gives words; put an `ErrorNote` next
  to a control and call `.show_error(exc)` / `.clear()`. Load failures use #load-error.
- Changes: after the backend accepted a change post `DataChanged("Bought …")` (from the
  screen or any widget in it): the app toasts the note, and every screen reloads quietly
  (this one now, the others when next shown). Never bump `app.data_version` by hand.
- Backend calls outside `load` go in workers (`@work(exclusive=True, exit_on_error=False)`
  where a newer answer replaces an older one); catch `BillingError` where a refusal is
  shown; anything else reaches the app's one failure handler.
- Repaints: `self.unchanged(name, value)` is True when `value` equals what this screen
  last showed under `name` (for this context); skip the widget update then, so a refresh
  that brings the same figures writes nothing to the terminal.
- Forms: use `widgets.form_input.FormInput` instead of Input (it stops blinking when the
  app is made with cursor_blink=False, as tests and snapshots do) and the parsers of
  `tui.form_checks` (parse_credits, parse_dollars_as_cents) for messages beside fields.
- Styles: every `styles/*.tcss` is read by the app at start-up (CSS_PATH on the screen is
  still fine to name its file); a screen whose VIEW_ACTION the role lacks hides its own
  bindings and shows only the #view-refused sentence.
- First figures: the first successful load posts `FiguresShown` (the app then imports the
  other screens in a thread). `on_screen_resume` is async and yields to the loop first: a
  subclass overriding it must `await super().on_screen_resume(event)`; it also spares the
  screen Textual's full restyle on showing it when nothing the styles depend on changed.
- Palette: every binding with a description is a palette command automatically; override
  `palette_commands()` to add more `(title, help, action)` tuples (action strings are run
  on this screen through check_action, so refused ones are refused there too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker

from ...errors import BillingError, Unauthenticated
from ...models import Context
from ..permissions import ROLE_NEEDED, role_allows, role_reason, role_refusal
from ..widgets.context_header import ContextHeader
from ..widgets.error_note import describe_error
from ..widgets.quiet_footer import QuietFooter
from ..widgets.role_gate import RoleGate

if TYPE_CHECKING:
    from ...backends import BillingBackend
    from ..app import CreditDeskApp

__all__ = ["BillingScreen", "DataChanged", "FiguresShown", "ROLE_NEEDED", "RoleGate", "busy",
           "describe_error", "role_allows", "role_reason"]


class DataChanged(Message):
    """The backend accepted a change: the app toasts `note` (if any, under `title`) and
    every screen reloads its figures quietly. Posted by screens and widgets; bubbles up."""

    def __init__(self, note: str | None = None, *, title: str = "Saved") -> None:
        super().__init__()
        self.note = note
        self.title = title


class FiguresShown(Message):
    """A screen showed its first figures from the backend (the app then warms up the rest
    of the dashboard in idle time). Bubbles up to the app."""


_NOTHING = object()


@contextmanager
def busy(widget: Widget) -> Iterator[None]:
    """Textual's loading indicator on the control whose backend call is running (a remote
    server may take a while; the person sees it is working and cannot press it twice)."""
    widget.loading = True
    try:
        yield
    finally:
        widget.loading = False


class BillingScreen(Screen):
    """Base of the five mode screens; see the module docstring for the contract."""

    DEFAULT_CSS = """
    BillingScreen #body.-stale { text-opacity: 60%; }
    """
    MODE: ClassVar[str] = ""
    VIEW_ACTION: ClassVar[str | None] = None
    VIEW_REFUSED: ClassVar[str | None] = None
    ROLE_ACTIONS: ClassVar[dict[str, str]] = {}
    BINDINGS = [Binding("r", "reload", "Reload", id="screen.reload", show=False,
                        tooltip="Fetch this screen's figures again")]

    app: CreditDeskApp

    def __init__(self) -> None:
        super().__init__()
        self._stale = False
        self._loaded_for: str | None = None  # account id the figures on screen belong to
        self._applied_context: Context | None = None
        self._seen_version = 0
        self._set_up = False
        self._loading: Worker | None = None
        self._loading_for: Context | None = None
        self._load_again = False
        self._shown_values: dict[str, object] = {}
        self._styled_under: tuple | None = None  # see _skip_needless_restyle

    # --- what subclasses provide ------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield from ()

    async def load(self, context: Context) -> None:
        """Fetch from the backend and update the widgets; see the module docstring."""

    def on_context_changed(self, context: Context) -> None:
        """Hook for resets that must happen before the reload of a new context."""

    def palette_commands(self) -> Iterable[tuple[str, str, str]]:
        """Extra palette entries as (title, help, action string run on this screen)."""
        return ()

    # --- shared properties --------------------------------------------------------------
    @property
    def backend(self) -> BillingBackend:
        return self.app.backend

    @property
    def context(self) -> Context | None:
        return self.app.context

    @property
    def role(self) -> str | None:
        return self.context.role if self.context else None

    @property
    def account_id(self) -> str | None:
        return self.context.account_id if self.context else None

    def now(self) -> datetime:
        return self.app.now()

    def allows(self, action: str) -> bool:
        return role_allows(self.role, action)

    def refuse_unless(self, action: str) -> bool:
        """Second guard inside owner-only actions: toast the reason, return False."""
        if self.allows(action):
            return True
        if self.role is not None:
            self.notify(f"{role_refusal(action, self.role)}.",
                        title="Not allowed", severity="warning")
        return False

    # --- composition ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield ContextHeader(self.MODE)
        yield Static("", id="load-error", classes="banner -error")
        yield Static("", id="view-refused", classes="banner -refused")
        with Vertical(id="body"):
            yield from self.compose_body()
        yield QuietFooter(compact=True)  # rebuilt only when its keys change

    @on(events.Mount)
    def _set_up_billing_screen(self) -> None:
        if self._set_up:  # watchers registered twice would reload twice per change
            return
        self._set_up = True
        self.query_one("#load-error").display = False
        self.query_one("#view-refused").display = False
        self._seen_version = self.app.data_version
        self._styled_under = self._style_inputs()  # mounting styled every widget
        self.watch(self.app, "context", self._context_changed, init=False)
        self.watch(self.app, "data_version", self._data_changed, init=False)
        self.watch(self.app, "identity_error", self._identity_failed, init=False)
        if self.context is None:
            self.query_one("#body").loading = self.app.identity_error is None
            self._identity_failed(self.app.identity_error)
        else:
            self._context_changed(self.context)

    def _identity_failed(self, error: str | None) -> None:
        # Without an account there is nothing to load: stop the spinner and say why.
        if error is None or self.context is not None:
            return
        self.query_one("#body").loading = False
        self._show_load_error(error, retry=False)  # the app's words say whether to retry

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: hand this screen's workers to the app's one
        # failure handler (widgets running their own workers forward theirs the same way).
        self.app.report_worker_failure(event)

    def unchanged(self, name: str, value: object) -> bool:
        """True if `value` is what this screen already shows under `name`; remembers it."""
        if self._shown_values.get(name, _NOTHING) == value:
            return True
        self._shown_values[name] = value
        return False

    # --- reloading ------------------------------------------------------------------------
    @property
    def is_shown(self) -> bool:
        return self in self.app.screen_stack

    def _context_changed(self, context: Context | None) -> None:
        # Textual may also call watchers when a reactive is first initialised: only a
        # context this screen has not applied yet counts as a change.
        if context is None or context == self._applied_context:
            return
        self._applied_context = context
        self._loaded_for = None
        self._shown_values.clear()
        for gate in self.query(RoleGate):
            gate.apply(context.role)
        self.refresh_bindings()
        self.on_context_changed(context)
        if self.is_shown:
            self.reload()
        else:
            self._stale = True

    def _data_changed(self, version: int) -> None:
        if version == self._seen_version:
            return
        self._seen_version = version
        if self.is_shown:
            self.reload(quiet=True)
        else:
            self._stale = True

    async def on_screen_resume(self, event: events.ScreenResume | None = None) -> None:
        # Runs before Textual's own handler, which restyles every widget of the screen
        # (twice on a first visit): yielding to the loop first keeps keys and frames
        # flowing between those steps instead of one long stall.
        await asyncio.sleep(0)
        if event is not None:
            self._skip_needless_restyle(event)
        if self._stale:
            self.reload(quiet=self._loaded_for == self.account_id)

    def _style_inputs(self) -> tuple:
        """What the rules resolve to besides the widgets' own classes and states (each
        widget restyles itself when those change, shown or not): the theme's variables,
        the app's classes and states (`-dark-mode`, `:focus`), the rules read so far."""
        app = self.app
        return (app.get_css_variables(), frozenset(app.classes),
                frozenset(app.get_pseudo_classes()), dict(app.stylesheet.source))

    def _skip_needless_restyle(self, event: events.ScreenResume) -> None:
        # Textual restyles the whole screen on each ScreenResume (twice on a first visit,
        # back to back, right after mounting styled every widget): 20-40 ms each for
        # Settings' ~90 widgets. Only a change to what `_style_inputs` covers can have
        # made the screen's styles stale while it was away; else its styles stand.
        inputs = self._style_inputs()
        if inputs == self._styled_under:
            event.refresh_styles = False
        self._styled_under = inputs

    def action_reload(self) -> None:
        if self.context is None:
            self.app.action_reload()  # whoami failed: retry that first
        else:
            self.reload()

    def reload(self, *, quiet: bool = False) -> None:
        """Start (or restart) this screen's load in an exclusive worker."""
        context = self.context
        if context is None:
            return
        self._stale = False
        refused = self.VIEW_ACTION is not None and not role_allows(context.role,
                                                                    self.VIEW_ACTION)
        notice = self.query_one("#view-refused", Static)
        notice.display = refused
        self.query_one("#body").display = not refused
        if refused:
            self.query_one("#body").loading = False
            notice.update(self.VIEW_REFUSED or
                          f"{role_refusal(self.VIEW_ACTION, context.role)}, "
                          f"so this screen has nothing to show you. Your own usage is on "
                          f"Overview (press o).")
            self._loaded_for = context.account_id
            return
        if quiet and self._loading is not None and self._loading.is_running \
                and self._loading_for == context:
            # A refresh while a load for the same context runs (a live tick, the remote
            # interval): let it finish and load once more after it, rather than cancel it
            # again and again so that nothing is ever shown.
            self._load_again = True
            return
        # A partial, not a coroutine: a worker cancelled before it starts (the next reload
        # came first) then leaves no never-awaited coroutine behind.
        self._load_again = False
        self._loading_for = context
        self._loading = self.run_worker(
            partial(self._run_load, context, quiet=quiet and self._loaded_for is not None),
            exclusive=True, group="load", name=f"load {self.MODE}", exit_on_error=False)

    async def _run_load(self, context: Context, *, quiet: bool) -> None:
        body = self.query_one("#body")
        if not quiet:
            body.loading = True
        try:
            await self.load(context)
        except BillingError as error:  # a refusal or an unreachable server, in words
            self._show_load_error(describe_error(error),
                                  retry=not isinstance(error, Unauthenticated))
        else:
            self.query_one("#load-error", Static).display = False
            body.remove_class("-stale")
            if self._loaded_for is None:
                self.post_message(FiguresShown())
            self._loaded_for = context.account_id
        finally:
            body.loading = False  # also when a bug escapes to the app's failure handler
            if self._load_again:
                self.call_later(self.reload, quiet=True)

    def _show_load_error(self, words: str, *, retry: bool = True) -> None:
        banner = self.query_one("#load-error", Static)
        body = self.query_one("#body")
        stale = self._loaded_for is not None
        # Figures from an earlier load stay, dimmed and called out, rather than vanish.
        body.set_class(stale, "-stale")
        tail = " The figures below are from the last successful load." if stale else ""
        banner.update(f"{words}{tail}{'  Press r to retry.' if retry else ''}")
        banner.display = True

    # --- roles and bindings -----------------------------------------------------------------
    @classmethod
    def _own_actions(cls) -> set[str]:
        return {binding.action.partition("(")[0] for binding in cls.BINDINGS
                if isinstance(binding, Binding)}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if (self.VIEW_ACTION is not None and self.role is not None
                and not self.allows(self.VIEW_ACTION) and action != "reload"
                and action in self._own_actions()):
            return False  # nothing on this screen is for this role: hide its keys
        needed = self.ROLE_ACTIONS.get(action)
        if needed is not None and not self.allows(needed):
            return None  # shown dimmed in the footer, and not run
        return True

    @on(events.Key)
    def _dimmed_key(self, event: events.Key) -> None:
        # Textual runs nothing for a dimmed binding, so a key the role may not use would do
        # nothing at all: say why instead ("Owner only: you are an admin here").
        active = self.active_bindings.get(event.key)
        if active is None or active.enabled or active.node is not self:
            return
        needed = self.ROLE_ACTIONS.get(active.binding.action.partition("(")[0])
        if needed is not None:
            event.stop()
            self.refuse_unless(needed)
