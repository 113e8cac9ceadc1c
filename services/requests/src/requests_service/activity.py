"""What happened to a request and the conversation on it: history entries, comments, their events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from mnr_shared.api import Result
from mnr_shared.auth import Principal
from mnr_shared.db import utcnow
from mnr_shared.events import emit
from mnr_shared.pagination import Page, after_key, decode_int_cursor, encode_cursor, keyset_page
from requests_service.access import COMMENTERS, WRITE_SCOPE, acting_role, load_request
from requests_service.db import idempotency
from requests_service.errors import Forbidden
from requests_service.models import (
    Action,
    ActorRole,
    AssistanceRequest,
    HistoryKind,
    OutboxEvent,
    RequestComment,
    RequestEvent,
    RequestStatus,
)
from requests_service.schemas import CommentCreate, CommentRead, HistoryEntryRead

# --- history and its events ---------------------------------------------------------------------

CREATED, UPDATED, SUBMITTED = "request.created", "request.updated", "request.submitted"
STATUS_CHANGED, COMMENTED = "request.status_changed", "request.commented"
# Every type this service's outbox holds, in the order a request meets them.
REQUEST_EVENT_TYPES = (CREATED, UPDATED, SUBMITTED, STATUS_CHANGED, COMMENTED)


def _summary(row: AssistanceRequest) -> dict[str, Any]:
    """What every event says of its request: ids and non-personal fields, never title or text."""
    return {
        "reference": row.reference,
        "country": row.country,
        "status": str(row.status),
        "priority": str(row.priority),
        "version": row.version,
    }


def event_of(row: AssistanceRequest, entry: RequestEvent) -> tuple[str, dict[str, Any]]:
    """The outbox event (type, data) of one history entry; its note never leaves the history."""
    data = _summary(row)
    if entry.kind is HistoryKind.CREATED:
        return CREATED, data
    if entry.kind is HistoryKind.EDITED:
        return UPDATED, {**data, "fields": sorted(entry.changed_fields)}
    data.update({"action": str(entry.action), "from": str(entry.from_status), "to": str(entry.to_status)})
    return (SUBMITTED if entry.action is Action.SUBMIT else STATUS_CHANGED), data


async def record(
    session: AsyncSession,
    row: AssistanceRequest,
    *,
    by: Principal,
    role: ActorRole,
    kind: HistoryKind,
    before: RequestStatus | None,
    at: datetime,
    action: Action | None = None,
    note: str | None = None,
    changed: list[str] | None = None,
) -> None:
    """Append the history entry and the domain event of a write `by` the caller that left `row` as
    it now is, inside the caller's transaction (committed with the write or not at all)."""
    entry = RequestEvent(
        request_id=row.id,
        at=at,
        actor_sub=by.sub,
        actor_role=role,
        kind=kind,
        action=action,
        from_status=before,
        to_status=row.status,
        note=note,
        changed_fields=changed or [],
    )
    session.add(entry)
    type_, data = event_of(row, entry)
    await emit(session, OutboxEvent, type_, subject=row.id, by=by, data=data)


async def list_history(
    *, session: AsyncSession, by: Principal, request_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[HistoryEntryRead]:
    """Every creation, edit and transition of a visible request, in the order they happened."""
    await load_request(session, request_id=request_id, by=by, role=acting_role(by))
    where: list[Any] = [col(RequestEvent.request_id) == request_id]
    if cursor:
        where.append(after_key(col(RequestEvent.id), decode_int_cursor(cursor)))
    rows = list(
        (
            await session.execute(
                select(RequestEvent).where(*where).order_by(col(RequestEvent.id)).limit(limit + 1)
            )
        ).scalars()
    )
    page, more = rows[:limit], len(rows) > limit
    return Page[HistoryEntryRead](
        items=[HistoryEntryRead.model_validate(event, from_attributes=True) for event in page],
        next_cursor=encode_cursor(page[-1].id) if more else None,
    )


# --- comments -----------------------------------------------------------------------------------


async def add_comment(
    *,
    sessions: async_sessionmaker[AsyncSession],
    by: Principal,
    request_id: uuid.UUID,
    body: CommentCreate,
    idempotency_key: str | None,
) -> Result[CommentRead]:
    """Adds a comment by the request's office or PD to a request they can see, once per key."""
    role = acting_role(by, scope=WRITE_SCOPE)
    if role not in COMMENTERS:
        raise Forbidden("Comments are between the request's country office and the programme division.")

    async def work(session: AsyncSession) -> Result[CommentRead]:
        row = await load_request(session, request_id=request_id, by=by, role=role)
        comment = RequestComment(
            id=uuid.uuid4(),
            request_id=request_id,
            author_sub=by.sub,
            author_role=role,
            author_name=by.name,
            body=body.body,
            created_at=utcnow(),
        )
        session.add(comment)
        await session.flush()
        await emit(
            session,
            OutboxEvent,
            COMMENTED,
            subject=request_id,
            by=by,
            data={**_summary(row), "comment_id": str(comment.id)},
        )
        return Result(CommentRead.model_validate(comment, from_attributes=True), status_code=201)

    return await idempotency.run(
        sessions,
        by=by,
        operation=f"comment:{request_id}",
        key=idempotency_key,
        body=body,
        model=CommentRead,
        work=work,
    )


async def list_comments(
    *, session: AsyncSession, by: Principal, request_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[CommentRead]:
    """The comments on a visible request, oldest first, keyset-paginated."""
    await load_request(session, request_id=request_id, by=by, role=acting_role(by))
    c = RequestComment
    page, next_cursor = await keyset_page(
        session,
        select(c).where(col(c.request_id) == request_id),
        created=col(c.created_at),
        ident=col(c.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[CommentRead](
        items=[CommentRead.model_validate(comment, from_attributes=True) for comment in page],
        next_cursor=next_cursor,
    )
