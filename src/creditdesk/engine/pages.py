"""One page of a list the engine answers (members, invoices): `offset`/`limit` checked here,
the rows read by the store, so a page of 50 of 20,000 members loads 50 on the SQL store."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Generic, TypeVar

from .. import rules
from ..errors import InvalidRequest

T = TypeVar("T")
R = TypeVar("R")


class Page(list, Generic[T]):
    """A list (what the contract's methods return) that also says how many there are in
    all, for the HTTP answer's X-Total-Count."""

    __slots__ = ("total",)

    def __init__(self, items, total: int) -> None:
        super().__init__(items)
        self.total = total


# No list is this long: larger values mean the same page and must not overflow SQL's
# 64-bit OFFSET and LIMIT.
_BEYOND = 2**60


def check(offset: object, limit: object) -> tuple[int, int | None]:
    """(offset, limit) if `offset` >= 0 and `limit` is None or >= 1, else InvalidRequest
    naming the field."""
    if not rules.is_int(offset) or offset < 0:
        raise InvalidRequest("offset must be a whole number, zero or more", field="offset")
    if limit is not None and (not rules.is_int(limit) or limit < 1):
        raise InvalidRequest("limit must be a whole number, one or more", field="limit")
    return min(offset, _BEYOND), None if limit is None else min(limit, _BEYOND)


def members(collection, offset: int, limit: int | None) -> tuple[list, int]:
    """(the memberships from `offset`, at most `limit`, in joining order; how many in all).
    The SQL store's collection reads just the page; the memory store's is a dict."""
    if isinstance(collection, dict):
        stop = None if limit is None else offset + limit
        return list(islice(collection.values(), offset, stop)), len(collection)
    return collection.page(offset, limit)


def invoices(collection, offset: int, limit: int | None) -> tuple[list, int]:
    """(the invoices newest first from `offset`, at most `limit`; how many in all)."""
    return collection.newest(offset, limit), len(collection)


def build(rows: tuple[list, int], model: Callable[[R], T]) -> Page[T]:
    items, total = rows
    return Page([model(row) for row in items], total)
