"""Invariants every account's ledger must keep, checked entry by entry (oldest first).

These are the TigerBeetle-style checks of architecture.md: a bucket is the sum of its ledger
changes, no bucket is ever negative on the way, every usage entry took base first, then
rollover, then purchased, and each entry's balance_after is the running total.
"""

from __future__ import annotations

from collections.abc import Sequence

from creditdesk.models import Balance, LedgerEntry


def check_ledger(entries: Sequence[LedgerEntry], balance: Balance | None = None) -> list[str]:
    """Every broken invariant, in words (an empty list when the ledger is sound)."""
    problems: list[str] = []
    base = rollover = purchased = 0
    last_id = None
    for entry in entries:
        if last_id is not None and entry.id <= last_id:
            problems.append(f"entry {entry.id} is not after entry {last_id}")
        last_id = entry.id
        before = (base, rollover, purchased)
        base += entry.base
        rollover += entry.rollover
        purchased += entry.purchased
        if min(base, rollover, purchased) < 0:
            problems.append(f"entry {entry.id} ({entry.kind}) leaves a bucket negative: "
                            f"base={base} rollover={rollover} purchased={purchased}")
        if entry.balance_after != base + rollover + purchased:
            problems.append(f"entry {entry.id} says balance_after={entry.balance_after}, "
                            f"the buckets sum to {base + rollover + purchased}")
        if entry.kind == "usage":
            problems.extend(_usage_order(entry, before))
    if balance is not None and (balance.base, balance.rollover, balance.purchased) != (
            base, rollover, purchased):
        problems.append(f"buckets base={balance.base} rollover={balance.rollover} "
                        f"purchased={balance.purchased} differ from the ledger sums "
                        f"{base}/{rollover}/{purchased}")
    return problems


def _usage_order(entry: LedgerEntry, before: tuple[int, int, int]) -> list[str]:
    took = (-entry.base, -entry.rollover, -entry.purchased)
    if min(took) < 0:
        return [f"usage entry {entry.id} adds credits: {took}"]
    if sum(took) == 0:
        return [f"usage entry {entry.id} takes nothing"]
    base_before, rollover_before, _ = before
    if took[1] and took[0] != base_before:
        return [f"usage entry {entry.id} took rollover while base had "
                f"{base_before - took[0]} left"]
    if took[2] and (took[0] != base_before or took[1] != rollover_before):
        return [f"usage entry {entry.id} took purchased credits while base or rollover "
                f"had some left"]
    return []


def entries_by_key(entries: Sequence[LedgerEntry], kind: str = "usage"
                   ) -> dict[str, list[LedgerEntry]]:
    found: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.kind == kind and entry.idempotency_key is not None:
            found.setdefault(entry.idempotency_key, []).append(entry)
    return found
