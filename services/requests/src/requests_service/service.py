"""Requests rules and queries: filing, office scoping, the status machine, history, comments, stats.

The only module that reads or writes the database. Every function takes the calling
principal and applies who-may-see-what itself, so no route can forget it.

Status machine (DESIGN §4); `TRANSITIONS` below is the single source of this table:

| action         | from                                 | to        | who may ask it                         |
|----------------|--------------------------------------|-----------|----------------------------------------|
| `submit`       | draft                                | submitted | its country office, PD, admin          |
| `withdraw`     | draft, submitted, in_review, matched | withdrawn | its country office, PD, admin          |
| `start_review` | submitted                            | in_review | PD, admin                              |
| `reject`       | submitted, in_review                 | rejected  | PD, admin (note, the reason, required) |
| `match`        | in_review                            | matched   | matching (`requests:write`), PD, admin |
| `fulfil`       | matched                              | fulfilled | matching (`requests:write`), PD, admin |
| `reopen`       | matched                              | in_review | matching (`requests:write`), PD, admin |
| `close`        | fulfilled                            | closed    | PD, admin                              |
| `cancel`       | submitted, in_review, matched        | cancelled | PD, admin                              |

`withdrawn`, `rejected`, `cancelled` and `closed` are final. Any other (status, action) pair
is refused with 409 naming the current status and the actions it allows; an action the
caller's role may not take is 403; a request of another office is 404 (never 403).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import CursorResult, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from mnr_shared import reference as ref
from mnr_shared.api import Result
from mnr_shared.auth import Principal, Role
from mnr_shared.db import utcnow
from mnr_shared.etag import check_if_match, make_etag
from mnr_shared.pagination import Page, decode_cursor, encode_cursor, invalid_cursor, keyset_page
from mnr_shared.problems import validation_errors
from requests_service.db import idempotency
from requests_service.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from requests_service.models import (
    Action,
    ActorRole,
    AssistanceRequest,
    HistoryKind,
    ReferenceCounter,
    RequestCapability,
    RequestComment,
    RequestEvent,
    RequestLanguage,
    RequestStatus,
)
from requests_service.schemas import (
    CapabilityCount,
    CapabilityNeed,
    CommentCreate,
    CommentRead,
    HistoryEntryRead,
    LanguageNeed,
    RequestCreate,
    RequestFilters,
    RequestRead,
    RequestStats,
    RequestUpdate,
    StatsFilters,
    StatusRegionCount,
    TransitionCreate,
    working_days,
)

READ_SCOPE = "requests:read"
WRITE_SCOPE = "requests:write"
T = TypeVar("T", bound=BaseModel)

OFFICE = frozenset({ActorRole.COUNTRY_OFFICE, ActorRole.PROGRAMME_DIVISION, ActorRole.ADMIN})
PROGRAMME = frozenset({ActorRole.PROGRAMME_DIVISION, ActorRole.ADMIN})
MATCHING = frozenset({ActorRole.SERVICE, ActorRole.PROGRAMME_DIVISION, ActorRole.ADMIN})
EDITORS = OFFICE
COMMENTERS = OFFICE
REPORTERS = PROGRAMME
EDITABLE = frozenset({RequestStatus.DRAFT, RequestStatus.SUBMITTED})
_S = RequestStatus


@dataclass(frozen=True)
class Transition:
    sources: frozenset[RequestStatus]
    target: RequestStatus
    roles: frozenset[ActorRole]
    note_required: bool = False


TRANSITIONS: dict[Action, Transition] = {
    Action.SUBMIT: Transition(frozenset({_S.DRAFT}), _S.SUBMITTED, OFFICE),
    Action.WITHDRAW: Transition(
        frozenset({_S.DRAFT, _S.SUBMITTED, _S.IN_REVIEW, _S.MATCHED}), _S.WITHDRAWN, OFFICE
    ),
    Action.START_REVIEW: Transition(frozenset({_S.SUBMITTED}), _S.IN_REVIEW, PROGRAMME),
    Action.REJECT: Transition(
        frozenset({_S.SUBMITTED, _S.IN_REVIEW}), _S.REJECTED, PROGRAMME, note_required=True
    ),
    Action.MATCH: Transition(frozenset({_S.IN_REVIEW}), _S.MATCHED, MATCHING),
    Action.FULFIL: Transition(frozenset({_S.MATCHED}), _S.FULFILLED, MATCHING),
    Action.REOPEN: Transition(frozenset({_S.MATCHED}), _S.IN_REVIEW, MATCHING),
    Action.CLOSE: Transition(frozenset({_S.FULFILLED}), _S.CLOSED, PROGRAMME),
    Action.CANCEL: Transition(frozenset({_S.SUBMITTED, _S.IN_REVIEW, _S.MATCHED}), _S.CANCELLED, PROGRAMME),
}

_ROLE_WORDS = {
    ActorRole.COUNTRY_OFFICE: "its country office",
    ActorRole.SERVICE: "matching (`requests:write`)",
    ActorRole.PROGRAMME_DIVISION: "PD",
    ActorRole.ADMIN: "admin",
}


def allowed_actions(status: RequestStatus) -> list[Action]:
    """The actions the status machine accepts from `status`, in table order."""
    return [action for action, rule in TRANSITIONS.items() if status in rule.sources]


def transition_table_markdown() -> str:
    """The status machine as a Markdown table, for the OpenAPI description (never out of date)."""
    order = list(RequestStatus)
    lines = ["| action | from | to | who may ask it |", "|---|---|---|---|"]
    for action, rule in TRANSITIONS.items():
        sources = ", ".join(s.value for s in order if s in rule.sources)
        who = ", ".join(word for role, word in _ROLE_WORDS.items() if role in rule.roles)
        note = " (note required)" if rule.note_required else ""
        lines.append(f"| `{action.value}` | {sources} | {rule.target.value} | {who}{note} |")
    return "\n".join(lines)


# --- who is calling ---------------------------------------------------------------------------


def acting_role(principal: Principal, *, scope: str = READ_SCOPE) -> ActorRole:
    """The capacity the caller acts in here (a client needs `scope`); 403 for anyone else."""
    if principal.is_service:
        if principal.has_scopes(scope):
            return ActorRole.SERVICE
    elif principal.has_role(Role.ADMIN):
        return ActorRole.ADMIN
    elif principal.has_role(Role.PROGRAMME_DIVISION):
        return ActorRole.PROGRAMME_DIVISION
    elif principal.has_role(Role.COUNTRY_OFFICE):
        return ActorRole.COUNTRY_OFFICE
    raise Forbidden("Assistance requests are open to country offices, the programme division and services.")


def _check_office(principal: Principal, role: ActorRole, country: str) -> None:
    if role is ActorRole.COUNTRY_OFFICE and country not in principal.offices:
        raise Forbidden(
            f"Your offices ({', '.join(sorted(principal.offices))}) may not file or move "
            f"requests for {country}.",
            slug="office-scope",
        )


def _visible_to(principal: Principal, role: ActorRole) -> list[Any]:
    """WHERE clauses that keep a country office to its own countries (OWASP API1)."""
    if role is ActorRole.COUNTRY_OFFICE:
        return [col(AssistanceRequest.country).in_(sorted(principal.offices))]
    return []


# --- reading ----------------------------------------------------------------------------------


async def _load(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    by: Principal,
    role: ActorRole,
    lock: bool = False,
) -> AssistanceRequest:
    statement = select(AssistanceRequest).where(
        col(AssistanceRequest.id) == request_id, *_visible_to(by, role)
    )
    if lock:
        # PostgreSQL: a racing writer waits here and then sees the winner's status.
        # SQLite ignores FOR UPDATE; its BEGIN IMMEDIATE already serialises writers.
        statement = statement.with_for_update()
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"There is no assistance request {request_id} that you can see.", slug="not-found")
    return row


async def _needs(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[CapabilityNeed]], dict[uuid.UUID, list[LanguageNeed]]]:
    capabilities: dict[uuid.UUID, list[CapabilityNeed]] = defaultdict(list)
    languages: dict[uuid.UUID, list[LanguageNeed]] = defaultdict(list)
    if not ids:
        return capabilities, languages
    cap_rows = await session.execute(
        select(RequestCapability)
        .where(col(RequestCapability.request_id).in_(ids))
        .order_by(col(RequestCapability.request_id), col(RequestCapability.position))
    )
    for cap in cap_rows.scalars():
        capabilities[cap.request_id].append(
            CapabilityNeed(capability=cap.capability, min_level=cap.min_level, importance=cap.importance)
        )
    lang_rows = await session.execute(
        select(RequestLanguage)
        .where(col(RequestLanguage.request_id).in_(ids))
        .order_by(col(RequestLanguage.request_id), col(RequestLanguage.position))
    )
    for lang in lang_rows.scalars():
        languages[lang.request_id].append(
            LanguageNeed(tag=lang.tag, min_level=lang.min_level, importance=lang.importance)
        )
    return capabilities, languages


def _read_model(
    row: AssistanceRequest, capabilities: list[CapabilityNeed], languages: list[LanguageNeed]
) -> RequestRead:
    return RequestRead(
        id=row.id,
        reference=row.reference,
        country=row.country,
        region=row.region,
        title=row.title,
        description=row.description,
        capabilities=capabilities,
        languages=languages,
        modality=row.modality,
        start_date=row.start_date,
        end_date=row.end_date,
        effort_days=row.effort_days,
        working_days=working_days(row.start_date, row.end_date),
        priority=row.priority,
        nationality_preference=row.nationality_preference,
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


async def _read_many(session: AsyncSession, rows: Sequence[AssistanceRequest]) -> list[RequestRead]:
    capabilities, languages = await _needs(session, [row.id for row in rows])
    return [_read_model(row, capabilities[row.id], languages[row.id]) for row in rows]


async def get_request(*, session: AsyncSession, by: Principal, request_id: uuid.UUID) -> RequestRead:
    """The request if the caller may see it; 404 for other offices' requests and unknown ids."""
    row = await _load(session, request_id=request_id, by=by, role=acting_role(by))
    return (await _read_many(session, [row]))[0]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_requests(
    *, session: AsyncSession, by: Principal, filters: RequestFilters, limit: int, cursor: str | None
) -> Page[RequestRead]:
    """The requests the caller may see that match every filter, oldest first, keyset-paginated."""
    role = acting_role(by)
    r = AssistanceRequest
    where: list[Any] = _visible_to(by, role)
    if filters.status:
        where.append(col(r.status).in_(filters.status))
    if filters.country:
        where.append(col(r.country) == filters.country)
    if filters.region:
        where.append(col(r.region) == filters.region)
    if filters.capability:
        where.append(
            exists().where(
                col(RequestCapability.request_id) == col(r.id),
                col(RequestCapability.capability).in_(filters.capability),
            )
        )
    if filters.priority:
        where.append(col(r.priority).in_(filters.priority))
    if filters.created_after:
        where.append(col(r.created_at) >= filters.created_after)
    if filters.created_before:
        where.append(col(r.created_at) < filters.created_before)
    if filters.q:
        pattern = _like(filters.q)
        where.append(
            or_(
                col(r.reference).ilike(pattern, escape="\\"),
                col(r.title).ilike(pattern, escape="\\"),
                col(r.description).ilike(pattern, escape="\\"),
            )
        )
    page, next_cursor = await keyset_page(
        session,
        select(r).where(*where),
        created=col(r.created_at),
        ident=col(r.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[RequestRead](items=await _read_many(session, page), next_cursor=next_cursor)


# --- filing and editing -------------------------------------------------------------------------


async def _next_reference(session: AsyncSession, *, year: int) -> str:
    """`TA-<year>-NNNN` from a per-year counter bumped by one upsert: the row lock orders racers."""
    dialect = (await session.connection()).dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ReferenceCounter)
        .values(year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=[col(ReferenceCounter.year)],
            set_={"last_number": col(ReferenceCounter.last_number) + 1},
        )
        .returning(col(ReferenceCounter.last_number))
    )
    number = (await session.execute(statement)).scalar_one()
    return f"TA-{year}-{number:04d}"


def _need_rows(request_id: uuid.UUID, body: RequestCreate) -> list[RequestCapability | RequestLanguage]:
    rows: list[RequestCapability | RequestLanguage] = [
        RequestCapability(
            request_id=request_id,
            capability=need.capability,
            min_level=need.min_level,
            importance=need.importance,
            position=position,
        )
        for position, need in enumerate(body.capabilities)
    ]
    rows += [
        RequestLanguage(
            request_id=request_id,
            tag=need.tag,
            min_level=need.min_level,
            importance=need.importance,
            position=position,
        )
        for position, need in enumerate(body.languages)
    ]
    return rows


async def _insert(
    session: AsyncSession,
    *,
    body: RequestCreate,
    by: Principal,
    role: ActorRole,
    reference: str | None = None,
) -> AssistanceRequest:
    now = utcnow()
    row = AssistanceRequest(
        id=uuid.uuid4(),
        reference=reference or await _next_reference(session, year=now.year),
        country=body.country,
        region=ref.region_of(body.country),
        title=body.title,
        description=body.description,
        modality=body.modality,
        start_date=body.start_date,
        end_date=body.end_date,
        effort_days=body.effort_days,
        priority=body.priority,
        nationality_preference=body.nationality_preference,
        status=RequestStatus.DRAFT,
        created_by=by.sub,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(row)
    await session.flush()
    session.add_all(_need_rows(row.id, body))
    session.add(_event(row, by=by, role=role, kind=HistoryKind.CREATED, before=None, at=now))
    await session.flush()
    return row


def _event(
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
) -> RequestEvent:
    return RequestEvent(
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


async def create_request(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    by: Principal,
    body: RequestCreate,
    idempotency_key: str | None,
) -> Result[RequestRead]:
    """Files a `draft` with a unique TA reference, at most once per (caller, Idempotency-Key)."""
    role = acting_role(by, scope=WRITE_SCOPE)
    _check_office(by, role, body.country)

    async def work(session: AsyncSession) -> Result[RequestRead]:
        row = await _insert(session, body=body, by=by, role=role)
        read = _read_model(row, list(body.capabilities), list(body.languages))
        return Result(read, etag=read.etag, status_code=201)

    return await idempotency.run(
        sessionmaker,
        by=by,
        operation="create-request",
        key=idempotency_key,
        body=body,
        model=RequestRead,
        work=work,
    )


def _unprocessable(exc: ValidationError) -> UnprocessableContent:
    errors = [{**error, "loc": ["body", *error["loc"]]} for error in validation_errors(exc.errors())]
    return UnprocessableContent(
        "The request would not be valid; see errors.", slug="validation", extra={"errors": errors}
    )


def _as_create(read: RequestRead) -> dict[str, Any]:
    return {field: getattr(read, field) for field in RequestCreate.model_fields}


async def update_request(
    *,
    session: AsyncSession,
    by: Principal,
    request_id: uuid.UUID,
    changes: RequestUpdate,
    if_match: str | None,
) -> RequestRead:
    """Applies an edit while `draft`/`submitted`, by its office or PD, only against the current ETag."""
    role = acting_role(by, scope=WRITE_SCOPE)
    if role not in EDITORS:
        raise Forbidden("Only the request's country office and the programme division may edit it.")
    row = await _load(session, request_id=request_id, by=by, role=role, lock=True)
    current = (await _read_many(session, [row]))[0]
    check_if_match(if_match, current.etag)
    if row.status not in EDITABLE:
        raise Conflict(
            f"A request in status '{row.status}' can no longer be edited (only draft or submitted).",
            slug="not-editable",
            extra={"current_status": row.status, "editable_statuses": sorted(EDITABLE)},
        )
    patch = changes.model_dump(exclude_unset=True)
    try:
        # Dates the edit leaves alone may already lie in the past; new ones were checked on parse.
        merged = RequestCreate.model_validate(
            {**_as_create(current), **patch}, context={"allow_past_start": True}
        )
    except ValidationError as exc:
        raise _unprocessable(exc) from exc
    if "country" in patch:
        _check_office(by, role, merged.country)
    changed = [name for name in RequestCreate.model_fields if getattr(merged, name) != getattr(current, name)]
    if not changed:
        return current
    now = utcnow()
    for name in changed:
        if name not in {"capabilities", "languages"}:
            setattr(row, name, getattr(merged, name))
    row.region = ref.region_of(merged.country)
    if "capabilities" in changed or "languages" in changed:
        await session.execute(delete(RequestCapability).where(col(RequestCapability.request_id) == row.id))
        await session.execute(delete(RequestLanguage).where(col(RequestLanguage.request_id) == row.id))
        session.add_all(_need_rows(row.id, merged))
    row.version += 1
    row.updated_at = now
    session.add(
        _event(row, by=by, role=role, kind=HistoryKind.EDITED, before=row.status, at=now, changed=changed)
    )
    await session.commit()
    return _read_model(row, list(merged.capabilities), list(merged.languages))


# --- the status machine -------------------------------------------------------------------------


async def transition_request(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    by: Principal,
    request_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
    idempotency_key: str | None,
) -> Result[RequestRead]:
    """Applies one status-machine action atomically (of racing ones exactly one applies), once per key."""
    role = acting_role(by, scope=WRITE_SCOPE)

    async def work(session: AsyncSession) -> Result[RequestRead]:
        read = await _apply_transition(
            session, by=by, role=role, request_id=request_id, body=body, if_match=if_match
        )
        return Result(read, etag=read.etag)

    return await idempotency.run(
        sessionmaker,
        by=by,
        operation=f"transition:{request_id}",
        key=idempotency_key,
        body=body,
        model=RequestRead,
        work=work,
    )


async def _apply_transition(
    session: AsyncSession,
    *,
    by: Principal,
    role: ActorRole,
    request_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> RequestRead:
    rule = TRANSITIONS[body.action]
    row = await _load(session, request_id=request_id, by=by, role=role, lock=True)
    if role not in rule.roles:
        raise Forbidden(
            f"Your role may not '{body.action}' a request.",
            slug="action-forbidden",
            extra={"action": body.action},
        )
    if rule.note_required and not body.note:
        raise UnprocessableContent(
            f"'{body.action}' needs a note giving the reason.",
            slug="validation",
            extra={"errors": [{"loc": ["body", "note"], "msg": f"a reason is required to {body.action}"}]},
        )
    if if_match is not None:
        check_if_match(if_match, make_etag(row.id, row.version))
    before = RequestStatus(row.status)
    if before not in rule.sources:
        allowed = allowed_actions(before)
        raise Conflict(
            f"A request in status '{before}' cannot '{body.action}'; "
            f"from '{before}' the allowed actions are: {', '.join(allowed) or 'none (final status)'}.",
            slug="transition-not-allowed",
            extra={"current_status": before, "action": body.action, "allowed_actions": allowed},
        )
    now = utcnow()
    # The WHERE on status and version makes the write conditional even without the row lock.
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(AssistanceRequest)
            .where(
                col(AssistanceRequest.id) == row.id,
                col(AssistanceRequest.status) == before,
                col(AssistanceRequest.version) == row.version,
            )
            .values(status=rule.target, version=row.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise Conflict(
            "The request changed while this transition ran; read it again.", slug="concurrent-change"
        )
    # The row now holds what the UPDATE wrote; record it as loaded, not as a change to flush.
    for name, value in (("status", rule.target), ("version", row.version + 1), ("updated_at", now)):
        set_committed_value(row, name, value)
    session.add(
        _event(
            row,
            by=by,
            role=role,
            kind=HistoryKind.TRANSITION,
            before=before,
            at=now,
            action=body.action,
            note=body.note,
        )
    )
    return (await _read_many(session, [row]))[0]


# --- history and comments -----------------------------------------------------------------------


def _int_cursor(cursor: str) -> int:
    (value,) = decode_cursor(cursor, arity=1)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_cursor()
    return value


async def list_history(
    *, session: AsyncSession, by: Principal, request_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[HistoryEntryRead]:
    """Every creation, edit and transition of a visible request, in the order they happened."""
    await _load(session, request_id=request_id, by=by, role=acting_role(by))
    where: list[Any] = [col(RequestEvent.request_id) == request_id]
    if cursor:
        where.append(col(RequestEvent.id) > _int_cursor(cursor))
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


async def add_comment(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
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
        await _load(session, request_id=request_id, by=by, role=role)
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
        return Result(CommentRead.model_validate(comment, from_attributes=True), status_code=201)

    return await idempotency.run(
        sessionmaker,
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
    await _load(session, request_id=request_id, by=by, role=acting_role(by))
    c = RequestComment
    where: list[Any] = [col(c.request_id) == request_id]
    page, next_cursor = await keyset_page(
        session,
        select(c).where(*where),
        created=col(c.created_at),
        ident=col(c.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[CommentRead](
        items=[CommentRead.model_validate(comment, from_attributes=True) for comment in page],
        next_cursor=next_cursor,
    )


# --- reporting ----------------------------------------------------------------------------------


async def request_stats(*, session: AsyncSession, by: Principal, filters: StatsFilters) -> RequestStats:
    """Counts of requests by status × region and per MNR capability (PD and admin only)."""
    if acting_role(by) not in REPORTERS:
        raise Forbidden("Reports are for the programme division and admins.")
    r = AssistanceRequest
    where: list[Any] = []
    if filters.created_after:
        where.append(col(r.created_at) >= filters.created_after)
    if filters.created_before:
        where.append(col(r.created_at) < filters.created_before)
    cells = (
        await session.execute(
            select(col(r.status), col(r.region), func.count())
            .where(*where)
            .group_by(col(r.status), col(r.region))
        )
    ).all()
    status_order = {status: index for index, status in enumerate(RequestStatus)}
    by_status_and_region = sorted(
        (StatusRegionCount(status=status, region=region, count=count) for status, region, count in cells),
        key=lambda cell: (status_order[cell.status], cell.region or "~"),
    )
    per_capability = (
        await session.execute(
            select(col(RequestCapability.capability), col(RequestCapability.importance), func.count())
            .join(r, col(r.id) == col(RequestCapability.request_id))
            .where(*where)
            .group_by(col(RequestCapability.capability), col(RequestCapability.importance))
        )
    ).all()
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for capability, importance, count in per_capability:
        counts[capability][importance] += count
    return RequestStats(
        total=sum(cell.count for cell in by_status_and_region),
        by_status_and_region=by_status_and_region,
        by_capability=[
            CapabilityCount(
                capability=cap.number,
                name=cap.name,
                requests=sum(counts[cap.number].values()),
                required=counts[cap.number]["required"],
            )
            for cap in ref.capabilities()
        ],
    )


# --- demo data ----------------------------------------------------------------------------------


def _path_to(status: RequestStatus) -> list[Action]:
    """The shortest series of actions that takes a new draft to `status`."""
    paths: dict[RequestStatus, list[Action]] = {RequestStatus.DRAFT: []}
    frontier = [RequestStatus.DRAFT]
    while frontier and status not in paths:
        nxt: list[RequestStatus] = []
        for current in frontier:
            for action in allowed_actions(current):
                target = TRANSITIONS[action].target
                if target not in paths:
                    paths[target] = [*paths[current], action]
                    nxt.append(target)
        frontier = nxt
    return paths[status]


def _demo_actor(action: Action | None, country: str) -> tuple[Principal, ActorRole]:
    rule = TRANSITIONS[action] if action else None
    if rule is None or ActorRole.COUNTRY_OFFICE in rule.roles:
        office = Principal(sub=f"co-{country.lower()}", roles=frozenset({Role.COUNTRY_OFFICE}))
        return office, ActorRole.COUNTRY_OFFICE
    if ActorRole.SERVICE in rule.roles:
        return Principal(sub="matching-service", client_id="matching-service"), ActorRole.SERVICE
    return Principal(sub="pd-demo", roles=frozenset({Role.PROGRAMME_DIVISION})), ActorRole.PROGRAMME_DIVISION


async def import_requests(
    *, session: AsyncSession, records: Iterable[Mapping[str, Any]], notes: Mapping[Action, str]
) -> int:
    """Loads demo requests (with their reference and status, walked through the machine in history).

    References already present are skipped, so importing twice changes nothing; the per-year
    counter is raised past every imported number so new requests never collide with them.
    """
    imported = 0
    for record in records:
        reference = str(record["reference"])
        existing = select(col(AssistanceRequest.id)).where(col(AssistanceRequest.reference) == reference)
        if (await session.execute(existing)).first() is not None:
            continue
        fields = {name: record[name] for name in RequestCreate.model_fields if name in record}
        body = RequestCreate.model_validate(fields, context={"allow_past_start": True})
        creator, creator_role = _demo_actor(None, body.country)
        row = await _insert(session, body=body, by=creator, role=creator_role, reference=reference)
        for action in _path_to(RequestStatus(record.get("status", "draft"))):
            actor, actor_role = _demo_actor(action, body.country)
            before = RequestStatus(row.status)
            row.status = TRANSITIONS[action].target
            row.version += 1
            session.add(
                _event(
                    row,
                    by=actor,
                    role=actor_role,
                    kind=HistoryKind.TRANSITION,
                    before=before,
                    at=utcnow(),
                    action=action,
                    note=notes.get(action),
                )
            )
            await session.flush()
        year, number = _reference_parts(reference)
        await _raise_counter(session, year=year, at_least=number)
        imported += 1
    await session.commit()
    return imported


def _reference_parts(reference: str) -> tuple[int, int]:
    _, year, number = reference.split("-")
    return int(year), int(number)


async def _raise_counter(session: AsyncSession, *, year: int, at_least: int) -> None:
    counter = await session.get(ReferenceCounter, year)
    if counter is None:
        session.add(ReferenceCounter(year=year, last_number=at_least))
    elif counter.last_number < at_least:
        counter.last_number = at_least
    await session.flush()
