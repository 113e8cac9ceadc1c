"""The calendar: an expert's unavailability and bookings, and placing, confirming, releasing and
finding bookings.

Two live bookings of one expert never overlap: checked here for a helpful 409, and enforced by
the database (an exclusion constraint on PostgreSQL, serialised transactions on SQLite).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from mnr_shared.api import Result
from mnr_shared.auth import Principal
from mnr_shared.bounds import clamp_date
from mnr_shared.db import utcnow
from mnr_shared.pagination import Page
from roster_service.db import idempotency
from roster_service.errors import Conflict, Forbidden, NotFound
from roster_service.feed.service import record
from roster_service.models import ActiveBookingStatuses, Booking, BookingStatus, ExpertStatus, Unavailability
from roster_service.profiles import (
    PRIVILEGED_ROLES,
    READ_SCOPE,
    Bundle,
    calendar_rows,
    find_bundle,
    is_self,
    touch,
    view,
)
from roster_service.schemas import (
    AvailabilityConfirmed,
    BookingCreate,
    BookingRead,
    CalendarRead,
    UnavailabilityCreate,
    UnavailabilityRead,
)

# --- read models and checks -------------------------------------------------------------------


def _period(row: Unavailability) -> UnavailabilityRead:
    return UnavailabilityRead(id=row.id, start=row.start_date, end=row.end_date, reason=row.reason)


def _booking(row: Booking) -> BookingRead:
    return BookingRead(
        id=row.id,
        expert_id=row.expert_id,
        start=row.start_date,
        end=row.end_date,
        status=row.status,
        request_id=row.request_id,
        match_id=row.match_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _require_calendar_access(by: Principal, bundle: Bundle, *, write: bool) -> None:
    if by.has_role(*PRIVILEGED_ROLES) or is_self(by, bundle.expert):
        return
    if not write and by.is_service and by.has_scopes(READ_SCOPE):
        return
    view(by, bundle)  # 404 for those who may not see the expert at all
    raise Forbidden("You may not see or change this expert's calendar.")


async def _overlapping_booking(
    session: AsyncSession, expert_id: uuid.UUID, start: date, end: date
) -> Booking | None:
    return (
        await session.scalars(
            select(Booking)
            .where(
                col(Booking.expert_id) == expert_id,
                col(Booking.status).in_(ActiveBookingStatuses),
                col(Booking.start_date) <= end,
                col(Booking.end_date) >= start,
            )
            .order_by(col(Booking.start_date))
        )
    ).first()


def _conflict_with(kind: str, start: date, end: date, ident: uuid.UUID) -> Conflict:
    return Conflict(
        f"The expert already has {kind} from {start.isoformat()} to {end.isoformat()}.",
        slug="calendar-conflict",
        extra={
            "conflicting": {
                "kind": kind.split()[-1],
                "id": str(ident),
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
        },
    )


# --- calendar and unavailability --------------------------------------------------------------


async def calendar(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, start: date | None, end: date | None
) -> CalendarRead:
    """Unavailability and bookings (any status) overlapping [start, end]; a year from today by
    default, ending by 2200-12-31 (`start` and `end` are bounded dates)."""
    bundle = await find_bundle(session, expert_id)
    _require_calendar_access(by, bundle, write=False)
    start = start or utcnow().date()
    end = end or clamp_date(start + timedelta(days=365))
    periods, bookings = await calendar_rows(session, expert_id, start=start, end=end, live_only=False)
    return CalendarRead(
        expert_id=expert_id,
        start=start,
        end=end,
        unavailability=[_period(p) for p in periods],
        bookings=[_booking(b) for b in bookings],
        availability_confirmed_at=bundle.expert.availability_confirmed_at,
    )


async def confirm_availability(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID
) -> AvailabilityConfirmed:
    """Record that the expert's calendar is up to date (the expert themself or PD/admin),
    committed with its audit entry and `availability.confirmed` event."""
    bundle = await find_bundle(session, expert_id, lock=True)
    _require_calendar_access(by, bundle, write=True)
    bundle.expert.availability_confirmed_at = utcnow()
    touch(bundle.expert)
    await record(
        session, bundle=bundle, by=by, action="availability:confirm", fields=["availability_confirmed_at"]
    )
    await session.commit()
    confirmed = bundle.expert.availability_confirmed_at
    return AvailabilityConfirmed(expert_id=expert_id, availability_confirmed_at=confirmed)


async def add_unavailability(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, body: UnavailabilityCreate
) -> Result[UnavailabilityRead]:
    """Declare days the expert cannot work (201), committed with the feed item; refused (409)
    over a live booking."""
    bundle = await find_bundle(session, expert_id, lock=True)
    _require_calendar_access(by, bundle, write=True)
    clash = await _overlapping_booking(session, expert_id, body.start, body.end)
    if clash is not None:
        raise _conflict_with("a booking", clash.start_date, clash.end_date, clash.id)
    row = Unavailability(expert_id=expert_id, start_date=body.start, end_date=body.end, reason=body.reason)
    session.add(row)
    bundle.expert.availability_confirmed_at = utcnow()
    touch(bundle.expert)
    await record(session, bundle=bundle, by=by, action="unavailability:add", fields=["unavailability"])
    await session.commit()
    return Result(_period(row), status_code=201)


async def remove_unavailability(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, period_id: uuid.UUID
) -> None:
    """Withdraw a declared period (404 if it is not this expert's), committed with the feed item."""
    bundle = await find_bundle(session, expert_id, lock=True)
    _require_calendar_access(by, bundle, write=True)
    row = (
        await session.scalars(
            select(Unavailability).where(
                col(Unavailability.id) == period_id, col(Unavailability.expert_id) == expert_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such unavailability period for this expert.")
    await session.delete(row)
    bundle.expert.availability_confirmed_at = utcnow()
    touch(bundle.expert)
    await record(session, bundle=bundle, by=by, action="unavailability:remove", fields=["unavailability"])
    await session.commit()


# --- bookings ---------------------------------------------------------------------------------


async def hold(
    *,
    sessions: async_sessionmaker[AsyncSession],
    by: Principal,
    expert_id: uuid.UUID,
    body: BookingCreate,
    idempotency_key: str | None,
) -> Result[BookingRead]:
    """Place a hold on [start, end] and commit it: 201, or 200 with the same booking when this
    match already holds exactly these dates; 409 naming the clash with another booking. A
    repeated `Idempotency-Key` returns the first answer.

    Declared unavailability inside the window does not refuse the hold: the window is when the
    work may happen, and matching has already checked that its free working days cover the
    effort (DESIGN §6). Unavailability declared over a live booking is refused instead, since
    it could break that fit after the offer was made."""

    async def work(session: AsyncSession) -> Result[BookingRead]:
        return await _place_hold(session, by=by, expert_id=expert_id, body=body)

    return await idempotency.run(
        sessions,
        by=by,
        operation=f"hold:{expert_id}",
        key=idempotency_key,
        body=body,
        model=BookingRead,
        work=work,
    )


async def _place_hold(
    session: AsyncSession, *, by: Principal, expert_id: uuid.UUID, body: BookingCreate
) -> Result[BookingRead]:
    """The hold and its feed item, written but not committed.

    Overlap is checked here for a helpful answer, and enforced by the database: an exclusion
    constraint on PostgreSQL, the serialised (BEGIN IMMEDIATE) transaction on SQLite.
    """
    bundle = await find_bundle(session, expert_id, lock=True)
    existing = (await session.scalars(select(Booking).where(col(Booking.match_id) == body.match_id))).first()
    if existing is not None:
        same = (existing.expert_id, existing.start_date, existing.end_date, existing.request_id) == (
            expert_id,
            body.start,
            body.end,
            body.request_id,
        )
        if same:
            return Result(_booking(existing), status_code=200)
        raise Conflict(
            "This match already holds other dates.",
            slug="match-already-booked",
            extra={"booking_id": str(existing.id)},
        )
    if bundle.expert.status != ExpertStatus.ACTIVE:
        raise Conflict(f"The expert is {bundle.expert.status.value}, not active.", slug="expert-not-active")
    clash = await _overlapping_booking(session, expert_id, body.start, body.end)
    if clash is not None:
        raise _conflict_with("a booking", clash.start_date, clash.end_date, clash.id)
    row = Booking(
        expert_id=expert_id,
        start_date=body.start,
        end_date=body.end,
        status=BookingStatus.HOLD,
        request_id=body.request_id,
        match_id=body.match_id,
    )
    session.add(row)
    touch(bundle.expert)
    try:
        await record(session, bundle=bundle, by=by, action="booking:hold", fields=["bookings"], booking=row)
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "The expert was booked for overlapping dates at the same moment.", slug="calendar-conflict"
        ) from exc
    return Result(_booking(row), status_code=201)


async def _booking_for_update(session: AsyncSession, booking_id: uuid.UUID) -> tuple[Booking, Bundle]:
    row = (await session.scalars(select(Booking).where(col(Booking.id) == booking_id))).first()
    if row is None:
        raise NotFound("No such booking.")
    bundle = await find_bundle(session, row.expert_id, lock=True)
    await session.refresh(row)
    return row, bundle


async def get_booking(*, session: AsyncSession, booking_id: uuid.UUID) -> BookingRead:
    """One booking, in any status; 404 when there is none."""
    row = (await session.scalars(select(Booking).where(col(Booking.id) == booking_id))).first()
    if row is None:
        raise NotFound("No such booking.")
    return _booking(row)


async def bookings_for_match(*, session: AsyncSession, match_id: uuid.UUID) -> Page[BookingRead]:
    """The booking placed for a match, if any (how a saga finds a hold whose answer it lost):
    one page, never more."""
    rows = (await session.scalars(select(Booking).where(col(Booking.match_id) == match_id))).all()
    return Page[BookingRead](items=[_booking(row) for row in rows], next_cursor=None)


async def confirm(*, session: AsyncSession, by: Principal, booking_id: uuid.UUID) -> Result[BookingRead]:
    """hold → confirmed, committed with the feed item (repeating it is harmless); a released
    booking cannot be confirmed (409)."""
    row, bundle = await _booking_for_update(session, booking_id)
    if row.status == BookingStatus.CONFIRMED:
        return Result(_booking(row))
    if row.status == BookingStatus.RELEASED:
        raise Conflict(
            "A released booking cannot be confirmed.",
            slug="booking-released",
            extra={"status": row.status.value},
        )
    row.status = BookingStatus.CONFIRMED
    row.updated_at = utcnow()
    touch(bundle.expert)
    await record(session, bundle=bundle, by=by, action="booking:confirm", fields=["bookings"], booking=row)
    await session.commit()
    return Result(_booking(row))


async def release(*, session: AsyncSession, by: Principal, booking_id: uuid.UUID) -> Result[BookingRead]:
    """hold or confirmed → released, freeing the dates, committed with the feed item (repeating
    it is harmless)."""
    row, bundle = await _booking_for_update(session, booking_id)
    if row.status == BookingStatus.RELEASED:
        return Result(_booking(row))
    row.status = BookingStatus.RELEASED
    row.updated_at = utcnow()
    touch(bundle.expert)
    await record(session, bundle=bundle, by=by, action="booking:release", fields=["bookings"], booking=row)
    await session.commit()
    return Result(_booking(row))
