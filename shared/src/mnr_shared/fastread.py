"""The lean read path: a hot query run straight on the database driver, its rows typed as the ORM
would type them.

Through the async ORM, one primary-key query costs about a millisecond of CPU (the session, the
greenlet bridge, the aiosqlite thread hop, entity loading); on the driver it costs tens of
microseconds. `Prepared` compiles a SQLAlchemy Core statement once per dialect and keeps the
column types' own bind and result processors, so what comes back is exactly what
`session.execute` would give (UUIDs, aware UTC times, dates, Decimals, JSON, enums) without the
machinery. `Reads` runs it:

- SQLite: one connection per process, used from the event loop's thread, `query_only`, in
  autocommit — each statement reads one WAL snapshot, never waits for the writer and never blocks
  it. Statements on an indexed key take microseconds, less than handing them to a thread.
- PostgreSQL: a pooled asyncpg connection from the service's own engine, outside any transaction
  (each statement is its own snapshot).

Use it for single-statement reads on the hottest routes only; everything else keeps the session.
A read that needs several statements to agree either runs in one statement or tolerates a write
landing between them (and says why).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Numeric
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import CompoundSelect, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

Row = tuple[Any, ...]
Processor = Callable[[Any], Any] | None


# asyncpg's numeric processor asks for the column's PostgreSQL type oid (what the cursor reports);
# `numeric` (1700) is the type of every Numeric column here, and asyncpg hands it back as Decimal.
_PG_NUMERIC_OID = 1700


def _driver_type(type_: TypeEngine[Any], dialect: Dialect) -> int | None:
    return _PG_NUMERIC_OID if dialect.name == "postgresql" and isinstance(type_, Numeric) else None


class _Compiled:
    """One statement compiled for one dialect: its text, parameter order and type processors."""

    def __init__(self, statement: Select[Any] | CompoundSelect[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self.names: list[str] = list(compiled.positiontup or [])
        binds = {name: compiled.binds[name] for name in self.names}
        self.bind_processors: dict[str, Processor] = {
            name: bind.type._cached_bind_processor(dialect) for name, bind in binds.items()
        }
        self.result_processors: list[Processor] = [
            column.type._cached_result_processor(dialect, _driver_type(column.type, dialect))
            for column in statement.selected_columns
        ]

    def args(self, params: dict[str, Any]) -> list[Any]:
        values = []
        for name in self.names:
            value = params[name]
            process = self.bind_processors[name]
            values.append(process(value) if process is not None and value is not None else value)
        return values

    def rows(self, raw: Sequence[Sequence[Any]], shared: int) -> list[Row]:
        processors = self.result_processors
        if not raw:
            return []
        first = tuple(value if p is None else p(value) for p, value in zip(processors, raw[0], strict=True))
        head, tail = first[:shared], processors[shared:]
        return [first] + [
            head
            + tuple(value if p is None else p(value) for p, value in zip(tail, row[shared:], strict=True))
            for row in raw[1:]
        ]


class Prepared:
    """A Core `select` with named bind parameters (`bindparam("id")`), compiled once per dialect.

    `shared`: how many leading columns are the same on every row (a row joined to its children);
    they are typed once, from the first row, and shared by the others.
    """

    def __init__(self, statement: Select[Any] | CompoundSelect[Any], *, shared: int = 0) -> None:
        self.statement = statement
        self.shared = shared
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        return found


class Reads:
    """Runs `Prepared` statements on the driver of a service's database (see the module doc)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        database = engine.url.database
        self._sqlite_path = database if self.dialect.name == "sqlite" and database else None
        if self._sqlite_path == ":memory:":
            raise ValueError("the lean read path needs a database file, not :memory:")
        self._sqlite: sqlite3.Connection | None = None

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            assert self._sqlite_path is not None
            connection = sqlite3.connect(self._sqlite_path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA query_only = ON")
            # Under WAL a reader waits only in rare recovery moments; never stall the loop long.
            connection.execute("PRAGMA busy_timeout = 1000")
            self._sqlite = connection
        return self._sqlite

    async def all(self, query: Prepared, **params: Any) -> list[Row]:
        """Every row of the query, typed as the ORM types them."""
        compiled = query.compiled(self.dialect)
        args = compiled.args(params)
        if self._sqlite_path is not None:
            raw: Sequence[Sequence[Any]] = self._sqlite_connection().execute(compiled.sql, args).fetchall()
        else:
            async with self.engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                assert driver is not None
                raw = await driver.fetch(compiled.sql, *args)
        return compiled.rows(raw, query.shared)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
