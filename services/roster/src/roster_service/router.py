"""HTTP routes of the roster service (thin: parse, call the service, return)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from mnr_shared.api import IdempotencyKey, Result
from mnr_shared.auth import CurrentPrincipal, Principal, Role, require, require_roles
from mnr_shared.db import SessionDep, SessionmakerDep
from mnr_shared.pagination import Cursor, Limit, Page
from mnr_shared.problems import problem_responses
from mnr_shared.reference import CEFR, ISO3, CapabilityNumber, ExpertiseLevel, LanguageTag, RegionCode
from roster_service import service, spreadsheets
from roster_service.db import idempotency
from roster_service.models import ExpertStatus
from roster_service.schemas import (
    AuditRead,
    BookingCreate,
    BookingRead,
    CalendarRead,
    CapabilityCatalogue,
    ChangesPage,
    ExpertCreate,
    ExpertPublic,
    ExpertRead,
    ExpertUpdate,
    LanguageCatalogue,
    RegionCatalogue,
    StatusChange,
    UnavailabilityCreate,
    UnavailabilityRead,
)

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403))

PD, ADMIN, EXPERT, OFFICE = (
    Role.PROGRAMME_DIVISION.value,
    Role.ADMIN.value,
    Role.EXPERT.value,
    Role.COUNTRY_OFFICE.value,
)
AnyReader = Annotated[
    Principal, Depends(require(roles=(PD, ADMIN, EXPERT, OFFICE), scopes=(service.READ_SCOPE,)))
]
Searcher = Annotated[Principal, Depends(require(roles=(PD, ADMIN, OFFICE), scopes=(service.READ_SCOPE,)))]
ProfileWriter = Annotated[Principal, Depends(require_roles(PD, ADMIN, EXPERT))]
CalendarReader = Annotated[
    Principal, Depends(require(roles=(PD, ADMIN, EXPERT), scopes=(service.READ_SCOPE,)))
]
Vetter = Annotated[Principal, Depends(require_roles(PD, ADMIN))]
Admin = Annotated[Principal, Depends(require_roles(ADMIN))]
Booker = Annotated[Principal, Depends(require(roles=(PD, ADMIN), scopes=(service.WRITE_SCOPE,)))]
BookingReader = Annotated[Principal, Depends(require(roles=(PD, ADMIN), scopes=(service.READ_SCOPE,)))]
FeedReader = Annotated[Principal, Depends(require(roles=(ADMIN,), scopes=(service.READ_SCOPE,)))]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="The ETag from your last read (required).")
]
ExpertView = ExpertRead | ExpertPublic


def _with_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


# --- reference --------------------------------------------------------------------------------


@router.get("/reference/capabilities", tags=["reference"], summary="MNR capabilities in their domains")
async def list_capabilities(_: CurrentPrincipal) -> CapabilityCatalogue:
    """Any authenticated caller: the 21 MNR-2016 capabilities and the expertise levels 1–4."""
    return service.capability_catalogue()


@router.get("/reference/regions", tags=["reference"], summary="UNICEF programme regions and their countries")
async def list_regions(_: CurrentPrincipal) -> RegionCatalogue:
    """Any authenticated caller: the 7 regions with their ISO3 member countries."""
    return service.region_catalogue()


@router.get("/reference/languages", tags=["reference"], summary="Common languages and CEFR levels")
async def list_languages(_: CurrentPrincipal) -> LanguageCatalogue:
    """Any authenticated caller: programme languages (BCP 47) and the CEFR levels A1–C2."""
    return service.language_catalogue()


# --- experts ----------------------------------------------------------------------------------


@router.post(
    "/experts",
    tags=["experts"],
    status_code=201,
    response_model=ExpertRead,
    summary="Create an expert, or self-register as an applicant",
    responses=problem_responses(409, 422),
)
async def create_expert(
    body: ExpertCreate, who: ProfileWriter, sessions: SessionmakerDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """PD and admin create experts in any status (default `applicant`). An `expert` without a
    profile registers themself as an `applicant` bound to their token's `sub`; they cannot set
    status, vetting or daily rate. `Idempotency-Key` makes a retry return the first answer."""

    async def work(session: Any) -> Result[ExpertRead]:
        expert, etag = await service.create_expert(session=session, by=who, body=body)
        return Result(expert, etag=etag, status_code=201)

    created = await idempotency.run(
        sessions,
        by=who,
        operation="create-expert",
        key=idempotency_key,
        body=body,
        model=ExpertRead,
        work=work,
    )
    return JSONResponse(
        created.item.model_dump(mode="json"),
        status_code=created.status_code,
        headers={"ETag": created.etag or "", "Location": f"/v1/experts/{created.item.id}"},
    )


async def _search_filters(
    capability: Annotated[
        list[CapabilityNumber], Query(description="Repeatable; the expert must have every one (AND).")
    ] = [],  # noqa: B006
    min_level: Annotated[
        ExpertiseLevel, Query(description="Minimum level for every `capability` given.")
    ] = 1,
    language: Annotated[LanguageTag | None, Query(description="BCP 47; `en` matches `en-GB`.")] = None,
    min_language_level: Annotated[CEFR | None, Query()] = None,
    region: Annotated[RegionCode | None, Query(description="UNICEF region of country experience.")] = None,
    country: Annotated[ISO3 | None, Query(description="Country experience (ISO3).")] = None,
    status: Annotated[list[ExpertStatus], Query(description="Repeatable.")] = [],  # noqa: B006
    available_from: Annotated[date | None, Query(description="Free for the whole window.")] = None,
    available_to: Annotated[date | None, Query()] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Text in name or summary.")
    ] = None,
) -> service.ExpertFilters:
    """The filters of `GET /v1/experts`, for routes that take the same query."""
    return service.ExpertFilters(
        capability=capability,
        min_level=min_level,
        language=language,
        min_language_level=min_language_level,
        region=region,
        country=country,
        status=status,
        available_from=available_from or available_to,
        available_to=available_to or available_from,
        q=q,
    )


SearchFilters = Annotated[service.ExpertFilters, Depends(_search_filters)]


@router.get(
    "/experts",
    tags=["experts"],
    response_model=None,
    summary="Search the roster",
    responses={
        200: {
            "model": Page[ExpertRead] | Page[ExpertPublic],
            "description": "Full profiles, or public fields for a country office",
        },
        **problem_responses(422),
    },
)
async def list_experts(
    who: Searcher,
    session: SessionDep,
    filters: SearchFilters,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ExpertView]:
    """PD, admin and services with `roster:read` see full profiles in any status; a country
    office sees the public fields of active experts only. Ordered by creation (then id)."""
    items, next_cursor = await service.list_experts(
        session=session, by=who, filters=filters, limit=limit, cursor=cursor
    )
    return Page[ExpertView](items=items, next_cursor=next_cursor)


@router.get(
    "/experts/me", tags=["experts"], summary="My own profile (experts)", responses=problem_responses(404)
)
async def my_profile(
    who: Annotated[Principal, Depends(require_roles(EXPERT))], session: SessionDep, response: Response
) -> ExpertRead:
    """The calling expert's whole profile, with its ETag for a following PATCH."""
    expert, etag = await service.get_own_profile(session=session, by=who)
    _with_etag(response, etag)
    return expert


@router.get(
    "/experts/{expert_id}",
    tags=["experts"],
    response_model=None,
    summary="One expert",
    responses={
        200: {"model": ExpertView, "description": "Full profile, or public fields for a country office"},
        **problem_responses(404),
    },
)
async def get_expert(
    expert_id: uuid.UUID, who: AnyReader, session: SessionDep, response: Response
) -> ExpertView:
    """Full profile for PD, admin, the expert themself and `roster:read` services; public fields
    of active experts for a country office; 404 for anyone else."""
    expert, etag = await service.get_expert(session=session, by=who, expert_id=expert_id)
    _with_etag(response, etag)
    return expert


@router.patch(
    "/experts/{expert_id}",
    tags=["experts"],
    summary="Edit an expert",
    responses=problem_responses(404, 409, 412, 422, 428),
)
async def update_expert(
    expert_id: uuid.UUID,
    body: ExpertUpdate,
    who: ProfileWriter,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ExpertRead:
    """PD/admin edit any field; an expert edits their own profile, languages and expertise but
    never status, vetting or daily rate. Requires `If-Match` (428 without, 412 when stale)."""
    expert, etag = await service.update_expert(
        session=session, by=who, expert_id=expert_id, body=body, if_match=if_match
    )
    _with_etag(response, etag)
    return expert


@router.delete(
    "/experts/{expert_id}",
    tags=["experts"],
    status_code=204,
    summary="Erase an expert's personal data (admin)",
    responses=problem_responses(404, 412, 428),
)
async def erase_expert(
    expert_id: uuid.UUID, who: Admin, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Removes name, email, phone, summary, nationality, rates and vetting; keeps an anonymous
    tombstone so bookings and history stay consistent; the change feed emits a `delete`."""
    await service.erase_expert(session=session, by=who, expert_id=expert_id, if_match=if_match)
    return Response(status_code=204)


@router.post(
    "/experts/{expert_id}/status",
    tags=["vetting"],
    summary="Vet: change status",
    responses=problem_responses(404, 409, 422),
)
async def change_status(
    expert_id: uuid.UUID, body: StatusChange, who: Vetter, session: SessionDep, response: Response
) -> ExpertRead:
    """PD/admin: `applicant → active`, `active ↔ inactive`, any → `suspended`, with a reason;
    any other move is 409 naming the allowed ones."""
    expert, etag = await service.change_status(session=session, by=who, expert_id=expert_id, body=body)
    _with_etag(response, etag)
    return expert


@router.get(
    "/experts/{expert_id}/history",
    tags=["experts"],
    response_model=Page[AuditRead],
    summary="Audit trail of an expert",
    responses=problem_responses(404),
)
async def expert_history(
    expert_id: uuid.UUID, who: ProfileWriter, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """PD, admin and the expert themself: every write with actor, time, action, changed fields."""
    items, next_cursor = await service.history(
        session=session, by=who, expert_id=expert_id, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


# --- calendar ---------------------------------------------------------------------------------


@router.get(
    "/experts/{expert_id}/calendar",
    tags=["calendar"],
    summary="An expert's calendar",
    responses=problem_responses(404, 422),
)
async def get_calendar(
    expert_id: uuid.UUID,
    who: CalendarReader,
    session: SessionDep,
    start: Annotated[date | None, Query(alias="from", description="Default: today.")] = None,
    end: Annotated[date | None, Query(alias="to", description="Default: a year after `from`.")] = None,
) -> CalendarRead:
    """Unavailability and bookings overlapping the range: PD, admin, the expert themself and
    `roster:read` services."""
    return await service.calendar(session=session, by=who, expert_id=expert_id, start=start, end=end)


@router.post(
    "/experts/{expert_id}/unavailability",
    tags=["calendar"],
    status_code=201,
    summary="Declare unavailability",
    responses=problem_responses(404, 409, 422),
)
async def add_unavailability(
    expert_id: uuid.UUID, body: UnavailabilityCreate, who: ProfileWriter, session: SessionDep
) -> UnavailabilityRead:
    """The expert themself or PD/admin; 409 if it overlaps a live booking."""
    return await service.add_unavailability(session=session, by=who, expert_id=expert_id, body=body)


@router.delete(
    "/experts/{expert_id}/unavailability/{period_id}",
    tags=["calendar"],
    status_code=204,
    summary="Withdraw unavailability",
    responses=problem_responses(404),
)
async def remove_unavailability(
    expert_id: uuid.UUID, period_id: uuid.UUID, who: ProfileWriter, session: SessionDep
) -> Response:
    """The expert themself or PD/admin."""
    await service.remove_unavailability(session=session, by=who, expert_id=expert_id, period_id=period_id)
    return Response(status_code=204)


# --- bookings ---------------------------------------------------------------------------------


@router.post(
    "/experts/{expert_id}/bookings",
    tags=["bookings"],
    status_code=201,
    response_model=BookingRead,
    summary="Hold an expert's dates for a match",
    responses={
        200: {"description": "This match already holds these dates (replay)"},
        **problem_responses(404, 409, 422),
    },
)
async def hold_booking(
    expert_id: uuid.UUID,
    body: BookingCreate,
    who: Booker,
    sessions: SessionmakerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The matching service (`roster:write`) or PD/admin. 409 names the clashing booking or
    unavailability; the database refuses overlaps even under concurrent requests."""

    async def work(session: Any) -> Result[BookingRead]:
        status, booking = await service.hold(session=session, by=who, expert_id=expert_id, body=body)
        return Result(booking, status_code=status)

    held = await idempotency.run(
        sessions,
        by=who,
        operation=f"hold:{expert_id}",
        key=idempotency_key,
        body=body,
        model=BookingRead,
        work=work,
    )
    return JSONResponse(
        held.item.model_dump(mode="json"),
        status_code=held.status_code,
        headers={"Location": f"/v1/bookings/{held.item.id}"},
    )


@router.get("/bookings", tags=["bookings"], summary="Find the booking of a match")
async def find_bookings(
    match_id: Annotated[uuid.UUID, Query(description="The match the booking was placed for.")],
    _: BookingReader,
    session: SessionDep,
) -> dict[str, list[BookingRead]]:
    """PD, admin and `roster:read` services: `{"items": [...]}`, empty when the match holds nothing."""
    return {"items": await service.bookings_for_match(session=session, match_id=match_id)}


@router.get(
    "/bookings/{booking_id}", tags=["bookings"], summary="One booking", responses=problem_responses(404)
)
async def get_booking(booking_id: uuid.UUID, _: BookingReader, session: SessionDep) -> BookingRead:
    """PD, admin and `roster:read` services."""
    return await service.get_booking(session=session, booking_id=booking_id)


@router.post(
    "/bookings/{booking_id}/confirm",
    tags=["bookings"],
    summary="Confirm a hold",
    responses=problem_responses(404, 409),
)
async def confirm_booking(booking_id: uuid.UUID, who: Booker, session: SessionDep) -> BookingRead:
    """`hold → confirmed` (repeatable); a released booking is 409."""
    return await service.confirm(session=session, by=who, booking_id=booking_id)


@router.post(
    "/bookings/{booking_id}/release",
    tags=["bookings"],
    summary="Release a booking",
    responses=problem_responses(404),
)
async def release_booking(booking_id: uuid.UUID, who: Booker, session: SessionDep) -> BookingRead:
    """`hold | confirmed → released` (repeatable); the dates are free again."""
    return await service.release(session=session, by=who, booking_id=booking_id)


# --- change feed ------------------------------------------------------------------------------


@router.get("/changes", tags=["feed"], summary="The change feed", responses=problem_responses(422))
async def list_changes(
    _: FeedReader,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, description="Last `seq` you have applied.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ChangesPage:
    """Admin and `roster:read` services: every change to an expert's matching projection, in a
    strictly increasing `seq`; `kind` is `upsert` (with the projection) or `delete`."""
    return await service.changes(session=session, after=after, limit=limit)


# --- spreadsheets: import template, import, export --------------------------------------------
# These routes sit on a router of their own that is spliced in front of the others at the end of
# this section: routes match in registration order, and `GET /v1/experts/export` must not be
# taken by `GET /v1/experts/{expert_id}` (which would answer 422 for a non-UUID id).

spreadsheet_router = APIRouter(prefix="/v1", tags=["spreadsheets"], responses=problem_responses(401, 403))
SheetFormatQuery = Annotated[
    spreadsheets.SheetFormat, Query(alias="format", description="`csv` (UTF-8) or `xlsx`.")
]
UploadedSheet = Annotated[spreadsheets.Upload, Depends(spreadsheets.read_upload)]
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The spreadsheet, as an attachment",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            spreadsheets.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "full_name,email,capabilities,languages\n"
            "Amina Odhiambo,amina.odhiambo@example.org,3:4; 5:3,en:C2; sw:C2\n",
        },
        spreadsheets.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}


@spreadsheet_router.get(
    "/experts/import/template",
    response_class=Response,
    summary="Download the import template",
    description="PD and admin: the header row of the import layout and one example row.\n\n"
    + spreadsheets.LAYOUT,
    responses={**_DOWNLOAD, **problem_responses(422)},
)
async def import_template(_: Vetter, fmt: SheetFormatQuery = spreadsheets.SheetFormat.CSV) -> Response:
    return Response(
        spreadsheets.template(fmt),
        media_type=fmt.media_type,
        headers=spreadsheets.attachment("experts-import-template", fmt),
    )


@spreadsheet_router.post(
    "/experts/import",
    summary="Import experts from a CSV or XLSX file",
    description=spreadsheets.IMPORT_DESCRIPTION,
    responses=problem_responses(413, 422),
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def import_experts(
    who: Vetter,
    upload: UploadedSheet,
    session: SessionDep,
    dry_run: Annotated[bool, Query(description="Validate and report only; write nothing.")] = False,
) -> spreadsheets.ImportReport:
    return await service.import_experts(session=session, by=who, upload=upload, dry_run=dry_run)


@spreadsheet_router.get(
    "/experts/export",
    response_class=Response,
    summary="Export experts as CSV or XLSX",
    responses={**_DOWNLOAD, **problem_responses(422)},
)
async def export_experts(
    who: Searcher,
    session: SessionDep,
    filters: SearchFilters,
    fmt: SheetFormatQuery = spreadsheets.SheetFormat.CSV,
) -> Response:
    """Takes the filters of `GET /v1/experts`. PD, admin and `roster:read` services get every
    matching expert in the import layout (an export re-imports as updates); a country office gets
    the public columns (full_name, summary, status, capabilities, languages, regions) of active
    experts only; experts are refused."""
    content = await service.export_experts(session=session, by=who, filters=filters, fmt=fmt)
    return Response(
        content, media_type=fmt.media_type, headers=spreadsheets.attachment(spreadsheets.export_stem(), fmt)
    )


router.routes[:0] = spreadsheet_router.routes
