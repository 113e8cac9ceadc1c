"""HTTP routes of the matching service (thin: parse, call the service, return)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from matching_service import service
from matching_service.models import InconsistencyKind, InconsistencyStatus, MatchStatus, OutboxEvent
from matching_service.schemas import (
    CancelBody,
    DeclineBody,
    Feasibility,
    InconsistencyRead,
    MatchCreate,
    MatchRead,
    PolicyRead,
    Ranking,
    SearchBody,
    Weights,
)
from mnr_shared.api import (
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    Page,
    ReadSessionDep,
    SessionDep,
    etag_header,
    respond,
)
from mnr_shared.auth import Principal, Role, require_roles
from mnr_shared.events import events_router
from mnr_shared.problems import problem_responses

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))

PD, ADMIN, EXPERT, OFFICE = (
    Role.PROGRAMME_DIVISION.value,
    Role.ADMIN.value,
    Role.EXPERT.value,
    Role.COUNTRY_OFFICE.value,
)
Programme = Annotated[Principal, Depends(require_roles(PD, ADMIN))]
ShortlistReader = Annotated[Principal, Depends(require_roles(PD, ADMIN, OFFICE))]
Admin = Annotated[Principal, Depends(require_roles(ADMIN))]
MatchReader = Annotated[Principal, Depends(require_roles(PD, ADMIN, EXPERT))]
MatchLister = Annotated[Principal, Depends(require_roles(PD, ADMIN, EXPERT, OFFICE))]
Expert = Annotated[Principal, Depends(require_roles(EXPERT))]
ShortlistLimit = Annotated[int, Query(ge=1, le=200, description="How many candidates (1–200).")]


async def get_context(request: Request) -> service.Context:
    ctx: service.Context = request.app.state.ctx
    return ctx


ContextDep = Annotated[service.Context, Depends(get_context)]


@router.get(
    "/requests/{request_id}/candidates",
    tags=["ranking"],
    summary="Ranked candidates for a request",
    responses=problem_responses(404, 503),
)
async def request_candidates(
    request_id: uuid.UUID,
    who: ShortlistReader,
    ctx: ContextDep,
    limit: ShortlistLimit = 20,
) -> Ranking:
    """PD and admin; the request's own country office too. Each candidate explains its score
    (components with weight and contribution, matched and missing capabilities and languages,
    region reason, free days); `excluded` counts the experts filtered out, by first reason.
    Carries `index_seq` and `index_age_seconds` so a reader knows how fresh the roster view is."""
    return await service.candidates(ctx=ctx, by=who, request_id=request_id, limit=limit)


@router.post(
    "/search",
    tags=["ranking"],
    summary="What-if ranking for an unsaved request",
    responses=problem_responses(400, 413, 503),
)
async def search(body: SearchBody, _: Programme, ctx: ContextDep, limit: ShortlistLimit = 20) -> Ranking:
    """PD and admin: the same ranking for a request body that is not saved anywhere."""
    return await service.search(ctx=ctx, body=body, limit=limit)


@router.post(
    "/search/feasibility",
    tags=["ranking"],
    summary="Can this unsaved request be filled? (counts only)",
    responses=problem_responses(400, 413, 503),
)
async def feasibility(body: SearchBody, who: ShortlistReader, ctx: ContextDep) -> Feasibility:
    """PD and admin; a country office for a country among its `offices` (403 otherwise). The
    same body as `POST /v1/search` (so a request form asks it as it is being filled in): how
    many experts pass every hard filter and how many each reason excludes, without names."""
    return await service.feasibility(ctx=ctx, by=who, body=body)


@router.get(
    "/policy",
    tags=["policy"],
    summary="The current scoring weights",
    responses=etag_header(200, "The newest policy version"),
)
async def get_policy(_: Programme, session: SessionDep, response: Response) -> PolicyRead:
    """PD and admin: the newest policy version, with its ETag for a following PUT."""
    return respond(response, await service.current_policy(session=session))


@router.put(
    "/policy",
    tags=["policy"],
    summary="Change the scoring weights (new version)",
    responses={**etag_header(200, "The new policy version"), **problem_responses(400, 409, 412, 413, 428)},
)
async def put_policy(
    weights: Weights,
    who: Admin,
    ctx: ContextDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PolicyRead:
    """Admin: weights in [0, 1] summing to 1; every change is a new version (old ones kept).
    Requires `If-Match` with the current policy's ETag."""
    changed = await service.set_policy(ctx=ctx, session=session, by=who, weights=weights, if_match=if_match)
    return respond(response, changed)


@router.get("/policy/versions", tags=["policy"], summary="Every policy version")
async def list_policy_versions(_: Programme, session: ReadSessionDep) -> Page[PolicyRead]:
    """PD and admin: the history of weights, oldest first."""
    return await service.policy_versions(session=session)


@router.post(
    "/matches",
    tags=["matches"],
    status_code=201,
    summary="Approve a match (runs the approval saga)",
    responses={
        202: {"model": MatchRead, "description": "Held; the request update is still under way"},
        **problem_responses(400, 404, 409, 413, 503),
    },
)
async def approve_match(
    body: MatchCreate,
    who: Programme,
    ctx: ContextDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MatchRead:
    """PD and admin. Records the match as pending with the score breakdown and policy version,
    holds the request's window in roster, moves the request to `matched`, and offers the match
    to the expert (201). 409 when the expert is not free or not eligible — with the next best
    candidates — or the request already has a live match; 503 when roster cannot be reached
    (nothing is held); 202 when the hold is placed but the request update must be retried
    (the recovery worker finishes it). `Idempotency-Key` makes a retry return the first answer."""
    approved = await service.approve(ctx=ctx, by=who, body=body, idempotency_key=idempotency_key)
    return respond(response, approved, location=f"/v1/matches/{approved.item.id}")


@router.get("/matches", tags=["matches"], summary="List matches")
async def list_matches(
    who: MatchLister,
    ctx: ContextDep,
    session: ReadSessionDep,
    request_id: uuid.UUID | None = None,
    expert_id: uuid.UUID | None = None,
    status: Annotated[list[MatchStatus], Query()] = [],  # noqa: B006
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MatchRead]:
    """PD and admin see all; an expert sees only their own offers; a country office sees the
    matches of one of its own requests (`request_id` required). Newest first."""
    return await service.list_matches(
        ctx=ctx,
        session=session,
        by=who,
        request_id=request_id,
        expert_id=expert_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )


@router.get("/matches/{match_id}", tags=["matches"], summary="One match", responses=problem_responses(404))
async def get_match(
    match_id: uuid.UUID, who: MatchReader, ctx: ContextDep, session: ReadSessionDep
) -> MatchRead:
    """PD, admin, or the expert named in it."""
    return await service.get_match(ctx=ctx, session=session, by=who, match_id=match_id)


@router.post(
    "/matches/{match_id}/accept",
    tags=["matches"],
    summary="Accept an offer (expert)",
    responses=problem_responses(404, 409, 503),
)
async def accept_match(match_id: uuid.UUID, who: Expert, ctx: ContextDep) -> MatchRead:
    """The expert named: confirms the booking and marks the request `fulfilled`. 409
    `request-not-open` when the request has ended (the dates are released), 409
    `confirmation-refused` when roster no longer holds the dates (the request goes back to
    review), 409 `match-not-open` unless the match is an open offer."""
    return await service.accept(ctx=ctx, by=who, match_id=match_id)


@router.post(
    "/matches/{match_id}/decline",
    tags=["matches"],
    summary="Decline an offer (expert)",
    responses=problem_responses(400, 404, 409, 413, 503),
)
async def decline_match(match_id: uuid.UUID, body: DeclineBody, who: Expert, ctx: ContextDep) -> MatchRead:
    """The expert named: releases the hold and returns the request to `in_review`; 409
    `request-not-open` when the request has ended (the dates are released all the same)."""
    return await service.decline(ctx=ctx, by=who, match_id=match_id, reason=body.reason)


@router.post(
    "/matches/{match_id}/cancel",
    tags=["matches"],
    summary="Cancel an offer (PD)",
    responses=problem_responses(400, 404, 409, 413, 503),
)
async def cancel_match(
    match_id: uuid.UUID, who: Programme, ctx: ContextDep, body: Annotated[CancelBody | None, Body()] = None
) -> MatchRead:
    """PD and admin: releases the hold and returns the request to `in_review`; 409
    `request-not-open` when the request has ended (the dates are released all the same)."""
    return await service.cancel(ctx=ctx, by=who, match_id=match_id, reason=body.reason if body else None)


@router.get("/admin/inconsistencies", tags=["admin"], summary="What the reconciler found")
async def list_inconsistencies(
    _: Admin,
    session: ReadSessionDep,
    status: Annotated[list[InconsistencyStatus], Query()] = [],  # noqa: B006
    kind: Annotated[list[InconsistencyKind], Query()] = [],  # noqa: B006
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[InconsistencyRead]:
    """Admin. The reconciler's findings between matches, roster bookings and request statuses,
    newest first: `open` ones (reported, for a person to act on), `repaired` ones (an orphan
    hold released, a request left `matched` reopened, an offer whose hold was lost ended) and
    `resolved` ones (no longer seen). `status` and `kind` may repeat."""
    return await service.list_inconsistencies(
        session=session, status=status, kind=kind, limit=limit, cursor=cursor
    )


# `GET /v1/events` (its own `/v1` prefix): the app includes it beside `router`.
events = events_router(
    OutboxEvent,
    service="matching",
    types=service.MATCHING_EVENT_TYPES,
    notes="Events are never rewritten, except that erasing an expert removes their `sub` from the "
    "answers they gave (`match.accepted`, `match.declined`).",
)
