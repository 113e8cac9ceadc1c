"""What a router needs, and all it needs: the request headers and query parameters every service
shares, the `Result` a service function returns, and `respond`, the one place that turns a result
into response headers.

Routers import from here (and from `mnr_shared.auth` and `mnr_shared.problems`), never from a
database or idempotency module: the service layer owns transactions and idempotency records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mnr_shared.fastread import Reads
from mnr_shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page

__all__ = [
    "DEFAULT_LIMIT",
    "Cursor",
    "IdempotencyKey",
    "IfMatch",
    "Limit",
    "Page",
    "ReadSessionDep",
    "ReadsDep",
    "Result",
    "SessionDep",
    "SessionmakerDep",
    "etag_header",
    "respond",
    "respond_json",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Result(Generic[T]):
    """What a service function answers for one resource.

    `etag` is the resource's current ETag (None for resources without one); `status_code` is the
    HTTP status the work calls for (201 for a creation, 202 for work still under way); `replayed`
    is true when an `Idempotency-Key` repeat returned the first answer instead of doing the work.
    """

    item: T
    etag: str | None = None
    status_code: int = 200
    replayed: bool = False


def respond(response: Response, result: Result[T], *, location: str | None = None) -> T:
    """Copy a result's status and headers (`ETag`, `Idempotent-Replayed`, `Location`) onto the
    response FastAPI sends, and hand back the item for FastAPI to serialise."""
    response.status_code = result.status_code
    response.headers.update(_headers(result, location))
    return result.item


def respond_json(result: Result[M], *, location: str | None = None) -> Response:
    """`respond` for a route declared with `response_model=None` (it answers one of several read
    models): the item is serialised by its own model in one pass (pydantic-core straight to
    bytes), instead of FastAPI's generic encoder walking it first."""
    return Response(
        content=result.item.model_dump_json(),
        status_code=result.status_code,
        headers=_headers(result, location),
        media_type="application/json",
    )


def _headers(result: Result[Any], location: str | None) -> dict[str, str]:
    headers = {}
    if result.etag is not None:
        headers["ETag"] = result.etag
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    if location is not None:
        headers["Location"] = location
    return headers


def etag_header(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry for a success that carries the resource's `ETag`."""
    return {
        status: {
            "description": description,
            "headers": {
                "ETag": {
                    "description": "The resource's current version; send it back as `If-Match`.",
                    "schema": {"type": "string"},
                }
            },
        }
    }


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag from your last read of this resource.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Makes this POST safe to retry: a repeat returns the first result.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1–200).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`.")
]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request from the factory the lifespan built; writes commit explicitly."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One read-only session per request: on SQLite a deferred transaction that waits for no writer."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    async with factory() as session:
        yield session


async def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return factory


SessionDep = Annotated[AsyncSession, Depends(_session)]
"""A session for work that fits in one transaction; the service function commits it."""
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session)]
"""A session for a route that only reads (every GET): it never queues behind writers."""


async def _reads(request: Request) -> Reads:
    reads: Reads = request.app.state.reads
    return reads


ReadsDep = Annotated[Reads, Depends(_reads)]
"""The lean read path (`mnr_shared.fastread`), for the hottest single-statement reads."""
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessionmaker)]
"""The factory, for service functions that open their own transactions (idempotent writes, sagas)."""
