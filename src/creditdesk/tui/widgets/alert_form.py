"""AlertForm: the account's alert settings (Settings screen), checked as they are typed.

One field per value, so a thousands comma ("20,000") is never mistaken for a list separator:
up to five balance thresholds (whole credits, 1 to 10^12) and up to three member usage shares
(whole percents, 1 to 100). Empty fields mean none. What would be saved is shown sorted and
without duplicates, as the backend keeps it. The form never calls the backend: a valid save
posts `AlertForm.Save` and the screen makes the call; `editable`, `personal` and `blink` are
handed down.

In a personal account you are the only member and no limit can be set on yourself, so a
member usage alert could never fire: `personal` hides that row and its words (a save keeps
whatever shares are stored, as the rules allow them).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, Static

from ...models import MAX_BALANCE_THRESHOLDS, MAX_USAGE_SHARES, AlertSettings
from ..form_checks import FieldError, parse_credits
from .error_note import ErrorNote
from .form_input import FormInput

THRESHOLD_IDS = tuple(f"alert-balance-{n}" for n in range(MAX_BALANCE_THRESHOLDS))
SHARE_IDS = tuple(f"alert-share-{n}" for n in range(MAX_USAGE_SHARES))


def parse_percent(text: str) -> int | None:
    """A member usage share: a whole percent from 1 to 100 ("80" or "80%"); empty: None."""
    cleaned = text.strip().removesuffix("%").strip()
    if not cleaned:
        return None
    if cleaned.isascii() and cleaned.isdigit():
        value = int(cleaned)
        if 1 <= value <= 100:
            return value
        raise FieldError(f"{value} is not a share from 1% to 100% of a member's limit.")
    raise FieldError(f"{text.strip()!r} is not a whole percent: type 1 to 100, like 80.")


def parse_threshold(text: str) -> int | None:
    return parse_credits(text, allow_empty=True)


def check_values(texts: list[str], parse) -> tuple[list[int], list[tuple[int, str]]]:
    """(the values, sorted and without duplicates; [(field index, problem)])."""
    values, problems = set(), []
    for index, text in enumerate(texts):
        try:
            value = parse(text)
        except FieldError as error:
            problems.append((index, str(error)))
        else:
            if value is not None:
                values.add(value)
    return sorted(values), problems


def describe_settings(balance_below: list[int], shares: list[int], *,
                      personal: bool = False) -> str:
    """The settings in a sentence (also what a save would keep); a personal account's
    sentence leaves out members."""
    balance = ("no balance alerts" if not balance_below else
               "balance below " + ", ".join(f"{x:,}" for x in balance_below) + " credits")
    if personal:
        return f"Alerts on {balance}."
    usage = ("no member usage alerts" if not shares else
             "members at " + ", ".join(f"{p}%" for p in shares) + " of their limit")
    return f"Alerts on {balance}; {usage}."


class AlertForm(Vertical):
    """The two rows of fields, their error notes, what would be saved, and Save."""

    DEFAULT_CSS = """
    AlertForm { height: auto; }
    AlertForm .field-row { height: 1; }
    AlertForm #alert-summary { height: auto; color: $text-muted; }
    AlertForm.-personal #alert-shares, AlertForm.-personal #alert-share-error {
        display: none;
    }
    """

    class Save(Message):
        """A valid save was asked for: the screen calls configure_alerts with these."""

        def __init__(self, balance_below: list[int], member_usage_percent: list[int]) -> None:
            super().__init__()
            self.balance_below = balance_below
            self.member_usage_percent = member_usage_percent

    editable: reactive[bool] = reactive(False)
    personal: reactive[bool] = reactive(False)

    def __init__(self, *, blink: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.blink = blink
        self.source: AlertSettings | None = None  # the saved settings last written in

    def compose(self) -> ComposeResult:
        yield Horizontal(Label("Balance below"),
                         *(FormInput(id=name, compact=True, blink=self.blink,
                                     placeholder="credits") for name in THRESHOLD_IDS),
                         id="alert-thresholds", classes="field-row")
        yield ErrorNote(id="alert-balance-error")
        yield Horizontal(Label("Member use (%)"),
                         *(FormInput(id=name, compact=True, blink=self.blink,
                                     placeholder="%") for name in SHARE_IDS),
                         id="alert-shares", classes="field-row")
        yield ErrorNote(id="alert-share-error")
        yield Static("", id="alert-summary")
        yield Button("Save alerts (enter)", id="alerts-save", compact=True)

    def fill(self, settings: AlertSettings) -> None:
        """Show the saved settings, unless they are what the form was last filled with:
        then what the person is typing stays (quiet reloads come every second in the demo)."""
        if settings == self.source:
            return
        self.source = settings
        for ids, values in ((THRESHOLD_IDS, [f"{x:,}" for x in settings.balance_below]),
                            (SHARE_IDS, [str(p) for p in settings.member_usage_percent])):
            for index, name in enumerate(ids):
                # No Changed from the fill: the one check below sees every field.
                control = self.query_one(f"#{name}", Input)
                with control.prevent(Input.Changed):
                    control.value = values[index] if index < len(values) else ""
        self.check()

    def reset(self) -> None:
        """Forget the account's settings and empty the fields (a context switch)."""
        self.source = None
        for name in (*THRESHOLD_IDS, *SHARE_IDS):
            self.query_one(f"#{name}", Input).value = ""
        self.query_one("#alert-summary", Static).update("")

    def texts(self, ids: tuple[str, ...]) -> list[str]:
        return [self.query_one(f"#{name}", Input).value for name in ids]

    def check(self) -> tuple[list[int], list[int]] | None:
        """(balance_below, member_usage_percent) when every field is valid, else None;
        each row's problem is said beside it, naming the field."""
        thresholds, balance_problems = check_values(self.texts(THRESHOLD_IDS), parse_threshold)
        shares, share_problems = check_values(self.texts(SHARE_IDS), parse_percent)
        for note_id, label, problems in (
                ("#alert-balance-error", "Balance threshold", balance_problems),
                ("#alert-share-error", "Member usage share", share_problems)):
            note = self.query_one(note_id, ErrorNote)
            if problems:
                index, problem = problems[0]
                note.show_error(f"{label} {index + 1}: {problem}")
            else:
                note.clear()
        valid = not balance_problems and not share_problems
        self.query_one("#alerts-save", Button).disabled = not self.editable or not valid
        summary = self.query_one("#alert-summary", Static)
        if not valid:
            summary.update("Nothing is saved until every field is valid.")
            return None
        changed = self.source is not None and (
            thresholds != self.source.balance_below
            or shares != self.source.member_usage_percent)
        sentence = describe_settings(thresholds, shares, personal=self.personal)
        summary.update(f"Save keeps: {sentence}" if changed else sentence)
        return thresholds, shares

    def watch_editable(self) -> None:
        if self.is_mounted:
            self.check()

    def watch_personal(self, personal: bool) -> None:
        self.set_class(personal, "-personal")
        if self.is_mounted:
            self.check()

    @on(Input.Changed)
    def typed(self, event: Input.Changed) -> None:
        event.stop()
        self.check()

    @on(Input.Submitted)
    @on(Button.Pressed, "#alerts-save")
    def save_asked(self, event: Message) -> None:
        event.stop()
        values = self.check()
        if values is not None and self.editable:
            self.post_message(self.Save(*values))
