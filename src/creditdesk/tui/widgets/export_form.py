"""Exports: the modal that asks where to write a CSV (it returns the path, nothing more),
and the cell formats every export shares so spreadsheets read them alike.

The screen that opens `ExportForm` writes the file in its callback: the modal never calls
the backend and never holds its screen (architecture.md, "Messages up, data down").
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from ..dialog import Dialog
from .error_note import ErrorNote
from .form_input import FormInput

Cell = str | int | None


class ExportPathError(ValueError):
    """The typed path cannot take the CSV; str(error) says why, for the field."""


def csv_time(moment: datetime) -> str:
    """One date format for every export: ISO 8601, UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_dollars(cents: int) -> str:
    """Plain dollars with two decimals (499.00): a number to a spreadsheet, never "$4.99"."""
    return f"{Decimal(cents) / 100:.2f}"


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """The CSV body; None becomes an empty cell (where the screen shows "—" or "none")."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow("" if value is None else value for value in row)
    return out.getvalue()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
    """Write with a UTF-8 byte-order mark: without it Excel reads "Zoë" as "ZoÃ«"."""
    path.write_text(csv_text(header, rows), encoding="utf-8-sig", newline="")


def default_export_path(what: str, account_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", account_id).strip("-") or "account"
    return f"~/creditdesk-{what}-{safe}.csv"


def check_export_path(text: str) -> Path:
    """Where the CSV may be written, or ExportPathError saying why not (nothing written)."""
    if not text.strip():
        raise ExportPathError("Enter the path of the CSV file to write.")
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        raise ExportPathError(f"{path} is a folder; add a file name, e.g. "
                              f"{path / 'export.csv'}.")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise ExportPathError(f"{folder} is a file, not a folder.")
    if not folder.is_dir():
        raise ExportPathError(f"The folder {folder} does not exist.")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportPathError(f"{path} exists and cannot be overwritten.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportPathError(f"Cannot write in {folder}.")
    return path


def write_failure(path: Path, error: OSError) -> str:
    return f"Could not write {path}: {error.strerror or error}."


class ExportForm(Dialog[Path | None]):
    """Asks where to write the CSV; the path is checked as it is typed. Dismisses with the
    accepted path (the caller writes the file), or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="export.cancel")]
    DEFAULT_CSS = """
    ExportForm { align: center middle; }
    ExportForm #export-form { width: 76; }
    ExportForm #path { width: 1fr; }
    """

    def __init__(self, title: str, default_path: str, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.default_path = default_path
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical(id="export-form", classes="dialog"):
            yield Label(self.title_text, classes="title")
            yield Label("File", classes="field-label")
            yield FormInput(self.default_path, id="path", compact=True,
                            blink=self.cursor_blink)
            yield ErrorNote(id="path-error")
            yield Static("", id="path-note", classes="muted")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Label("enter: export   escape: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()
        self.check()

    @on(Input.Changed, "#path")
    def check(self) -> Path | None:
        note = self.query_one(ErrorNote)
        hint = self.query_one("#path-note", Static)
        try:
            path = check_export_path(self.query_one("#path", Input).value)
        except ExportPathError as error:
            note.show_error(str(error))
            hint.update("")
            self.query_one("#export", Button).disabled = True
            return None
        note.clear()
        hint.update(f"Replaces the existing {path.name}." if path.exists() else "")
        self.query_one("#export", Button).disabled = False
        return path

    def show_error(self, message: str) -> None:
        """The caller could not write the file: say so beside the field (form stays open)."""
        self.query_one(ErrorNote).show_error(message)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def export(self) -> None:
        path = self.check()
        if path is not None:  # else the note already says what is wrong
            self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
