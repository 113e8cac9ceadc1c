"""HTTP routes of the change feed and an expert's audit trail (thin: parse, call the service, return)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from mnr_shared.api import DEFAULT_LIMIT, Cursor, Limit, Page, ReadSessionDep
from mnr_shared.problems import problem_responses
from roster_service.dependencies import FeedReader, ProfileWriter, VettingRulesDep
from roster_service.feed import service
from roster_service.schemas import AuditRead, ChangesPage

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))


@router.get(
    "/experts/{expert_id}/history",
    tags=["experts"],
    summary="Audit trail of an expert",
    responses=problem_responses(404),
)
async def expert_history(
    expert_id: uuid.UUID,
    who: ProfileWriter,
    session: ReadSessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AuditRead]:
    """PD, admin and the expert themself: every write with actor, time, action, changed fields.
    After erasure PD and admin still read it, anonymous (no reasons, the expert's own sub gone)."""
    return await service.history(session=session, by=who, expert_id=expert_id, limit=limit, cursor=cursor)


@router.get("/changes", tags=["feed"], summary="The change feed", response_model=ChangesPage)
async def list_changes(
    _: FeedReader,
    session: ReadSessionDep,
    rules: VettingRulesDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Last `seq` you have applied.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """Admin and `roster:read` services: every change to an expert's matching projection, in a
    strictly increasing `seq`; `kind` is `upsert` (with the projection) or `delete`. A projection
    carries `vetting_valid_until`, the last day its safeguarding check is valid (null: none); an
    erased expert's earlier items carry nothing personal (`"erased": true`)."""
    # The body is the stored projections' own text in the `ChangesPage` envelope (not re-encoded).
    body = await service.changes(session=session, after=after, limit=limit, rules=rules)
    return Response(content=body, media_type="application/json")
