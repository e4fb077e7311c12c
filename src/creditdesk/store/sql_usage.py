"""The SQL store's usage roll-ups of one account: per day and per month, by bucket, member
and campaign (`dim` 0, 1, 2), so a history query never scans the ledger. The same
operations as the memory store's `DayRollups` (store/state.py), in the account's
transaction: a debit's additions are kept in `pending` and upserted once at commit.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import sqlalchemy as sa

from .ledger import DAY_US, Names, from_micros, to_micros
from .schema import usage_day, usage_month
from .sql_alerts import upsert_dialect
from .sql_driver import Writes, driver_for
from .state import DayUsage


class SqlDays:
    """Usage roll-ups per day and per month: debits add to them at commit (one upsert per
    key), history reads whole days at once, so neither ever scans the ledger."""

    def __init__(self, conn: sa.Connection, account_id: str, names: Names) -> None:
        self.conn, self.account_id, self.names = conn, account_id, names
        self.pending: dict[tuple[int, int, str], int] = {}

    def add(self, day_index: int, from_base: int, from_rollover: int, from_purchased: int,
            member: int, campaign: int, credits: int) -> None:
        pending, names = self.pending, self.names.names
        for dim, key, value in ((0, "base", from_base), (0, "rollover", from_rollover),
                                (0, "purchased", from_purchased), (1, names[member], credits),
                                (2, names[campaign], credits)):
            if value:
                pending[(day_index, dim, key)] = pending.get((day_index, dim, key), 0) + value

    def between(self, first_day: int, last_day: int,
                only: tuple[str, list[int]] | None = None) -> list[tuple[int, DayUsage]]:
        """The days with usage in [first_day, last_day), oldest first. `only`
        (attribute, codes): of that split, fetch just those keys (a top-N chart needs a
        handful of a year's 10,000 members per day, and the day's total from its buckets)."""
        days: dict[int, DayUsage] = {}
        code = self.names.code
        wanted = usage_day.c.account_id == self.account_id
        if only is not None:
            names = self.names.names
            wanted = wanted & ((usage_day.c.dim == 0) | (
                (usage_day.c.dim == _DIMS[only[0]])
                & usage_day.c.key.in_([names[c] for c in only[1]])))
        for r in self.conn.execute(sa.select(usage_day).where(
                wanted, usage_day.c.day >= first_day, usage_day.c.day < last_day)):
            day = days.get(r.day)
            if day is None:
                day = days[r.day] = DayUsage()
            if r.dim == 0:
                setattr(day, r.key, getattr(day, r.key) + r.credits)
            else:
                (day.by_member if r.dim == 1 else day.by_campaign)[code(r.key)] = r.credits
        return sorted(days.items())

    def key_totals(self, first_day: int, last_day: int, attribute: str) -> dict[int, int]:
        """Credits per key (Names code) of one split over [first_day, last_day), summed by
        the database: the whole months inside the range from the month roll-ups, the
        edges from the day ones (a year of a 10,000-member org is ~120,000 month rows
        instead of ~700,000 day rows, and none of them travels to Python)."""
        dim = _DIMS[attribute]
        low, high = _whole_months(first_day, last_day)
        spans = [(first_day, last_day)]
        totals: dict[int, int] = {}
        if low < high:
            spans = [(first_day, _month_day(low)), (_month_day(high), last_day)]
            self._sum_into(totals, usage_month, usage_month.c.month, dim, low, high)
        for first, last in spans:
            if first < last:
                self._sum_into(totals, usage_day, usage_day.c.day, dim, first, last)
        return totals

    def _sum_into(self, totals: dict[int, int], table: sa.Table, column, dim: int,
                  first: int, last: int) -> None:
        code = self.names.code
        for key, credits in self.conn.execute(
                sa.select(table.c.key, sa.func.sum(table.c.credits))
                .where(table.c.account_id == self.account_id, table.c.dim == dim,
                       column >= first, column < last).group_by(table.c.key)):
            c = code(key)
            totals[c] = totals.get(c, 0) + int(credits)

    def save(self, dialect: str, writes: Writes) -> None:
        """Gather the upserts of the pending additions in `writes`."""
        months: dict[tuple[int, int, str], int] = {}
        for (day, dim, key), credits in self.pending.items():
            when = from_micros(day * DAY_US)
            month = (when.year * 12 + when.month - 1, dim, key)
            months[month] = months.get(month, 0) + credits
        if dialect == "postgresql" and self.pending:
            values = {"account": self.account_id, **_arrays("d_", self.pending),
                      **_arrays("m_", months)}
            writes.add(driver_for(self.conn.engine).compiled(_days_and_months()), values)
        else:
            _add_up(writes, self.conn, dialect, usage_day, "day", self.account_id,
                    self.pending)
            _add_up(writes, self.conn, dialect, usage_month, "month", self.account_id, months)
        self.pending = {}


_DIMS = {"by_member": 1, "by_campaign": 2}     # usage_day/usage_month `dim` of a split


def _month_day(month: int) -> int:
    """The first day (days since the epoch) of a month index (year * 12 + month - 1)."""
    return to_micros(datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC)) // DAY_US


def _whole_months(first_day: int, last_day: int) -> tuple[int, int]:
    """Month indexes [low, high) of the calendar months wholly inside [first_day, last_day)."""
    first, last = from_micros(first_day * DAY_US), from_micros(last_day * DAY_US)
    low = first.year * 12 + first.month - 1 + (first.day != 1)
    return low, max(low, last.year * 12 + last.month - 1)


def _add_up(writes: Writes, conn, dialect: str, table: sa.Table, column: str,
            account_id: str, amounts: dict[tuple[int, int, str], int]) -> None:
    """Add `amounts` to the roll-up rows, creating those that are missing."""
    if not amounts:
        return
    rows = [{"account_id": account_id, column: when, "dim": dim, "key": key,
             "credits": credits} for (when, dim, key), credits in amounts.items()]
    writes.add_many(driver_for(conn.engine).compiled(_roll_up_statement(
        dialect, table, column), ["account_id", column, "dim", "key", "credits"]), rows)


@functools.cache
def _roll_up_statement(dialect: str, table: sa.Table, column: str):
    """The upsert adding to a roll-up row, built once (the driver compiles each statement
    object once, sql_driver.py; building it per call was half a debit's time on SQLite)."""
    statement = upsert_dialect(dialect).insert(table)
    return statement.on_conflict_do_update(
        index_elements=["account_id", column, "dim", "key"],
        set_={"credits": table.c.credits + statement.excluded.credits})


def _arrays(prefix: str, amounts: dict[tuple[int, int, str], int]) -> dict[str, list]:
    """The parameters of `_upsert_from_arrays`: one list per column."""
    keys = list(amounts)
    return {f"{prefix}when": [when for when, _, _ in keys],
            f"{prefix}dim": [dim for _, dim, _ in keys],
            f"{prefix}key": [key for _, _, key in keys],
            f"{prefix}credits": list(amounts.values())}


@functools.cache
def _days_and_months():
    """PostgreSQL: both roll-ups' upserts as one statement (the day rows' INSERT in a CTE),
    their rows as arrays: one execution on the server instead of one per row and table."""
    days = _upsert_from_arrays(usage_day, "day", "d_").cte("days")
    return _upsert_from_arrays(usage_month, "month", "m_").add_cte(days)


def _upsert_from_arrays(table: sa.Table, column: str, prefix: str):
    from sqlalchemy.dialects import postgresql
    rows = sa.func.unnest(
        sa.bindparam(f"{prefix}when", type_=postgresql.ARRAY(sa.Integer)),
        sa.bindparam(f"{prefix}dim", type_=postgresql.ARRAY(sa.SmallInteger)),
        sa.bindparam(f"{prefix}key", type_=postgresql.ARRAY(sa.String)),
        sa.bindparam(f"{prefix}credits", type_=postgresql.ARRAY(sa.BigInteger)),
    ).table_valued("w", "d", "k", "c").render_derived(name=f"{prefix}rows")
    insert = postgresql.insert(table).from_select(
        ["account_id", column, "dim", "key", "credits"],
        sa.select(sa.bindparam("account", type_=sa.String), rows.c.w, rows.c.d, rows.c.k,
                  rows.c.c))
    return insert.on_conflict_do_update(
        index_elements=["account_id", column, "dim", "key"],
        set_={"credits": table.c.credits + insert.excluded.credits})
