"""HTTP routes of the calendar and bookings (thin: parse, call the service, return)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from mnr_shared.api import IdempotencyKey, Page, ReadSessionDep, SessionDep, SessionmakerDep, respond
from mnr_shared.problems import problem_responses
from roster_service.calendar import service
from roster_service.dependencies import Booker, BookingReader, CalendarReader, ProfileWriter
from roster_service.schemas import (
    AvailabilityConfirmed,
    BookingCreate,
    BookingRead,
    CalendarDate,
    CalendarRead,
    UnavailabilityCreate,
    UnavailabilityRead,
)

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))


# --- calendar ---------------------------------------------------------------------------------


@router.get(
    "/experts/{expert_id}/calendar",
    tags=["calendar"],
    summary="An expert's calendar",
    responses=problem_responses(404),
)
async def get_calendar(
    expert_id: uuid.UUID,
    who: CalendarReader,
    session: ReadSessionDep,
    start: Annotated[CalendarDate | None, Query(alias="from", description="Default: today.")] = None,
    end: Annotated[
        CalendarDate | None,
        Query(alias="to", description="Default: a year after `from` (at most 2200-12-31)."),
    ] = None,
) -> CalendarRead:
    """Unavailability and bookings overlapping the range: PD, admin, the expert themself and
    `roster:read` services."""
    return await service.calendar(session=session, by=who, expert_id=expert_id, start=start, end=end)


@router.post(
    "/experts/{expert_id}/unavailability",
    tags=["calendar"],
    status_code=201,
    summary="Declare unavailability",
    responses=problem_responses(400, 404, 409, 413),
)
async def add_unavailability(
    expert_id: uuid.UUID,
    body: UnavailabilityCreate,
    who: ProfileWriter,
    session: SessionDep,
    response: Response,
) -> UnavailabilityRead:
    """The expert themself or PD/admin; 409 if it overlaps a live booking."""
    added = await service.add_unavailability(session=session, by=who, expert_id=expert_id, body=body)
    return respond(response, added)


@router.post(
    "/experts/{expert_id}/availability/confirm",
    tags=["calendar"],
    summary="Confirm the calendar is up to date",
    responses=problem_responses(404),
)
async def confirm_availability(
    expert_id: uuid.UUID, who: ProfileWriter, session: SessionDep
) -> AvailabilityConfirmed:
    """The expert themself or PD/admin: "my availability is up to date". Records the time (also
    set by any change of unavailability), which stale-availability reminders start from."""
    return await service.confirm_availability(session=session, by=who, expert_id=expert_id)


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
    summary="Hold an expert's dates for a match",
    responses={
        200: {"model": BookingRead, "description": "This match already holds these dates (replay)"},
        **problem_responses(400, 404, 409, 413),
    },
)
async def hold_booking(
    expert_id: uuid.UUID,
    body: BookingCreate,
    who: Booker,
    sessions: SessionmakerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BookingRead:
    """The matching service (`roster:write`) or PD/admin. 409 names the clashing booking or
    unavailability; the database refuses overlaps even under concurrent requests."""
    held = await service.hold(
        sessions=sessions, by=who, expert_id=expert_id, body=body, idempotency_key=idempotency_key
    )
    return respond(response, held, location=f"/v1/bookings/{held.item.id}")


@router.get("/bookings", tags=["bookings"], summary="Find the booking of a match")
async def find_bookings(
    match_id: Annotated[uuid.UUID, Query(description="The match the booking was placed for.")],
    _: BookingReader,
    session: ReadSessionDep,
) -> Page[BookingRead]:
    """PD, admin and `roster:read` services: one page, `{"items": [...], "next_cursor": null}`,
    with no items when the match holds nothing."""
    return await service.bookings_for_match(session=session, match_id=match_id)


@router.get(
    "/bookings/{booking_id}", tags=["bookings"], summary="One booking", responses=problem_responses(404)
)
async def get_booking(booking_id: uuid.UUID, _: BookingReader, session: ReadSessionDep) -> BookingRead:
    """PD, admin and `roster:read` services."""
    return await service.get_booking(session=session, booking_id=booking_id)


@router.post(
    "/bookings/{booking_id}/confirm",
    tags=["bookings"],
    summary="Confirm a hold",
    responses=problem_responses(404, 409),
)
async def confirm_booking(
    booking_id: uuid.UUID, who: Booker, session: SessionDep, response: Response
) -> BookingRead:
    """`hold → confirmed` (repeatable); a released booking is 409."""
    return respond(response, await service.confirm(session=session, by=who, booking_id=booking_id))


@router.post(
    "/bookings/{booking_id}/release",
    tags=["bookings"],
    summary="Release a booking",
    responses=problem_responses(404),
)
async def release_booking(
    booking_id: uuid.UUID, who: Booker, session: SessionDep, response: Response
) -> BookingRead:
    """`hold | confirmed → released` (repeatable); the dates are free again."""
    return respond(response, await service.release(session=session, by=who, booking_id=booking_id))
