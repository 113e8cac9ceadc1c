"""Filing, reading, listing and editing assistance requests, and the programme division's counts.

With `status_machine` (transitions) and `activity` (history and comments) this is the service
layer: the only code that reads or writes the database. Every function takes the calling
principal and applies who-may-see-what itself (see `access`), so no route can forget it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from mnr_shared import reference as ref
from mnr_shared.api import Result
from mnr_shared.auth import Principal
from mnr_shared.db import utcnow
from mnr_shared.etag import check_if_match, make_etag
from mnr_shared.pagination import Page, keyset_page
from mnr_shared.problems import validation_errors
from requests_service.access import (
    EDITORS,
    REPORTERS,
    WRITE_SCOPE,
    acting_role,
    check_office,
    load_request,
    visible_to,
)
from requests_service.activity import record
from requests_service.db import idempotency
from requests_service.errors import Conflict, Forbidden, UnprocessableContent
from requests_service.models import (
    ActorRole,
    AssistanceRequest,
    HistoryKind,
    ReferenceCounter,
    RequestCapability,
    RequestLanguage,
    RequestStatus,
)
from requests_service.schemas import (
    CapabilityCount,
    CapabilityNeed,
    LanguageNeed,
    RequestCreate,
    RequestFilters,
    RequestRead,
    RequestStats,
    RequestUpdate,
    StatsFilters,
    StatusRegionCount,
    working_days,
)

EDITABLE = frozenset({RequestStatus.DRAFT, RequestStatus.SUBMITTED})


# --- reading ----------------------------------------------------------------------------------


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


async def read_many(session: AsyncSession, rows: Sequence[AssistanceRequest]) -> list[RequestRead]:
    """The read models of `rows`, with their capability and language needs (two queries in all)."""
    capabilities, languages = await _needs(session, [row.id for row in rows])
    return [_read_model(row, capabilities[row.id], languages[row.id]) for row in rows]


def _result(read: RequestRead, *, status_code: int = 200) -> Result[RequestRead]:
    """`read` with its ETag, which changes with every write of the request."""
    return Result(read, etag=make_etag(read.id, read.version), status_code=status_code)


async def get_request(*, session: AsyncSession, by: Principal, request_id: uuid.UUID) -> Result[RequestRead]:
    """The request and its ETag if the caller may see it; 404 for other offices' requests and unknown ids."""
    row = await load_request(session, request_id=request_id, by=by, role=acting_role(by))
    return _result((await read_many(session, [row]))[0])


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_requests(
    *, session: AsyncSession, by: Principal, filters: RequestFilters, limit: int, cursor: str | None
) -> Page[RequestRead]:
    """The requests the caller may see that match every filter, oldest (or newest) first, keyset-paginated."""
    role = acting_role(by)
    r = AssistanceRequest
    where: list[Any] = visible_to(by, role)
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
        newest_first=filters.order == "newest",
    )
    return Page[RequestRead](items=await read_many(session, page), next_cursor=next_cursor)


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
) -> AssistanceRequest:
    now = utcnow()
    row = AssistanceRequest(
        id=uuid.uuid4(),
        reference=await _next_reference(session, year=now.year),
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
    await record(session, row, by=by, role=role, kind=HistoryKind.CREATED, before=None, at=now)
    await session.flush()
    return row


async def create_request(
    *,
    sessions: async_sessionmaker[AsyncSession],
    by: Principal,
    body: RequestCreate,
    idempotency_key: str | None,
) -> Result[RequestRead]:
    """Files a `draft` with a unique TA reference, at most once per (caller, Idempotency-Key)."""
    role = acting_role(by, scope=WRITE_SCOPE)
    check_office(by, role, body.country)

    async def work(session: AsyncSession) -> Result[RequestRead]:
        row = await _insert(session, body=body, by=by, role=role)
        read = _read_model(row, list(body.capabilities), list(body.languages))
        return _result(read, status_code=201)

    return await idempotency.run(
        sessions,
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
) -> Result[RequestRead]:
    """Applies an edit while `draft`/`submitted`, by its office or PD, only against the current ETag."""
    role = acting_role(by, scope=WRITE_SCOPE)
    if role not in EDITORS:
        raise Forbidden("Only the request's country office and the programme division may edit it.")
    row = await load_request(session, request_id=request_id, by=by, role=role, lock=True)
    current = (await read_many(session, [row]))[0]
    check_if_match(if_match, make_etag(current.id, current.version))
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
        check_office(by, role, merged.country)
    changed = [name for name in RequestCreate.model_fields if getattr(merged, name) != getattr(current, name)]
    if not changed:
        return _result(current)
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
    await record(
        session, row, by=by, role=role, kind=HistoryKind.EDITED, before=row.status, at=now, changed=changed
    )
    await session.commit()
    return _result(_read_model(row, list(merged.capabilities), list(merged.languages)))


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
