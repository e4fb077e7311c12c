"""RechargeForm: the auto-recharge settings, each field checked as it is typed.

What it needs is handed down: `editable` (the role may change them) and `blink`; it never
looks at its parent or the app.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static, Switch

from ...models import AutoRecharge
from ...money import credits_to_cents, format_cents
from ..form_checks import (
    FieldError,
    parse_credits,
    parse_dollars_as_cents,
    purchase_multiple,
)
from .error_note import ErrorNote
from .form_input import FormInput

# (enabled, threshold credits, amount credits, monthly cap in cents or None)
RechargeValues = tuple[bool, int, int, int | None]

CHECKS = (
    ("threshold", lambda text: parse_credits(text, allow_zero=True)),
    ("amount", lambda text: parse_credits(text, multiple_of=purchase_multiple())),
    ("cap", lambda text: parse_dollars_as_cents(text, allow_empty=True)),
)


def field(label: str, control: Widget, note_id: str, *after: Widget):
    """A labelled row (with anything shown after the control), its error note and a
    warning line beneath (a value that is allowed but probably not meant)."""
    return (Horizontal(Label(label), control, *after, classes="field-row"),
            ErrorNote(id=note_id), Static("", id=f"{control.id}-warning", classes="warning"))


def surprises(threshold: int | None, amount: int | None,
              cap_cents: int | None) -> dict[str, str]:
    """Valid settings that will not do what people expect, by field: said before saving."""
    found = {}
    if threshold == 0:
        found["threshold"] = ("At 0 it buys only when one debit is larger than the whole "
                              "balance: work stops first. Try a few thousand credits.")
    if amount is not None and cap_cents is not None and cap_cents < credits_to_cents(amount):
        found["cap"] = (f"Below the price of one recharge ({format_cents(credits_to_cents(amount))}"
                        f"): auto-recharge can never buy. Raise the cap or buy less each time.")
    return found


class RechargeForm(Vertical):
    """Enabled, threshold, amount (with its price) and monthly cap in dollars. Save stays
    disabled until every field is valid and while `editable` is False. A field shows its
    error only once it was changed by hand (or a save was tried): a form that opens on
    odd saved values does not greet anyone with errors."""

    DEFAULT_CSS = """
    RechargeForm { height: auto; }
    RechargeForm .warning { color: $text-warning; height: auto; }
    """

    editable: reactive[bool] = reactive(False)

    def __init__(self, *, blink: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.blink = blink
        self.source: RechargeValues | None = None  # the saved settings last written in
        self.filled: dict[str, str] = {}    # field -> the text fill() wrote into it
        self.touched: set[str] = set()      # fields changed by hand since

    def compose(self) -> ComposeResult:
        # The word beside the switch: a switch alone is colour, and NO_COLOR or a
        # 256-colour palette can make on and off look alike.
        yield Horizontal(Label("Enabled"), Switch(id="recharge-enabled"),
                         Static("", id="enabled-word"), classes="field-row")
        yield from field("Below (credits)", FormInput(id="threshold", compact=True,
                                                      blink=self.blink), "threshold-error")
        yield from field("Buy (credits)", FormInput(id="amount", compact=True,
                                                    blink=self.blink),
                         "amount-error", Static("", id="amount-price"))
        yield from field("Monthly cap ($)", FormInput(placeholder="empty = no cap", id="cap",
                                                      compact=True, blink=self.blink),
                         "cap-error")
        yield Button("Save auto-recharge (ctrl+s)", id="recharge-save", compact=True)

    def fill(self, recharge: AutoRecharge) -> None:
        """Show the saved settings, unless they are what the form was last filled with:
        then what the person is typing stays (quiet reloads come every second in the demo)."""
        saved = (recharge.enabled, recharge.threshold, recharge.amount,
                 recharge.monthly_cap_cents)
        if saved == self.source:
            return
        self.source = saved
        cap = recharge.monthly_cap_cents
        self.filled = {"threshold": f"{recharge.threshold:,}", "amount": f"{recharge.amount:,}",
                       "cap": "" if cap is None else f"{cap // 100:,}.{cap % 100:02d}"}
        self.touched.clear()
        # Each control told not to post its Changed: the one check below sees them all,
        # where each message would run another check (one layout pass of the screen each).
        switch = self.query_one("#recharge-enabled", Switch)
        with switch.prevent(Switch.Changed):
            switch.value = recharge.enabled
        for name, text in self.filled.items():
            control = self.query_one(f"#{name}", Input)
            with control.prevent(Input.Changed):
                control.value = text
        self.check()

    def reset(self) -> None:
        """Forget the account's settings: the next fill() writes them in afresh."""
        self.source = None
        self.touched.clear()

    def check(self, *, show_all: bool = False) -> RechargeValues | None:
        """The values when all are valid (else None); problems show beside the fields that
        were touched (every field with `show_all`, when a save is tried)."""
        if show_all:
            self.touched.update(name for name, _ in CHECKS)
        values = {}
        for name, parse in CHECKS:
            note = self.query_one(f"#{name}-error", ErrorNote)
            try:
                values[name] = parse(self.query_one(f"#{name}", Input).value)
            except FieldError as error:
                note.show_error(str(error)) if name in self.touched else note.clear()
            else:
                note.clear()
        warnings = surprises(values.get("threshold"), values.get("amount"), values.get("cap"))
        for name, _ in CHECKS:
            self.query_one(f"#{name}-warning", Static).update(warnings.get(name, ""))
        enabled = self.query_one("#recharge-enabled", Switch).value
        self.query_one("#enabled-word", Static).update("on" if enabled else "off")
        price = self.query_one("#amount-price", Static)
        price.update("" if "amount" not in values else
                     f"costs {format_cents(credits_to_cents(values['amount']))} each time")
        complete = len(values) == len(CHECKS)
        self.query_one("#recharge-save", Button).disabled = not self.editable or not complete
        if not complete:
            return None
        return enabled, values["threshold"], values["amount"], values["cap"]

    def watch_editable(self) -> None:
        if self.is_mounted:
            self.check()

    @on(Input.Changed)
    def typed(self, event: Input.Changed) -> None:
        name = event.input.id
        if name in self.filled and event.value != self.filled[name]:
            self.touched.add(name)
        self.check()

    @on(Switch.Changed)
    def switched(self) -> None:
        self.check()
