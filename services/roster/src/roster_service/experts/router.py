"""HTTP routes of experts: create, search, read, edit, erase, vet (thin: parse, call the service, return)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from mnr_shared.api import (
    DEFAULT_LIMIT,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    Page,
    ReadsDep,
    ReadSessionDep,
    SessionDep,
    SessionmakerDep,
    etag_header,
    respond,
    respond_json,
)
from mnr_shared.problems import problem_responses
from roster_service.dependencies import (
    Admin,
    AnyReader,
    ExpertCaller,
    ProfileWriter,
    Searcher,
    SearchFilters,
    Vetter,
    VettingRulesDep,
)
from roster_service.experts import service
from roster_service.schemas import (
    CalendarDate,
    ExpertCreate,
    ExpertPublic,
    ExpertRead,
    ExpertShared,
    ExpertUpdate,
    StatusChange,
)

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))

ExpertView = ExpertRead | ExpertShared | ExpertPublic


@router.post(
    "/experts",
    tags=["experts"],
    status_code=201,
    summary="Create an expert, or self-register as an applicant",
    responses={**etag_header(201, "The new expert"), **problem_responses(400, 409, 413)},
)
async def create_expert(
    body: ExpertCreate,
    who: ProfileWriter,
    sessions: SessionmakerDep,
    rules: VettingRulesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ExpertRead:
    """PD and admin create experts in any status (default `applicant`); `active` needs
    `vetting.references_checked_on` and a `vetting.safeguarding_check_on` no older than
    `ROSTER_VETTING_VALID_MONTHS` (422 naming the date otherwise). An `expert` without a
    profile registers themself as an `applicant` bound to their token's `sub`; they cannot set
    status, vetting or daily rate. `Idempotency-Key` makes a retry return the first answer."""
    created = await service.create_expert(
        sessions=sessions, by=who, body=body, idempotency_key=idempotency_key, rules=rules
    )
    return respond(response, created, location=f"/v1/experts/{created.item.id}")


@router.get(
    "/experts",
    tags=["experts"],
    response_model=None,
    summary="Search the roster",
    responses={
        200: {
            "model": Page[ExpertRead] | Page[ExpertShared] | Page[ExpertPublic],
            "description": "Full profiles, the shared profile for a `roster:read` client without "
            "`roster:pii`, or public fields for a country office",
        },
    },
)
async def list_experts(
    who: Searcher,
    session: ReadSessionDep,
    filters: SearchFilters,
    rules: VettingRulesDep,
    vetting_due_before: Annotated[
        CalendarDate | None,
        Query(
            description="PD, admin and `roster:pii` clients: only experts whose vetting falls due "
            "before this day (no references or safeguarding check on record, or a check that "
            "is no longer valid then).",
            examples=["2027-06-30"],
        ),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ExpertView]:
    """PD, admin and clients with `roster:read` and `roster:pii` see full profiles in any status;
    a client with `roster:read` alone sees the shared profile (no email, phone, rate, gender or
    vetting) in any status; a country office sees the public fields of active experts only.
    Ordered by creation (then id)."""
    return await service.list_experts(
        session=session,
        by=who,
        filters=filters,
        limit=limit,
        cursor=cursor,
        vetting_due_before=vetting_due_before,
        rules=rules,
    )


@router.get(
    "/experts/me",
    tags=["experts"],
    summary="My own profile (experts)",
    responses={**etag_header(200, "The caller's own profile"), **problem_responses(404)},
)
async def my_profile(who: ExpertCaller, session: ReadSessionDep, response: Response) -> ExpertRead:
    """The calling expert's whole profile, with its ETag for a following PATCH."""
    return respond(response, await service.get_own_profile(session=session, by=who))


@router.get(
    "/experts/{expert_id}",
    tags=["experts"],
    response_model=None,
    summary="One expert",
    responses={
        200: {
            **etag_header(200, "Full profile, or public fields for a country office")[200],
            "model": ExpertView,
        },
        **problem_responses(404),
    },
)
async def get_expert(expert_id: uuid.UUID, who: AnyReader, reads: ReadsDep) -> Response:
    """Full profile for PD, admin, the expert themself and `roster:read` + `roster:pii` clients;
    the shared profile for `roster:read` clients; public fields of active experts for a country
    office; 404 for anyone else. An erased expert is an anonymous tombstone (`erased: true`)
    for PD and admin."""
    return respond_json(await service.get_expert(reads=reads, by=who, expert_id=expert_id))


@router.patch(
    "/experts/{expert_id}",
    tags=["experts"],
    summary="Edit an expert",
    responses={**etag_header(200, "The edited expert"), **problem_responses(400, 404, 409, 412, 413, 428)},
)
async def update_expert(
    expert_id: uuid.UUID,
    body: ExpertUpdate,
    who: ProfileWriter,
    session: SessionDep,
    rules: VettingRulesDep,
    response: Response,
    if_match: IfMatch = None,
) -> ExpertRead:
    """PD/admin edit any field (an active expert's `vetting` only to checks that keep them
    vetted, 422 otherwise); an expert edits their own profile, languages and expertise but
    never status, vetting or daily rate. Requires `If-Match` (428 without, 412 when stale)."""
    updated = await service.update_expert(
        session=session, by=who, expert_id=expert_id, body=body, if_match=if_match, rules=rules
    )
    return respond(response, updated)


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
    """Removes name, email, phone, summary, nationality, residence, gender, rates and vetting, and
    rewrites the expert's earlier feed items and audit entries so that none keeps them; keeps an
    anonymous tombstone (`erased: true`) so bookings and history stay consistent and readable by
    PD and admin; the change feed emits a `delete`. Requires `If-Match` (428 without, 412 when
    stale)."""
    await service.erase_expert(session=session, by=who, expert_id=expert_id, if_match=if_match)
    return Response(status_code=204)


@router.post(
    "/experts/{expert_id}/status",
    tags=["vetting"],
    summary="Vet: change status",
    responses={**etag_header(200, "The expert in the new status"), **problem_responses(400, 404, 409, 413)},
)
async def change_status(
    expert_id: uuid.UUID,
    body: StatusChange,
    who: Vetter,
    session: SessionDep,
    rules: VettingRulesDep,
    response: Response,
) -> ExpertRead:
    """PD/admin: `applicant → active`, `active ↔ inactive`, any → `suspended`, with a reason;
    any other move is 409 naming the allowed ones. Becoming `active` needs references checked
    and a safeguarding check no older than `ROSTER_VETTING_VALID_MONTHS` (409
    `vetting-incomplete` naming what is missing or expired)."""
    return respond(
        response,
        await service.change_status(session=session, by=who, expert_id=expert_id, body=body, rules=rules),
    )
