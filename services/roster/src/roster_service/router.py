"""The roster's HTTP API: one router that includes every domain's routes, in an order that keeps
routing right.

Routes match in registration order. The spreadsheet routes come first: `GET /v1/experts/export`
and `GET /v1/experts/import/template` must be registered before `GET /v1/experts/{expert_id}`
(which would take `export` as an id and answer 422), and `GET /v1/experts/me` comes before it
inside the experts' router for the same reason.
"""

from __future__ import annotations

from fastapi import APIRouter

from mnr_shared.events import events_router
from roster_service.calendar.router import router as calendar_router
from roster_service.experts.router import router as experts_router
from roster_service.feed.router import router as feed_router
from roster_service.feed.service import ROSTER_EVENT_TYPES
from roster_service.models import OutboxEvent
from roster_service.reference.router import router as reference_router
from roster_service.spreadsheets.router import router as spreadsheets_router

router = APIRouter()
router.include_router(spreadsheets_router)
router.include_router(reference_router)
router.include_router(experts_router)
router.include_router(calendar_router)
router.include_router(feed_router)
router.include_router(
    events_router(
        OutboxEvent,
        service="roster",
        types=ROSTER_EVENT_TYPES,
        notes="Events are never rewritten, except that erasing an expert removes their `sub` from "
        "the events they caused.",
    )
)
