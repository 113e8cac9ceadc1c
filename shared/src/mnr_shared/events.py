"""The transactional outbox: domain events written in the same transaction as the change they
describe, and the `GET /v1/events` stream that serves them in commit order.

Each service declares its own table from `OutboxColumns` (its own metadata, its own migration):

    class OutboxEvent(OutboxColumns, Base, table=True):
        __tablename__ = "outbox_events"

and calls `emit` inside the unit of work that makes the change, after the change itself:

    await emit(session, OutboxEvent, "request.submitted", subject=row.id, by=by,
               data={"reference": row.reference, "country": row.country})

A rolled-back change therefore writes no event, and a committed one always has its event.
`emit` takes the feed lock (`lock_feed`), so on PostgreSQL `seq` order is commit order: a
reader paging with `after=<last seq>` never skips an event that commits late. `data` holds
ids and non-personal fields only; consumers fetch details with their own scopes.

`events_router(OutboxEvent)` is the read side every service mounts: admin people and clients
holding `events:read`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from mnr_shared.api import ReadSessionDep
from mnr_shared.auth import Principal, Role, require
from mnr_shared.db import UTCDateTime, lock_feed, utcnow
from mnr_shared.pagination import after_key
from mnr_shared.problems import problem_responses

EVENTS_SCOPE = "events:read"
MAX_EVENTS = 1000
EVENT_TYPES_PATTERN = r"^[a-z_]+\.[a-z_]+(,[a-z_]+\.[a-z_]+)*$"
SYSTEM = "system"


class OutboxColumns(SQLModel):
    """The columns of a service's outbox table (a mixin: each service makes its own table)."""

    seq: int | None = Field(default=None, primary_key=True)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    type: str = Field(max_length=60, index=True)
    subject: str = Field(max_length=64)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    actor: str = Field(max_length=220)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)


def actor_of(by: Principal | str) -> str:
    """Who caused an event: a person's `sub`, `service:<client_id>` for a client, or `system`."""
    if isinstance(by, str):
        return by
    return f"service:{by.client_id}" if by.is_service else by.sub


Event = tuple[str, "uuid.UUID | str", Mapping[str, Any]]  # (type, subject, data)


async def emit(
    session: AsyncSession,
    table: type[OutboxColumns],
    type: str,
    *,
    subject: uuid.UUID | str,
    by: Principal | str,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Append one event to the outbox in the caller's transaction (committed with it or not at all)."""
    await emit_all(session, table, [(type, subject, data or {})], by=by)


async def emit_all(
    session: AsyncSession, table: type[OutboxColumns], events: Sequence[Event], *, by: Principal | str
) -> None:
    """Several events of one unit of work, in order, with one multi-row insert (an import of a
    thousand experts costs one statement here)."""
    if not events:
        return
    await lock_feed(session)
    actor, now = actor_of(by), utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "type": t,
            "subject": str(subject),
            "occurred_at": now,
            "actor": actor,
            "data": dict(data),
        }
        for t, subject, data in events
    ]
    await session.execute(insert(table), rows)


# --- reading ------------------------------------------------------------------------------------


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = PydanticField(description="Position in this service's stream; pass the last one as `after`.")
    id: uuid.UUID = PydanticField(description="Unique and stable: the same event always has this id.")
    type: str = PydanticField(examples=["request.submitted"])
    subject: str = PydanticField(description="The id of the resource the event is about.")
    occurred_at: datetime
    actor: str = PydanticField(description="A person's `sub`, `service:<client_id>`, or `system`.")
    data: dict[str, Any] = PydanticField(description="Ids and non-personal fields only.")


class EventsPage(BaseModel):
    items: list[EventRead]
    next_after: int = PydanticField(description="Pass as `after` to continue from here.")


async def read_events(
    session: AsyncSession,
    table: type[OutboxColumns],
    *,
    after: int,
    limit: int,
    types: Sequence[str] = (),
) -> EventsPage:
    """Events after `seq` `after`, oldest first; `next_after` is where the next page starts even
    when a `types` filter left this one empty."""
    seq = col(table.seq)
    query = select(table).where(after_key(seq, after)).order_by(seq).limit(limit)
    if types:
        query = query.where(col(table.type).in_(list(types)))
    rows = (await session.scalars(query)).all()
    items = [EventRead.model_validate(row) for row in rows]
    next_after = items[-1].seq if items else after
    if types and len(items) < limit:
        # Nothing more of these types yet: skip what was scanned, so a reader does not rescan it.
        last = await session.scalar(select(seq).order_by(seq.desc()).limit(1))
        next_after = max(next_after, int(last or after))
    return EventsPage(items=items, next_after=next_after)


EventsReader = Annotated[Principal, Depends(require(roles=(Role.ADMIN.value,), scopes=(EVENTS_SCOPE,)))]


def events_router(
    table: type[OutboxColumns],
    *,
    service: str,
    types: Sequence[str],
    notes: str = "Events are never rewritten.",
) -> APIRouter:
    """`GET /v1/events` over `table`, documenting the event `types` this service writes (and
    `notes`: what else a reader should know of this stream)."""
    router = APIRouter(prefix="/v1", tags=["events"], responses=problem_responses(401, 403, 422))
    listed = ", ".join(f"`{t}`" for t in types)

    @router.get(
        "/events",
        summary="The event stream",
        response_model=EventsPage,
        description=(
            f"Admin and clients with `{EVENTS_SCOPE}`: every domain event {service} wrote, in commit "
            f"order (strictly increasing `seq`). Types: {listed}. Page with `after` = the last "
            "`seq` you handled (or `next_after`). " + notes
        ).strip(),
    )
    async def list_events(
        _: EventsReader,
        session: ReadSessionDep,
        after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Last `seq` you have handled.")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 200,
        types: Annotated[
            list[Annotated[str, Query(max_length=1000, pattern=EVENT_TYPES_PATTERN)]],
            Query(description="Only these types: comma-separated or repeated (`types=match.offered`)."),
        ] = [],  # noqa: B006
    ) -> EventsPage:
        wanted = sorted({t for given in types for t in given.split(",")})
        return await read_events(session, table, after=after, limit=limit, types=wanted)

    return router
