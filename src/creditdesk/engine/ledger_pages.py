"""Pages of an account's ledger, newest first, optionally filtered (the Activity screen's
questions: entries of one kind, by one member, for one campaign, or referring to an invoice).

Filters are compared on the interned codes the rows hold, so a page costs a scan of the rows
it passes over, and never builds a model for a row it does not return."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidRequest
from ..store.ledger import ACTOR, ID, KIND, KIND_CODE, KINDS, REF, Names

# Rows read from the store per step while looking for matches.
SCAN_STEP = 1000


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 255:
        raise InvalidRequest(f"{field} must be a non-empty id of at most 255 characters",
                             field=field)
    return value


def row_filter(names: Names, *, kind: str | None, user_id: str | None,
               campaign: str | None, invoice_id: str | None
               ) -> Callable[[object, int], bool] | None:
    """A test `(ledger, row) -> bool` for the filters given, or None when none is given.

    A name the books never saw matches nothing (and is not interned by asking)."""
    tests: list[tuple[int, int]] = []
    if kind is not None:
        if not isinstance(kind, str) or kind not in KIND_CODE:
            raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}", field="kind")
        tests.append((KIND, KIND_CODE[kind]))
    if user_id is not None:
        tests.append((ACTOR, names.ids.get(_text(user_id, "user_id"), -2)))
    if campaign is not None:
        tests.append((REF, names.ids.get(_text(campaign, "campaign"), -2)))
        tests.append((KIND, KIND_CODE["usage"]))
    if invoice_id is not None:
        tests.append((REF, names.ids.get(_text(invoice_id, "invoice_id"), -2)))
    if not tests:
        return None
    return lambda ledger, row: all(ledger.get(row, field) == code for field, code in tests)


def page_rows(ledger, before: int | None, limit: int,
              test: Callable[[object, int], bool] | None) -> list[int]:
    """Row indexes, newest first, of up to `limit` entries with id < `before` that pass."""
    if test is None:
        return list(ledger.rows_before(before, limit))
    found: list[int] = []
    cursor = before
    while len(found) < limit:
        chunk = list(ledger.rows_before(cursor, SCAN_STEP))
        if not chunk:
            break
        found.extend(row for row in chunk if test(ledger, row))
        cursor = ledger.get(chunk[-1], ID)
    return found[:limit]
