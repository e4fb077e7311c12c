"""The append-only ledger of one account, stored column by column.

A million entries as tuples or objects cost ~500 bytes each; as typed arrays they cost ~100,
which is what lets a year of a 10,000-member org stay in memory. Rows are only ever appended;
nothing edits or deletes one. Every row stores the buckets after it, so the bucket = sum of
changes invariant can be checked row by row, and an idempotent replay can rebuild the first
answer from the row alone.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from datetime import UTC, datetime, timedelta

KINDS = ("grant", "rollover", "forfeit", "purchase", "recharge", "usage")
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
DAY_US = 86_400_000_000


def to_micros(at: datetime) -> int:
    return (at - EPOCH) // _MICRO


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
    __slots__ = ("ids", "at", "kind", "actor", "d_base", "d_rollover", "d_purchased",
                 "base", "rollover", "purchased", "ref", "key", "member_used", "period_used",
                 "paused")

    def __init__(self) -> None:
        self.ids = array("q")
        self.at = array("q")            # microseconds since the epoch, UTC
        self.kind = array("b")
        self.actor = array("l")         # Names code
        self.d_base = array("q")
        self.d_rollover = array("q")
        self.d_purchased = array("q")
        self.base = array("q")          # buckets after the row
        self.rollover = array("q")
        self.purchased = array("q")
        self.ref = array("l")           # Names code, -1 for none
        self.key: list[str | None] = []  # idempotency key
        self.member_used = array("q")   # usage rows: the member's and the account's period use
        self.period_used = array("q")   # after the debit, for replaying the first receipt
        self.paused = array("b")        # autopilot paused after the row (1) or running (0)

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, entry_id: int, at_us: int, kind: int, actor: int, d_base: int,
               d_rollover: int, d_purchased: int, base: int, rollover: int, purchased: int,
               ref: int, key: str | None, member_used: int, period_used: int,
               paused: bool) -> int:
        self.ids.append(entry_id)
        self.at.append(at_us)
        self.kind.append(kind)
        self.actor.append(actor)
        self.d_base.append(d_base)
        self.d_rollover.append(d_rollover)
        self.d_purchased.append(d_purchased)
        self.base.append(base)
        self.rollover.append(rollover)
        self.purchased.append(purchased)
        self.ref.append(ref)
        self.key.append(key)
        self.member_used.append(member_used)
        self.period_used.append(period_used)
        self.paused.append(paused)
        return len(self.ids) - 1

    def rows_before(self, before: int | None, limit: int) -> range:
        """Row indexes newest first, of entries with id < `before` (all when None)."""
        end = len(self.ids) if before is None else bisect_left(self.ids, before)
        return range(end - 1, max(end - limit, 0) - 1, -1)

    def sums(self) -> tuple[int, int, int]:
        return sum(self.d_base), sum(self.d_rollover), sum(self.d_purchased)
