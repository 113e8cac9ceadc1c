"""HTTP routes of the requests service (thin: parse, call the service, return)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from mnr_shared.api import (
    DEFAULT_LIMIT,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    Page,
    ReadSessionDep,
    SessionDep,
    SessionmakerDep,
    etag_header,
    respond,
)
from mnr_shared.auth import Principal, Role, require
from mnr_shared.events import events_router
from mnr_shared.problems import problem_responses
from requests_service import activity, service, status_machine
from requests_service.access import READ_SCOPE, WRITE_SCOPE
from requests_service.activity import REQUEST_EVENT_TYPES
from requests_service.models import OutboxEvent
from requests_service.schemas import (
    CommentCreate,
    CommentRead,
    HistoryEntryRead,
    RequestCreate,
    RequestFilters,
    RequestRead,
    RequestStats,
    RequestUpdate,
    StatsFilters,
    TransitionCreate,
)

PEOPLE = (Role.COUNTRY_OFFICE, Role.PROGRAMME_DIVISION, Role.ADMIN)
# Who may call each route; the service then narrows a country office to its own offices.
Reader = Annotated[Principal, Depends(require(roles=PEOPLE, scopes=[READ_SCOPE]))]
Writer = Annotated[Principal, Depends(require(roles=PEOPLE, scopes=[WRITE_SCOPE]))]
Person = Annotated[Principal, Depends(require(roles=PEOPLE))]
Programme = Annotated[Principal, Depends(require(roles=(Role.PROGRAMME_DIVISION, Role.ADMIN)))]
RequestId = Annotated[uuid.UUID, Path(description="The request's id.")]

TAG = "requests"
ACTIVITY_TAG = "history and comments"
REPORT_TAG = "reporting"


router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))


@router.post(
    "/requests",
    status_code=201,
    tags=[TAG],
    summary="File an assistance request (as a draft)",
    responses={**etag_header(201, "The new draft, with its TA reference"), **problem_responses(400, 413)},
)
async def file_request(
    body: RequestCreate,
    who: Writer,
    sessions: SessionmakerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RequestRead:
    """**Who may call:** a country office (only for a country in its `offices`, else 403), the
    programme division, admins, and clients with `requests:write`. Experts: 403.

    The request starts as `draft` with a reference `TA-<year>-<number>`. Every field is validated
    (422 with `errors` naming each bad field): `effort_days` may not exceed the Monday–Friday days
    between `start_date` and `end_date`, at least one capability must be `required`, and
    capabilities and languages are listed once each. With an `Idempotency-Key` a retry returns
    the first result; the same key with another body is 422.
    """
    created = await service.create_request(
        sessions=sessions, by=who, body=body, idempotency_key=idempotency_key
    )
    return respond(response, created, location=f"/v1/requests/{created.item.id}")


@router.get(
    "/requests",
    tags=[TAG],
    summary="List assistance requests",
)
async def list_requests(
    who: Reader,
    session: ReadSessionDep,
    filters: Annotated[RequestFilters, Query()],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RequestRead]:
    """**Who may call:** country offices (they see only their own `offices`' requests), the
    programme division, admins, and clients with `requests:read`. Experts: 403.

    Oldest first (by creation time, then id; `order=newest` turns it round); pass `next_cursor`
    back as `cursor` for the next page. Repeatable filters (`status`, `capability`, `priority`)
    match any of their values; all filters must hold together.
    """
    return await service.list_requests(session=session, by=who, filters=filters, limit=limit, cursor=cursor)


@router.get(
    "/requests/stats",
    tags=[REPORT_TAG],
    summary="Counts by status × region and by capability",
)
async def request_stats(
    who: Programme, session: ReadSessionDep, filters: Annotated[StatsFilters, Query()]
) -> RequestStats:
    """**Who may call:** the programme division and admins.

    Status × UNICEF-region cells with at least one request, and for each of the 21 MNR
    capabilities how many requests ask for it (and how many as required). Optionally only
    requests created in [`created_after`, `created_before`).
    """
    return await service.request_stats(session=session, by=who, filters=filters)


@router.get(
    "/requests/{request_id}",
    tags=[TAG],
    summary="Read one assistance request",
    responses={**etag_header(200, "The request"), **problem_responses(404)},
)
async def read_request(
    request_id: RequestId, who: Reader, session: ReadSessionDep, response: Response
) -> RequestRead:
    """**Who may call:** its country office, the programme division, admins, clients with
    `requests:read`. Another office's request is 404. The `ETag` header is what `If-Match` needs.
    """
    return respond(response, await service.get_request(session=session, by=who, request_id=request_id))


@router.patch(
    "/requests/{request_id}",
    tags=[TAG],
    summary="Edit a draft or submitted request",
    responses={
        **etag_header(200, "The edited request"),
        **problem_responses(400, 404, 409, 412, 413, 428),
    },
)
async def edit_request(
    request_id: RequestId,
    changes: RequestUpdate,
    who: Person,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> RequestRead:
    """**Who may call:** its country office, the programme division and admins (clients: 403).

    Only while the request is `draft` or `submitted` (409 otherwise). `If-Match` with the ETag
    you read is required (428 without it, 412 when the request changed since). Fields left out
    keep their value; `capabilities` and `languages` are replaced whole; the result is validated
    as a whole (an end date that no longer fits the effort is 422). A country office may move a
    request only to another of its own countries. Every edit is recorded in the history with the
    fields it changed.
    """
    edited = await service.update_request(
        session=session, by=who, request_id=request_id, changes=changes, if_match=if_match
    )
    return respond(response, edited)


@router.post(
    "/requests/{request_id}/transitions",
    tags=[TAG],
    summary="Move a request along its status machine",
    description=(
        "**Who may call:** its country office, the programme division, admins, and clients with "
        "`requests:write` (the matching service); each action has its own roles, below (403 "
        "otherwise). Another office's request is 404.\n\n"
        f"{status_machine.transition_table_markdown()}\n\n"
        "`withdrawn`, `rejected`, `cancelled` and `closed` are final. Any other (status, action) "
        "pair is 409 with `current_status` and `allowed_actions`. Racing transitions are "
        "serialised: exactly one applies, the other sees the new status (409 if it no longer "
        "allows the action). `If-Match` is optional here; when sent, a stale ETag is 412. "
        "With an `Idempotency-Key` (e.g. the matching service's match id) a retry returns the first "
        "answer instead of a 409. The answer carries the request's new `ETag`; every transition "
        "is recorded in the history."
    ),
    responses={
        **etag_header(200, "The request in its new status"),
        **problem_responses(400, 404, 409, 412, 413),
    },
)
async def transition_request(
    request_id: RequestId,
    body: TransitionCreate,
    who: Writer,
    sessions: SessionmakerDep,
    response: Response,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> RequestRead:
    moved = await status_machine.transition_request(
        sessions=sessions,
        by=who,
        request_id=request_id,
        body=body,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
    return respond(response, moved)


@router.get(
    "/requests/{request_id}/history",
    tags=[ACTIVITY_TAG],
    summary="The request's history, oldest first",
    responses=problem_responses(404),
)
async def read_history(
    request_id: RequestId,
    who: Reader,
    session: ReadSessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[HistoryEntryRead]:
    """**Who may call:** whoever may read the request (its country office, PD, admins, clients
    with `requests:read`). Creation, every edit (with the fields it changed) and every
    transition (from, to, action, note), each with the actor's `sub`, role and time.
    """
    return await activity.list_history(
        session=session, by=who, request_id=request_id, limit=limit, cursor=cursor
    )


@router.post(
    "/requests/{request_id}/comments",
    status_code=201,
    tags=[ACTIVITY_TAG],
    summary="Comment on a request",
    responses=problem_responses(400, 404, 413),
)
async def add_comment(
    request_id: RequestId,
    body: CommentCreate,
    who: Person,
    sessions: SessionmakerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CommentRead:
    """**Who may call:** its country office, the programme division and admins (clients: 403).

    At most 4,000 characters, in any status. With an `Idempotency-Key` a retry returns the first
    comment instead of posting it twice.
    """
    created = await activity.add_comment(
        sessions=sessions, by=who, request_id=request_id, body=body, idempotency_key=idempotency_key
    )
    return respond(response, created)


@router.get(
    "/requests/{request_id}/comments",
    tags=[ACTIVITY_TAG],
    summary="Comments on a request, oldest first",
    responses=problem_responses(404),
)
async def list_comments(
    request_id: RequestId,
    who: Reader,
    session: ReadSessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[CommentRead]:
    """**Who may call:** whoever may read the request (its country office, PD, admins, clients
    with `requests:read`).
    """
    return await activity.list_comments(
        session=session, by=who, request_id=request_id, limit=limit, cursor=cursor
    )


# The outbox's read side (`mnr_shared.events`), with its own `/v1` prefix: `main` includes both.
events = events_router(OutboxEvent, service="requests", types=REQUEST_EVENT_TYPES)
