"""`Idempotency-Key` for creating POSTs: kept in the calling service's own database.

A repeat of a key returns the first response; the same key with another body is 422.
The stored response is written in the same transaction as the work it describes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mnr_shared.problems import UnprocessableContent

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Makes this POST safe to retry: a repeat returns the first result.",
    ),
]


def idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_keys` table, defined in the calling service's own metadata."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(300), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any
    replayed: bool


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


class IdempotencyStore:
    """Runs a creating operation at most once per (scope, key)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    async def find(
        self, session: AsyncSession, *, scope: str, key: str, request_hash: str
    ) -> StoredResponse | None:
        row = (
            await session.execute(
                select(self.table.c.request_hash, self.table.c.status_code, self.table.c.response_body).where(
                    self.table.c.scope == scope, self.table.c.key == key
                )
            )
        ).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise UnprocessableContent(
                "This Idempotency-Key was already used with a different request body.",
                slug="idempotency-key-reused",
            )
        return StoredResponse(row.status_code, row.response_body, replayed=True)

    async def run(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        scope: str,
        key: str | None,
        body: Any,
        work: Callable[[AsyncSession], Awaitable[tuple[int, Any]]],
    ) -> StoredResponse:
        """Do `work` (which writes but does not commit) once; commit it with its stored response.

        Two racing first attempts with one key: the database's primary key lets one commit,
        the other rolls back and answers with the winner's stored response.
        """
        if key is None:
            async with sessionmaker() as session:
                status, response = await work(session)
                await session.commit()
                return StoredResponse(status, response, replayed=False)
        validate_key(key)
        digest = body_hash(body)
        async with sessionmaker() as session:
            stored = await self.find(session, scope=scope, key=key, request_hash=digest)
            if stored is not None:
                return stored
            status, response = await work(session)
            try:
                await session.execute(
                    self.table.insert().values(
                        scope=scope,
                        key=key,
                        request_hash=digest,
                        status_code=status,
                        response_body=json.loads(json.dumps(response, default=str)),
                        created_at=datetime.now(UTC),
                    )
                )
                await session.commit()
            except IntegrityError as exc:
                await session.rollback()
                conflict = exc
            else:
                return StoredResponse(status, response, replayed=False)
        async with sessionmaker() as session:
            stored = await self.find(session, scope=scope, key=key, request_hash=digest)
        if stored is None:  # the conflict was not our key: let the caller see it
            raise conflict
        return stored

    async def run_detached(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        scope: str,
        key: str | None,
        body: Any,
        work: Callable[[], Awaitable[tuple[int, Any]]],
    ) -> StoredResponse:
        """Like `run`, for work that commits in transactions of its own (a saga): the key is
        checked in one short transaction and the answer recorded in another, so no transaction
        is held open across the work."""
        if key is None:
            status, response = await work()
            return StoredResponse(status, response, replayed=False)
        validate_key(key)
        digest = body_hash(body)
        async with sessionmaker() as session:
            stored = await self.find(session, scope=scope, key=key, request_hash=digest)
        if stored is not None:
            return stored
        status, response = await work()
        async with sessionmaker() as session:
            try:
                await session.execute(
                    self.table.insert().values(
                        scope=scope,
                        key=key,
                        request_hash=digest,
                        status_code=status,
                        response_body=json.loads(json.dumps(response, default=str)),
                        created_at=datetime.now(UTC),
                    )
                )
                await session.commit()
            except IntegrityError:
                await session.rollback()
                replay = await self.find(session, scope=scope, key=key, request_hash=digest)
                if replay is not None:
                    return replay
                raise
        return StoredResponse(status, response, replayed=False)
