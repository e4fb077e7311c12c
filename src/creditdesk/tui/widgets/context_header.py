"""The two-line header every screen carries: which account is charged, the role, the screens."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region
from textual.reactive import reactive
from textual.widget import Widget

from ...models import Context

# (mode, key, label): the order the screens are listed in the header and the help screen.
SCREEN_KEYS = (
    ("overview", "o", "Overview"),
    ("usage", "u", "Usage"),
    ("members", "m", "Members"),
    ("invoices", "i", "Invoices"),
    ("settings", "s", "Settings"),
    ("activity", "v", "Activity"),
    ("alerts", "n", "Alerts"),
)


def context_kind(context: Context) -> str:
    return "organization" if context.kind == "org" else "personal account"


class ContextHeader(Widget):
    """Line 1: `CreditDesk │ <Context.name> · <role>` (or what is still loading / failed).
    Line 2: the screens with their keys, the current one highlighted.

    The header is the one place that always says whose credits are charged, so it reads the
    app's reactive `context` itself rather than waiting for the screen to tell it."""

    DEFAULT_CSS = """
    ContextHeader { dock: top; height: 2; background: $panel; color: $foreground; }
    """

    context: reactive[Context | None] = reactive(None)
    status: reactive[str] = reactive("Loading your account…")
    # A new count changes the first line only: the screens' line is not sent again.
    alert_badge: reactive[str] = reactive("", repaint=False)

    def __init__(self, mode: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode

    def on_mount(self) -> None:
        self.watch(self.app, "context", self._set_context)
        self.watch(self.app, "identity_error", self._set_status)
        self.watch(self.app, "alert_badge", self._set_alert_badge)

    def _set_alert_badge(self, text: str) -> None:
        self.alert_badge = text

    def watch_alert_badge(self) -> None:
        self.refresh(Region(0, 0, self.size.width, 1))

    def _set_context(self, context: Context | None) -> None:
        self.context = context

    def _set_status(self, error: str | None) -> None:
        self.status = f"{error}  (press r to retry)" if error else "Loading your account…"

    def render(self) -> Text:
        line = Text(" CreditDesk │ ", style="bold")
        if self.context is None:
            line.append(self.status)
        else:
            line.append(self.context.name, style="bold")
            line.append(f" ({context_kind(self.context)}) · ")
            line.append(self.context.role, style="bold")
            if self.alert_badge:
                # Words and a mark, not colour alone: it must stand out in NO_COLOR too.
                # A long account name keeps the count and its key, without the words.
                badge = "  ● " + self.alert_badge
                if line.cell_len + len(badge) > self.size.width:
                    badge = "  ● " + self.alert_badge.split(" ")[0] + " (n)"
                line.append(badge, style="bold reverse")
        line.append("\n ")
        for mode, key, label in SCREEN_KEYS:
            style = "reverse bold" if mode == self.mode else ""
            line.append(f" {key} ", style="bold " + style)
            line.append(f"{label} ", style=style)
        return line
