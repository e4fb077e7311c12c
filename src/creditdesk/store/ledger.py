"""The append-only ledger of one account, stored as one flat array of 64-bit integers.

A million entries as tuples or objects cost ~500 bytes each; as one typed array with a fixed
stride they cost 112 bytes, which is what lets a year of a 10,000-member org stay in memory,
and appending a row is a single `extend`. Rows are only ever appended; nothing edits or
deletes one. Every row stores the buckets after it, so the "bucket = sum of changes"
invariant can be checked row by row, and an idempotent replay can rebuild the first answer
from the row alone.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from struct import Struct

KINDS = ("grant", "rollover", "forfeit", "purchase", "recharge", "usage")
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000

# Field offsets inside a row. `ref` and `actor` are Names codes (-1: none); the buckets are
# the values after the row; member_used and period_used are the member's and the account's
# use this period after a debit (0 on other rows); paused is -1 while autopilot runs after
# the row, else the Names code of why it is paused (so a replay repeats the same words).
(ID, AT, KIND, ACTOR, D_BASE, D_ROLLOVER, D_PURCHASED, BASE, ROLLOVER, PURCHASED, REF,
 MEMBER_USED, PERIOD_USED, PAUSED) = range(14)
STRIDE = 14
# array.extend(tuple) grows the array one item at a time; packing the row first and adding
# its bytes is one copy (half the cost, and appending sat on every debit's hot path).
_PACK_ROW = Struct(f"{STRIDE}q").pack


def to_micros(at: datetime) -> int:
    # The delta's fields in integer arithmetic: dividing by a timedelta converts both
    # operands to microseconds first (a tenth dearer, and this runs on every debit).
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


class Names:
    """Interns the strings ledger rows refer to (users, campaigns, invoices) as small ints."""

    __slots__ = ("ids", "names")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}

    def code(self, name: str) -> int:
        code = self.ids.get(name)
        if code is None:
            code = self.ids[name] = len(self.names)
            self.names.append(name)
        return code


class Ledger:
    __slots__ = ("keys", "rows")

    def __init__(self) -> None:
        self.rows = array("q")
        self.keys: list[str | None] = []    # idempotency key of each row

    def __len__(self) -> int:
        return len(self.keys)

    def append(self, row: tuple[int, ...], key: str | None) -> int:
        self.rows.frombytes(_PACK_ROW(*row))
        self.keys.append(key)
        return len(self.keys) - 1

    def get(self, row: int, field: int) -> int:
        return self.rows[row * STRIDE + field]

    def row(self, row: int) -> array:
        return self.rows[row * STRIDE:(row + 1) * STRIDE]

    def rows_before(self, before: int | None, limit: int) -> range:
        """Row indexes newest first, of entries with id < `before` (all when None)."""
        rows = self.rows
        count = len(self.keys)
        end = count if before is None else bisect_left(
            range(count), before, key=lambda r: rows[r * STRIDE])
        return range(end - 1, max(end - limit, 0) - 1, -1)

    def sums(self) -> tuple[int, int, int]:
        rows = self.rows
        return (sum(rows[D_BASE::STRIDE]), sum(rows[D_ROLLOVER::STRIDE]),
                sum(rows[D_PURCHASED::STRIDE]))

    def last_buckets(self) -> tuple[int, int, int] | None:
        if not self.keys:
            return None
        start = (len(self.keys) - 1) * STRIDE
        return self.rows[start + BASE], self.rows[start + ROLLOVER], self.rows[start + PURCHASED]
