"""The debit path's statements sent straight to the driver, inside SQLAlchemy's transaction.

SQLAlchemy spends ~18 µs of its own on each statement it executes (the compiled-cache
look-up, an execution context, parameter processing, the result's wrapping, events) against
~7 µs in the SQLite driver, and a debit sends ten. The few statements of that path (the
account, membership and idempotency reads, the entry counter, the ledger insert, the
account and membership updates, the idempotency insert, the roll-up upserts) are compiled
here once per dialect from their SQLAlchemy Core form (the schema stays the one source of
their SQL) and executed on the DBAPI connection of the transaction's `sa.Connection`, so
they are part of the same transaction. What SQLAlchemy did around the driver for them is
done here too:

* a driver error becomes SQLAlchemy's `DBAPIError` (`DBAPIError.instance`), so the retry
  (`sql_transactions.translate`) and the server's 503 see what they saw before;
* a disconnect invalidates the `sa.Connection`, so the pool drops the dead connection;
* bind and result processors of the columns' types are applied (SQLite's booleans);
* `Driver.watch` is the injection point the engine's `before_cursor_execute` event was for
  these statements (the fault-injection tests and the benchmark's statement count).

The writes of a commit whose results nobody reads (the account and membership updates, the
idempotency record, the roll-ups) are gathered in `Writes` and sent together: on PostgreSQL
in one psycopg pipeline, one round trip to the server instead of one per statement (or
several per `executemany`); on SQLite, which has no round trips, one after the other.

Every other statement still goes through SQLAlchemy: they are rare and not worth it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

# A watcher sees (the DBAPI connection, sql, parameters, executemany) before the driver
# does; what it raises is raised as the driver's own failure would be (a driver error is
# wrapped as one, a disconnect invalidates the connection).
Watcher = Callable[[Any, str, Any, bool], None]


class Compiled:
    """One statement's SQL for one dialect, how its parameters are laid out, and (for a
    SELECT or RETURNING) the row type its results are given as."""

    __slots__ = ("binders", "defaults", "names", "readers", "row", "sql")

    def __init__(self, statement, dialect: sa.Dialect, column_keys: list[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ()) if dialect.positional else None
        binds = {name: bind for name, bind in compiled.binds.items() if self._sends(name)}
        # Literals the statement holds itself (the counter's "+ 1").
        self.defaults = {name: bind.effective_value for name, bind in binds.items()
                         if not bind.required}
        self.binders = {name: processor for name, bind in binds.items()
                        if (processor := bind.type.dialect_impl(dialect)
                            .bind_processor(dialect)) is not None}
        self.row = self.readers = None
        # A SELECT's columns, or those of an UPDATE ... RETURNING (none for other DML or
        # a text() without columns).
        columns = list(getattr(statement, "exported_columns", ()))
        if columns:
            self.row = namedtuple("Row", [column.key for column in columns])
            readers = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                       for column in columns]
            if any(readers):
                self.readers = readers

    def _sends(self, name: str) -> bool:
        """Whether the SQL takes bind `name` (`binds` also lists each one's anonymous form)."""
        if self.names is not None:
            return name in self.names
        return f"%({name})s" in self.sql

    def parameters(self, values: dict):
        """`values` (by bind name) as the driver takes them."""
        if self.defaults:
            values = {**self.defaults, **values}
        if self.binders:
            values = dict(values)
            for name, processor in self.binders.items():
                values[name] = processor(values[name])
        if self.names is None:
            return values
        return tuple([values[name] for name in self.names])

    def make_row(self, raw: tuple):
        if self.readers is None:
            return self.row._make(raw)
        return self.row._make([value if reader is None else reader(value)
                               for reader, value in zip(self.readers, raw, strict=True)])


class Writes:
    """Statements to send together at commit (see `Driver.send`), each with its parameters
    already laid out for the driver."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[Compiled, Any, bool]] = []

    def add(self, compiled: Compiled, values: dict) -> None:
        self.items.append((compiled, compiled.parameters(values), False))

    def add_many(self, compiled: Compiled, rows: list[dict]) -> None:
        self.items.append((compiled, [compiled.parameters(row) for row in rows], True))


class Driver:
    """The store's compiled hot statements and the one way they are executed."""

    def __init__(self, engine: sa.Engine) -> None:
        self.dialect = engine.dialect
        self.error = self.dialect.loaded_dbapi.Error
        # psycopg 3 (with a libpq that has it) sends a batch of statements in one trip.
        self.pipelines = self.dialect.driver == "psycopg" and \
            self.dialect.loaded_dbapi.Pipeline.is_supported()
        self.watchers: list[Watcher] = []
        self._compiled: dict[int, tuple[object, Compiled]] = {}

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call `watcher` before each statement this driver sends; returns what stops it."""
        self.watchers.append(watcher)
        return lambda: self.watchers.remove(watcher)

    def compiled(self, statement, column_keys: list[str] | None = None) -> Compiled:
        # Keyed by identity: the statements are module constants, built once, each used
        # with one set of `column_keys`; the statement is kept with its compiled form so
        # its id is never reused by another object.
        found = self._compiled.get(id(statement))
        if found is None:
            found = self._compiled[id(statement)] = (
                statement, Compiled(statement, self.dialect, column_keys))
        return found[1]

    def execute(self, conn: sa.Connection, compiled: Compiled, values: dict) -> None:
        """Run one statement whose rows (if any) nobody reads."""
        self._send(conn, compiled, compiled.parameters(values), many=False).close()

    def execute_many(self, conn: sa.Connection, compiled: Compiled, rows: list[dict]) -> None:
        self._send(conn, compiled, [compiled.parameters(row) for row in rows],
                   many=True).close()

    def first(self, conn: sa.Connection, compiled: Compiled, values: dict):
        """The first row (as `compiled.row`), or None."""
        raw = self._read(conn, compiled, values)
        return None if raw is None else compiled.make_row(raw)

    def scalar(self, conn: sa.Connection, compiled: Compiled, values: dict):
        """The first column of the first row, or None when there is no row."""
        raw = self._read(conn, compiled, values)
        return None if raw is None else compiled.make_row(raw)[0]

    def send(self, conn: sa.Connection, writes: Writes) -> None:
        """Run the gathered writes, in order, in the transaction of `conn`."""
        if not self.pipelines:
            for compiled, parameters, many in writes.items:
                self._send(conn, compiled, parameters, many=many)
            return
        if not writes.items:
            return
        dbapi_connection = conn.connection.dbapi_connection
        try:
            # Watchers first: a failure they inject comes before any of the batch is sent.
            for compiled, parameters, many in writes.items:
                for watcher in self.watchers:
                    watcher(dbapi_connection, compiled.sql, parameters, many)
            with dbapi_connection.pipeline():
                for compiled, parameters, many in writes.items:
                    _run(dbapi_connection.cursor(), compiled.sql, parameters, many)
        except self.error as error:
            sql = "; ".join(compiled.sql for compiled, _, _ in writes.items)
            raise self._wrapped(conn, sql, None, error, dbapi_connection, None) from error

    def _send(self, conn: sa.Connection, compiled: Compiled, parameters, *, many: bool):
        dbapi_connection = conn.connection.dbapi_connection
        cursor = None
        try:
            for watcher in self.watchers:
                watcher(dbapi_connection, compiled.sql, parameters, many)
            cursor = dbapi_connection.cursor()
            _run(cursor, compiled.sql, parameters, many)
        except self.error as error:
            raise self._wrapped(conn, compiled.sql, parameters, error, dbapi_connection,
                                cursor) from error
        return cursor

    def _read(self, conn: sa.Connection, compiled: Compiled, values: dict):
        """The first row the statement gives, as the driver gives it, or None."""
        cursor = self._send(conn, compiled, compiled.parameters(values), many=False)
        try:
            return cursor.fetchone()
        except self.error as error:
            raise self._wrapped(conn, compiled.sql, None, error, conn.connection
                                .dbapi_connection, cursor) from error
        finally:
            # Closed at once, as SQLAlchemy closes them: a SQLite statement read for one
            # row (a SELECT, an UPDATE ... RETURNING) is otherwise left unfinished in the
            # connection's statement cache until the same SQL runs again.
            cursor.close()

    def _wrapped(self, conn: sa.Connection, sql: str, parameters, error: Exception,
                 dbapi_connection, cursor) -> DBAPIError:
        """The driver's `error` as SQLAlchemy would have raised it; a disconnect also
        invalidates `conn`, so its dead connection goes back to no pool."""
        disconnect = self.dialect.is_disconnect(error, dbapi_connection, cursor)
        wrapped = DBAPIError.instance(sql, parameters, error, self.error,
                                      connection_invalidated=disconnect, dialect=self.dialect)
        if disconnect:
            conn.invalidate(wrapped)
        return wrapped


def _run(cursor, sql: str, parameters, many: bool) -> None:
    if many:
        cursor.executemany(sql, parameters)
    else:
        cursor.execute(sql, parameters)


_drivers: WeakKeyDictionary[sa.Engine, Driver] = WeakKeyDictionary()


def driver_for(engine: sa.Engine) -> Driver:
    """The one Driver of `engine` (its store's watchers see every statement it sends), for
    the collections that are given a connection and not their store."""
    driver = _drivers.get(engine)
    if driver is None:
        driver = _drivers[engine] = Driver(engine)
    return driver
