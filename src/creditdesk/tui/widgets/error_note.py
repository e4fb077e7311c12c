"""Backend errors in words, shown next to whatever caused them (never a traceback)."""

from __future__ import annotations

from textual.widgets import Static

from ...errors import BillingError, Unauthenticated, Unavailable


def describe_error(error: BaseException) -> str:
    """One sentence a person can act on. BillingError messages already name the field or
    role; anything else is a transport failure (the remote backend cannot reach its server),
    identified by class name so the dashboard never has to import httpx."""
    if isinstance(error, Unauthenticated):
        # The server's words are for API clients ("send 'Authorization: Bearer …'").
        return "Your token was refused: run `creditdesk login` to sign in again."
    if isinstance(error, Unavailable):
        return "Cannot reach the billing server (nothing was changed): check the connection."
    if isinstance(error, BillingError):
        return error.message
    name = type(error).__name__
    if name in {"ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
                "NetworkError", "TimeoutException", "ConnectionRefusedError", "OSError"}:
        return f"Cannot reach the billing server ({name}): check the connection and retry."
    return f"Unexpected error ({name}): {error}"


class ErrorNote(Static):
    """A one-line red note under a form field or control; hidden while empty."""

    DEFAULT_CSS = """
    ErrorNote { color: $text-error; height: auto; display: none; }
    ErrorNote.-shown { display: block; }
    """

    def show_error(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else describe_error(error)
        self.update(text)
        self.add_class("-shown")

    def clear(self) -> None:
        # The forms clear every note on each check (several a fill): an update, even to
        # the same empty text, asks Textual for a layout of the whole screen.
        if not self.is_shown and not str(self.content):
            return
        self.update("")
        self.remove_class("-shown")

    @property
    def is_shown(self) -> bool:
        return self.has_class("-shown")
