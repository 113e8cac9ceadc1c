"""The match records: every query on matches and their saga steps (used by the saga and the service).

Each function works in the session it is given and commits its own writes, so a caller that
opens one session per call never holds a transaction across an upstream call. Every write bumps
the match's `version` and `updated_at`; a write that moves a match to another status also writes
that move's domain event (`EVENT_TYPES`) in the same transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, delete, or_, select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from matching_service.db import idempotency_keys
from matching_service.errors import Conflict, NotFound
from matching_service.models import LIVE_STATUSES, Match, MatchStatus, OutboxEvent, Step
from mnr_shared.auth import Principal, Role
from mnr_shared.db import utcnow
from mnr_shared.events import SYSTEM, Event, emit
from mnr_shared.pagination import keyset_page


def _touch(match: Match) -> None:
    match.updated_at = utcnow()
    match.version += 1


async def add(*, session: AsyncSession, match: Match) -> Match:
    """Record a new match; Conflict when its request already has a live one (the unique index)."""
    session.add(match)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise Conflict("This request already has a live match.", slug="request-already-matched") from exc
    return match


async def find(*, session: AsyncSession, match_id: uuid.UUID) -> Match | None:
    """One match, or None."""
    return await session.get(Match, match_id)


async def load(*, session: AsyncSession, match_id: uuid.UUID) -> Match:
    """One match; NotFound if there is none."""
    match = await session.get(Match, match_id)
    if match is None:
        raise NotFound("No such match.")
    return match


# The domain event of a match's move to each status. A match is recorded `pending` at approval
# and leaves it within its own saga, so that status has none.
EVENT_TYPES = {
    MatchStatus.OFFERED: "match.offered",
    MatchStatus.ACCEPTED: "match.accepted",
    MatchStatus.DECLINED: "match.declined",
    MatchStatus.CANCELLED: "match.cancelled",
    MatchStatus.EXPIRED: "match.expired",
    MatchStatus.FAILED: "match.failed",
}
# Answers only the expert named in the match gives (their `sub` is the event's actor).
EXPERT_ANSWERS = (EVENT_TYPES[MatchStatus.ACCEPTED], EVENT_TYPES[MatchStatus.DECLINED])
ERASED_ACTOR = "erased-expert"


def expires_at(match: Match, *, offer_ttl: timedelta) -> datetime | None:
    """When an open offer lapses (`offer_ttl` after it was made); None for any other match."""
    if match.offered_at is None or match.status != MatchStatus.OFFERED:
        return None
    return match.offered_at + offer_ttl


def event_of(match: Match, *, offer_ttl: timedelta) -> Event:
    """The outbox event of a match's move to its current status: ids and non-personal fields
    only (never the expert's name, the note or a reason)."""
    data: dict[str, Any] = {
        "request_id": str(match.request_id),
        "expert_id": str(match.expert_id),
        "status": match.status.value,
        "start": match.start_date.isoformat(),
        "end": match.end_date.isoformat(),
        "policy_version": match.policy_version,
    }
    expires = expires_at(match, offer_ttl=offer_ttl)
    if expires is not None:
        data["expires_at"] = expires.isoformat()
    return EVENT_TYPES[match.status], match.id, data


async def update(
    *,
    session: AsyncSession,
    match_id: uuid.UUID,
    changes: Mapping[str, Any],
    by: Principal | str,
    offer_ttl: timedelta,
) -> Match:
    """Set fields of an existing match (its row locked meanwhile) and commit; returns it as saved.
    When `changes` move it to another status, that move's event (caused `by`) commits with it."""
    current = await session.get(Match, match_id, with_for_update=True)
    assert current is not None
    was = current.status
    for name, value in changes.items():
        setattr(current, name, value)
    _touch(current)
    if current.status != was and current.status in EVENT_TYPES:
        await session.flush()  # the match row first, then the feed lock: the order every writer takes
        event_type, subject, data = event_of(current, offer_ttl=offer_ttl)
        await emit(session, OutboxEvent, event_type, subject=subject, by=by, data=data)
    await session.commit()
    return current


def _visible(match: Match | None, *, by: Principal, expert_only: bool) -> Match:
    """The match if the caller may answer it (the expert named, by role) or cancel it (PD);
    NotFound otherwise: another expert's offer is not theirs to see."""
    if match is None or (
        expert_only and (not by.has_role(Role.EXPERT.value) or by.expert_id != match.expert_id)
    ):
        raise NotFound("No such match.")
    return match


async def load_visible(
    *, session: AsyncSession, match_id: uuid.UUID, by: Principal, expert_only: bool
) -> Match:
    """One match the caller may answer or cancel; NotFound otherwise."""
    return _visible(await session.get(Match, match_id), by=by, expert_only=expert_only)


def is_open_offer(match: Match) -> bool:
    """An offer waiting for its answer, with no step under way."""
    return match.status == MatchStatus.OFFERED and match.step is None


async def begin_answer(
    *,
    session: AsyncSession,
    match_id: uuid.UUID,
    by: Principal,
    expert_only: bool,
    step: Step,
    target: MatchStatus,
    reason: str | None,
) -> None:
    """Start the step that answers or cancels an open offer (accept, decline, cancel).

    NotFound when there is no such match or, with `expert_only`, it names another expert;
    Conflict unless the match is an offer with no step under way.
    """
    match = _visible(await session.get(Match, match_id, with_for_update=True), by=by, expert_only=expert_only)
    if not is_open_offer(match):
        raise Conflict(
            f"This match is {match.status.value}"
            f"{' with a step under way' if match.step else ''}; only an open offer can "
            "be answered or cancelled.",
            slug="match-not-open",
            extra={"match_status": match.status.value},
        )
    match.step, match.target_status, match.reason = step, target, reason
    match.answered_at = utcnow()
    _touch(match)
    await session.commit()


async def open_offers(*, session: AsyncSession) -> Sequence[Match]:
    """Offers waiting for the expert's answer (no step under way)."""
    return (
        await session.scalars(
            select(Match).where(col(Match.status) == MatchStatus.OFFERED, col(Match.step).is_(None))
        )
    ).all()


async def cancel_open_offer(
    *,
    session: AsyncSession,
    match_id: uuid.UUID,
    reason: str,
    target: MatchStatus = MatchStatus.CANCELLED,
) -> bool:
    """Start releasing an offer that is still open (its row locked) towards `target`; False if
    it no longer is."""
    current = await session.get(Match, match_id, with_for_update=True)
    if current is None or current.status != MatchStatus.OFFERED or current.step is not None:
        return False
    current.step, current.target_status = Step.RELEASE, target
    current.reason = reason
    _touch(current)
    await session.commit()
    return True


async def expire_offers(*, session: AsyncSession, offered_before: datetime) -> int:
    """Start releasing every open offer made before `offered_before`; returns how many."""
    stale = (
        await session.scalars(
            select(Match).where(
                col(Match.status) == MatchStatus.OFFERED,
                col(Match.step).is_(None),
                col(Match.offered_at) < offered_before,
            )
        )
    ).all()
    for match in stale:
        match.step, match.target_status = Step.RELEASE, MatchStatus.EXPIRED
        match.reason = "The offer was not answered in time."
        _touch(match)
    await session.commit()
    return len(stale)


async def due(*, session: AsyncSession, now: datetime) -> Sequence[uuid.UUID]:
    """Ids of the matches with a step under way whose next attempt is due at `now`."""
    return (
        await session.scalars(
            select(col(Match.id)).where(
                col(Match.step).is_not(None),
                or_(col(Match.next_attempt_at).is_(None), col(Match.next_attempt_at) <= now),
            )
        )
    ).all()


async def at_rest_to_check(*, session: AsyncSession, settled_since: datetime) -> Sequence[Match]:
    """Matches with no step under way that the reconciler compares with roster: every open
    offer, and every match that came to rest since `settled_since`."""
    return (
        await session.scalars(
            select(Match).where(
                col(Match.step).is_(None),
                or_(col(Match.status) == MatchStatus.OFFERED, col(Match.updated_at) >= settled_since),
            )
        )
    ).all()


async def live_by_request(
    *, session: AsyncSession, request_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Match]:
    """The live match (pending, offered or accepted) of each of these requests that has one."""
    if not request_ids:
        return {}
    rows = (
        await session.scalars(
            select(Match).where(
                col(Match.request_id).in_(list(request_ids)), col(Match.status).in_(LIVE_STATUSES)
            )
        )
    ).all()
    return {row.request_id: row for row in rows}


async def stuck(*, session: AsyncSession, min_attempts: int) -> Sequence[Match]:
    """Matches whose step has failed at least `min_attempts` times in a row."""
    return (
        await session.scalars(
            select(Match).where(col(Match.step).is_not(None), col(Match.attempts) >= min_attempts)
        )
    ).all()


async def page(
    *,
    session: AsyncSession,
    request_id: uuid.UUID | None,
    expert_id: uuid.UUID | None,
    status: Sequence[MatchStatus],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Match], str | None]:
    """One page of matches, newest first, filtered by request, expert and status when given."""
    query = select(Match)
    if request_id is not None:
        query = query.where(col(Match.request_id) == request_id)
    if expert_id is not None:
        query = query.where(col(Match.expert_id) == expert_id)
    if status:
        query = query.where(col(Match.status).in_(status))
    return await keyset_page(
        session,
        query,
        created=col(Match.created_at),
        ident=col(Match.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


# --- erasure ----------------------------------------------------------------------------------

ERASED = "[erased]"


def _redact(text: str | None, names: set[str]) -> str | None:
    for name in names:
        if text:
            text = re.sub(re.escape(name), ERASED, text, flags=re.IGNORECASE)
    return text


async def erase_expert_names(*, session: AsyncSession, expert_ids: Sequence[uuid.UUID]) -> int:
    """Forget the names of erased experts (the roster feed's `delete`) in their matches — the
    `expert_name`, the breakdown's `full_name`, the name wherever a note or reason quotes it —
    and drop the approval replies kept for `Idempotency-Key` repeats that show them; the answers
    the experts gave no longer name them as actor. Commits.
    Returns how many matches changed: 0 when already done, so a replayed feed repeats it safely."""
    if not expert_ids:
        return 0
    rows = (await session.scalars(select(Match).where(col(Match.expert_id).in_(list(expert_ids))))).all()
    changed = 0
    for match in rows:
        named = (match.expert_name, match.breakdown.get("full_name"))
        if named == (None, None):
            continue
        names = {name for name in named if isinstance(name, str) and name}
        match.expert_name = None
        match.breakdown = {**match.breakdown, "full_name": None}  # a new dict: JSON tracks assignment
        match.note = _redact(match.note, names)
        match.reason = _redact(match.reason, names)
        _touch(match)
        changed += 1
    if rows:
        experts = {str(m.expert_id) for m in rows}
        mentioned = or_(*(cast(idempotency_keys.c.response_body, String).contains(e) for e in experts))
        await session.execute(
            delete(idempotency_keys).where(idempotency_keys.c.scope.startswith("approve-match:"), mentioned)
        )
        # Events hold no personal data, but an answer the expert gave names their `sub` as actor.
        await session.execute(
            sa_update(OutboxEvent)
            .where(
                col(OutboxEvent.subject).in_([str(m.id) for m in rows]),
                col(OutboxEvent.type).in_(EXPERT_ANSWERS),
                col(OutboxEvent.actor).not_in((SYSTEM, ERASED_ACTOR)),
            )
            .values(actor=ERASED_ACTOR)
        )
    await session.commit()
    return changed
