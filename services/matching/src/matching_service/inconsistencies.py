"""The reconciler's findings: every query on the inconsistencies table (used by the reconciler
and the admin listing).

An open finding is one row while it lasts: seen again, its `last_seen_at` moves; repaired, it
becomes `repaired`; no longer seen on a complete pass, `resolved`. Each function commits its own
writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from matching_service.models import Inconsistency, InconsistencyKind, InconsistencyStatus
from mnr_shared.pagination import keyset_page


@dataclass(frozen=True)
class Finding:
    """One thing out of step; `repair` says what the reconciler did about it (None: reported)."""

    kind: InconsistencyKind
    subject: uuid.UUID
    detail: str
    match_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    expert_id: uuid.UUID | None = None
    repair: str | None = None


async def _open_row(session: AsyncSession, finding: Finding) -> Inconsistency | None:
    return (
        await session.scalars(
            select(Inconsistency)
            .where(
                col(Inconsistency.kind) == finding.kind,
                col(Inconsistency.subject) == str(finding.subject),
                col(Inconsistency.status) == InconsistencyStatus.OPEN,
            )
            .with_for_update()
        )
    ).first()


async def record(*, session: AsyncSession, finding: Finding, now: datetime) -> bool:
    """Record a finding; True when it is news (a new open finding, or a repair), False when an
    open finding was only seen again (or another replica recorded it first)."""
    row = await _open_row(session, finding)
    detail = finding.detail[:500]
    if row is not None:
        row.last_seen_at, row.detail = now, detail
        if finding.repair is not None:
            row.status, row.repair, row.resolved_at = InconsistencyStatus.REPAIRED, finding.repair[:200], now
        await session.commit()
        return finding.repair is not None
    repaired = finding.repair is not None
    session.add(
        Inconsistency(
            kind=finding.kind,
            status=InconsistencyStatus.REPAIRED if repaired else InconsistencyStatus.OPEN,
            subject=str(finding.subject),
            match_id=finding.match_id,
            request_id=finding.request_id,
            booking_id=finding.booking_id,
            expert_id=finding.expert_id,
            detail=detail,
            repair=finding.repair[:200] if finding.repair else None,
            created_at=now,
            last_seen_at=now,
            resolved_at=now if repaired else None,
        )
    )
    try:
        await session.commit()
    except IntegrityError:  # another replica recorded the same open finding meanwhile
        await session.rollback()
        return False
    return True


async def resolve_unseen(*, session: AsyncSession, seen_before: datetime, now: datetime) -> int:
    """Mark `resolved` every open finding not seen since `seen_before`; returns how many."""
    rows = (
        await session.scalars(
            select(Inconsistency).where(
                col(Inconsistency.status) == InconsistencyStatus.OPEN,
                col(Inconsistency.last_seen_at) < seen_before,
            )
        )
    ).all()
    for row in rows:
        row.status, row.resolved_at = InconsistencyStatus.RESOLVED, now
    await session.commit()
    return len(rows)


async def open_counts(*, session: AsyncSession) -> dict[InconsistencyKind, int]:
    """How many open findings of each kind (every kind present, zero included)."""
    rows = (
        await session.execute(
            select(col(Inconsistency.kind), func.count())
            .where(col(Inconsistency.status) == InconsistencyStatus.OPEN)
            .group_by(col(Inconsistency.kind))
        )
    ).all()
    counts = dict.fromkeys(InconsistencyKind, 0)
    counts.update({InconsistencyKind(kind): int(n) for kind, n in rows})
    return counts


async def page(
    *,
    session: AsyncSession,
    status: Collection[InconsistencyStatus],
    kind: Collection[InconsistencyKind],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Inconsistency], str | None]:
    """One page of findings, newest first, filtered by status and kind when given."""
    query = select(Inconsistency)
    if status:
        query = query.where(col(Inconsistency.status).in_(list(status)))
    if kind:
        query = query.where(col(Inconsistency.kind).in_(list(kind)))
    return await keyset_page(
        session,
        query,
        created=col(Inconsistency.created_at),
        ident=col(Inconsistency.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
