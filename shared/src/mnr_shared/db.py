"""Async engines for SQLite (embedded default) and PostgreSQL, constraint naming, sessions."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, event, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

# Named constraints make Alembic diffs and downgrades deterministic on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    """Each service owns one MetaData with the shared naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def string_enum(enum: type[StrEnum], name: str) -> SAEnum:
    """An enum column stored as a constrained string: portable across both databases, and a
    new value needs no PostgreSQL type migration."""
    return SAEnum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def async_url(url: str) -> str:
    """Pick the async driver from the URL: aiosqlite for SQLite, asyncpg for PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database: {backend!r} (use sqlite or postgresql)")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


SQLITE_BUSY_TIMEOUT_SECONDS = 30
_HOLDS_WRITE_LOCK = "mnr_holds_write_lock"
# Execution option of the read-only engine view (`read_only`): its SQLite transactions are deferred.
READ_ONLY = "mnr_read_only"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; on SQLite every writing transaction is `BEGIN IMMEDIATE` (one writer at a
    time) and every transaction of its `read_only` view a deferred `BEGIN`."""
    full = async_url(url)
    if is_sqlite(full):
        database = make_url(full).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(full, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        _serialise_sqlite_writes(engine)
        return engine
    return create_async_engine(full, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _serialise_sqlite_writes(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN is the one
    # that runs, and it is IMMEDIATE: a check-then-insert cannot interleave with another writer.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    # The writers of this process queue in turn for SQLite's one write lock: an asyncio lock (fair,
    # first come first served) taken before BEGIN IMMEDIATE and given back when the connection
    # returns to the pool, its COMMIT or ROLLBACK done. SQLite's own busy handler polls with sleeps
    # of up to 100 ms and lets any newcomer win, so under load some writers waited seconds while
    # others went through; the lock hands the database to the next writer the moment it is free.
    # (Another process on the same file is still held off by busy_timeout alone.) SQLAlchemy runs
    # these events in the event loop's thread, inside the greenlet of the awaiting call: `await_only`
    # suspends that call, not the loop.
    write_lock = asyncio.Lock()

    def _release(record: Any) -> None:
        if record.info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()

    # A read-only transaction is deferred: under WAL it reads a snapshot and waits for no writer,
    # and writers wait for no reader. Only transactions that may write queue for the write lock.
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
            return
        info = connection.connection.info  # the pooled connection's: it outlives this transaction
        if not info.get(_HOLDS_WRITE_LOCK):
            try:
                await_only(asyncio.wait_for(write_lock.acquire(), SQLITE_BUSY_TIMEOUT_SECONDS))
            except TimeoutError as exc:
                raise sqlite3.OperationalError("database is locked (waited for the other writers)") from exc
            info[_HOLDS_WRITE_LOCK] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except Exception:
            if info.pop(_HOLDS_WRITE_LOCK, False):
                write_lock.release()
            raise

    pool = engine.sync_engine.pool
    event.listen(pool, "checkin", lambda _dbapi, record: _release(record))
    event.listen(pool, "close", lambda _dbapi, record: _release(record))
    event.listen(pool, "invalidate", lambda _dbapi, record, _exc: _release(record))
    event.listen(pool, "soft_invalidate", lambda _dbapi, record, _exc: _release(record))


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool for work that only reads: on SQLite its transactions are deferred,
    so reads run concurrently with each other and with the one writer. Never write through it:
    a deferred SQLite transaction that tries to write fails rather than waits."""
    return engine.execution_options(**{READ_ONLY: True})


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def lock_feed(session: AsyncSession) -> None:
    """Serialise appends to a change feed until commit, so sequence order is commit order.

    Without it, a PostgreSQL reader could see seq N+1 committed before seq N and skip N for
    ever. SQLite transactions are already serialised (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(7270010)"))
