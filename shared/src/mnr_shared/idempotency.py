"""`Idempotency-Key` for creating POSTs: kept in the calling service's own database.

A repeat of a key returns the first result; the same key with another body is 422. The stored
result is written in the same transaction as the work it describes. Service functions call
`IdempotencyStore.run` (or `run_detached` for a saga); routers never see this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mnr_shared.api import Result
from mnr_shared.auth import Principal
from mnr_shared.problems import UnprocessableContent

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_SCOPE_LENGTH = 300

M = TypeVar("M", bound=BaseModel)


def idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_keys` table, defined in the calling service's own metadata."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(_SCOPE_LENGTH), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", JSON, nullable=False),
        Column("etag", String(100), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


@dataclass(frozen=True)
class _Entry:
    """Where one keyed operation's result is kept: the caller's scope, the key, the body's hash."""

    scope: str
    key: str
    digest: str


def body_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_key(key: str) -> str:
    if not _KEY.match(key):
        raise UnprocessableContent(
            "Idempotency-Key must be 1–200 visible ASCII characters.",
            slug="validation",
            extra={"errors": [{"loc": ["header", "Idempotency-Key"], "msg": "invalid key"}]},
        )
    return key


def key_scope(operation: str, by: Principal) -> str:
    """Keys are the caller's own: the same key from two callers names two operations."""
    scope = f"{operation}:{by.sub}"
    if len(scope) <= _SCOPE_LENGTH:
        return scope
    return f"{operation}:sha256:{hashlib.sha256(by.sub.encode()).hexdigest()}"


class IdempotencyStore:
    """Runs a creating operation at most once per (caller, operation, key)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def _entry(*, by: Principal, operation: str, key: str, body: BaseModel) -> _Entry:
        return _Entry(key_scope(operation, by), validate_key(key), body_hash(body.model_dump(mode="json")))

    async def _find(self, session: AsyncSession, entry: _Entry, model: type[M]) -> Result[M] | None:
        """The recorded result of this entry, replayed; 422 when the key came with another body."""
        columns = self.table.c
        row = (
            await session.execute(
                select(columns.request_hash, columns.status_code, columns.response_body, columns.etag).where(
                    columns.scope == entry.scope, columns.key == entry.key
                )
            )
        ).first()
        if row is None:
            return None
        if row.request_hash != entry.digest:
            raise UnprocessableContent(
                "This Idempotency-Key was already used with a different request body.",
                slug="idempotency-key-reused",
            )
        return Result(
            model.model_validate(row.response_body),
            etag=row.etag,
            status_code=row.status_code,
            replayed=True,
        )

    async def _record(self, session: AsyncSession, entry: _Entry, result: Result[M]) -> None:
        await session.execute(
            self.table.insert().values(
                scope=entry.scope,
                key=entry.key,
                request_hash=entry.digest,
                status_code=result.status_code,
                response_body=result.item.model_dump(mode="json"),
                etag=result.etag,
                created_at=datetime.now(UTC),
            )
        )

    async def _commit_or_replay(
        self,
        sessions: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        entry: _Entry,
        result: Result[M],
        model: type[M],
    ) -> Result[M]:
        """Record `result` and commit; if a racing first attempt recorded this key first, roll
        back and answer with the winner's result instead."""
        try:
            await self._record(session, entry, result)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            async with sessions() as fresh:
                replay = await self._find(fresh, entry, model)
            if replay is None:  # the conflict was not our key: let the caller see it
                raise
            return replay
        return result

    async def run(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        by: Principal,
        operation: str,
        key: str | None,
        body: BaseModel,
        model: type[M],
        work: Callable[[AsyncSession], Awaitable[Result[M]]],
    ) -> Result[M]:
        """Do `work` (which writes but does not commit) once, and commit it together with its
        recorded result. Without a key, the work simply runs and commits.

        Two racing first attempts with one key: the database's primary key lets one commit, the
        other rolls back and answers with the winner's recorded result.
        """
        if key is None:
            async with sessions() as session:
                result = await work(session)
                await session.commit()
                return result
        entry = self._entry(by=by, operation=operation, key=key, body=body)
        async with sessions() as session:
            replay = await self._find(session, entry, model)
            if replay is not None:
                return replay
            return await self._commit_or_replay(sessions, session, entry, await work(session), model)

    async def run_detached(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        by: Principal,
        operation: str,
        key: str | None,
        body: BaseModel,
        model: type[M],
        work: Callable[[], Awaitable[Result[M]]],
    ) -> Result[M]:
        """Like `run`, for work that commits in transactions of its own (a saga): the key is
        checked in one short transaction and the result recorded in another, so no transaction
        is held open across the work."""
        if key is None:
            return await work()
        entry = self._entry(by=by, operation=operation, key=key, body=body)
        async with sessions() as session:
            replay = await self._find(session, entry, model)
        if replay is not None:
            return replay
        result = await work()
        async with sessions() as session:
            return await self._commit_or_replay(sessions, session, entry, result, model)
