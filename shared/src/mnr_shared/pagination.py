"""Keyset pagination: opaque cursors and the `{items, next_cursor}` page shape."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Select, and_, cast, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import SQLCoreOperations

from mnr_shared.bounds import INT64_MAX
from mnr_shared.problems import UnprocessableContent

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1–200).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`.")
]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*values: Any) -> str:
    """Pack the sort key of the last item served; clients treat it as opaque."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The sort key a cursor carries; a cursor that is not one of ours is a 422, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor()
    return values


def invalid_cursor() -> UnprocessableContent:
    return UnprocessableContent(
        "The cursor is not valid; pass `next_cursor` from a previous page unchanged.",
        slug="validation",
        extra={"errors": [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]},
    )


def decode_int_cursor(cursor: str) -> int:
    """The integer key (an id or sequence number) of a cursor made by `encode_cursor(key)`: an int
    in [0, 2**63 - 1]. Anything else, a bool or a number past a BIGINT included, is 422."""
    (value,) = decode_cursor(cursor, arity=1)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64_MAX:
        raise invalid_cursor()
    return value


def after_key(ident: SQLCoreOperations[int | None], key: int) -> ColumnElement[bool]:
    """`ident > key`, with `key` sent as a BIGINT: a key past the column's own range (an INTEGER
    column on PostgreSQL) then finds nothing instead of failing the query."""
    return ident > cast(key, BigInteger)


def decode_time_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) sort key of a cursor made by `keyset_page`, its time in UTC; anything
    else (a time without a zone, or one that cannot be expressed in UTC) is 422."""
    at, key = decode_cursor(cursor, arity=2)
    try:
        when, after_id = datetime.fromisoformat(str(at)), uuid.UUID(str(key))
    except ValueError as exc:
        raise invalid_cursor() from exc
    if when.tzinfo is None:  # ours always carry the zone; comparing a naive one would fail
        raise invalid_cursor()
    try:
        when = when.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+14:00 is in the year 0 in UTC
        raise invalid_cursor() from exc
    return when, after_id


async def keyset_page(
    session: AsyncSession,
    query: Select[Any],
    *,
    created: SQLCoreOperations[datetime],
    ident: SQLCoreOperations[uuid.UUID],
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of `query` in (created_at, id) order and the cursor of the next page (None on
    the last). The rows must carry `created_at` and `id`; no OFFSET, so pages stay stable."""
    if cursor is not None:
        at, after = decode_time_cursor(cursor)
        if newest_first:
            query = query.where(or_(created < at, and_(created == at, ident < after)))
        else:
            query = query.where(or_(created > at, and_(created == at, ident > after)))
    order = (created.desc(), ident.desc()) if newest_first else (created, ident)
    rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    return page, encode_cursor(page[-1].created_at.isoformat(), str(page[-1].id))
