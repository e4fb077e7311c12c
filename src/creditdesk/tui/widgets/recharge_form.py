"""RechargeForm: the auto-recharge settings, each field checked as it is typed."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static, Switch

from ...models import AutoRecharge
from ...money import credits_to_cents, format_cents
from ..form_checks import FieldError, parse_credits, parse_dollars_as_cents, purchase_multiple
from .error_note import ErrorNote
from .form_input import FormInput
from .role_gate import RoleGate

# (enabled, threshold credits, amount credits, monthly cap in cents or None)
RechargeValues = tuple[bool, int, int, int | None]

CHECKS = (
    ("threshold", lambda text: parse_credits(text, allow_zero=True)),
    ("amount", lambda text: parse_credits(text, multiple_of=purchase_multiple())),
    ("cap", lambda text: parse_dollars_as_cents(text, allow_empty=True)),
)


def field(label: str, control: Widget, note_id: str, *after: Widget):
    """A labelled row (with anything shown after the control) and its error note beneath."""
    return (Horizontal(Label(label), control, *after, classes="field-row"),
            ErrorNote(id=note_id))


class RechargeForm(Vertical):
    """Enabled, threshold, amount (with its price) and monthly cap in dollars. Save stays
    disabled until every field is valid, and inside a RoleGate the role refuses, too."""

    DEFAULT_CSS = """
    RechargeForm { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source: RechargeValues | None = None  # the saved settings last written in

    def compose(self) -> ComposeResult:
        # The word beside the switch: a switch alone is colour, and NO_COLOR or a
        # 256-colour palette can make on and off look alike.
        yield Horizontal(Label("Enabled"), Switch(id="recharge-enabled"),
                         Static("", id="enabled-word"), classes="field-row")
        yield from field("Below (credits)", FormInput(id="threshold", compact=True),
                         "threshold-error")
        yield from field("Buy (credits)", FormInput(id="amount", compact=True),
                         "amount-error", Static("", id="amount-price"))
        yield from field("Monthly cap ($)", FormInput(placeholder="dollars; empty = no cap",
                                                      id="cap", compact=True), "cap-error")
        yield Button("Save auto-recharge (ctrl+s)", id="recharge-save", compact=True)

    def fill(self, recharge: AutoRecharge) -> None:
        """Show the saved settings, unless they are what the form was last filled with:
        then what the person is typing stays (quiet reloads come every second in the demo)."""
        saved = (recharge.enabled, recharge.threshold, recharge.amount,
                 recharge.monthly_cap_cents)
        if saved == self.source:
            return
        self.source = saved
        self.query_one("#recharge-enabled", Switch).value = recharge.enabled
        self.query_one("#threshold", Input).value = f"{recharge.threshold:,}"
        self.query_one("#amount", Input).value = f"{recharge.amount:,}"
        cap = recharge.monthly_cap_cents
        self.query_one("#cap", Input).value = ("" if cap is None else
                                               f"{cap // 100:,}.{cap % 100:02d}")
        self.check()

    def check(self) -> RechargeValues | None:
        """The values when all are valid (else None); each field's problem shows beside it."""
        values = {}
        for name, parse in CHECKS:
            note = self.query_one(f"#{name}-error", ErrorNote)
            try:
                values[name] = parse(self.query_one(f"#{name}", Input).value)
            except FieldError as error:
                note.show_error(str(error))
            else:
                note.clear()
        enabled = self.query_one("#recharge-enabled", Switch).value
        self.query_one("#enabled-word", Static).update("on" if enabled else "off")
        price = self.query_one("#amount-price", Static)
        price.update("" if "amount" not in values else
                     f"costs {format_cents(credits_to_cents(values['amount']))} each time")
        complete = len(values) == len(CHECKS)
        gate = self.parent
        allowed = gate.allowed if isinstance(gate, RoleGate) else True
        self.query_one("#recharge-save", Button).disabled = not allowed or not complete
        if not complete:
            return None
        return enabled, values["threshold"], values["amount"], values["cap"]

    @on(Input.Changed)
    @on(Switch.Changed)
    def changed(self) -> None:
        self.check()
