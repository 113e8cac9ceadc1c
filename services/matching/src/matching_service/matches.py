"""The match records: every query on matches and their saga steps (used by the saga and the service).

Each function works in the session it is given and commits its own writes, so a caller that
opens one session per call never holds a transaction across an upstream call. Every write bumps
the match's `version` and `updated_at`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from matching_service.errors import Conflict, NotFound
from matching_service.models import Match, MatchStatus, Step
from mnr_shared.auth import Principal
from mnr_shared.db import utcnow
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


async def update(*, session: AsyncSession, match_id: uuid.UUID, changes: Mapping[str, Any]) -> Match:
    """Set fields of an existing match (its row locked meanwhile) and commit; returns it as saved."""
    current = await session.get(Match, match_id, with_for_update=True)
    assert current is not None
    for name, value in changes.items():
        setattr(current, name, value)
    _touch(current)
    await session.commit()
    return current


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
    match = await session.get(Match, match_id, with_for_update=True)
    if match is None:
        raise NotFound("No such match.")
    if expert_only and by.expert_id != match.expert_id:
        raise NotFound("No such match.")  # another expert's offer is not theirs to see
    if match.status != MatchStatus.OFFERED or match.step is not None:
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


async def cancel_open_offer(*, session: AsyncSession, match_id: uuid.UUID, reason: str) -> bool:
    """Start releasing an offer that is still open (its row locked); False if it no longer is."""
    current = await session.get(Match, match_id, with_for_update=True)
    if current is None or current.status != MatchStatus.OFFERED or current.step is not None:
        return False
    current.step, current.target_status = Step.RELEASE, MatchStatus.CANCELLED
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
