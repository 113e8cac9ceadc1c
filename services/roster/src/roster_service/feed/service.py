"""The change feed and the audit trail: recording every write of an expert, and reading both back.

Every write to an expert runs in one transaction that also appends the expert's change-feed
item and an audit entry (`record`), so the feed never misses a change nor shows one that was
rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from mnr_shared.auth import Principal, Role
from mnr_shared.db import lock_feed
from mnr_shared.pagination import Page, decode_cursor, encode_cursor, invalid_cursor
from roster_service.errors import Forbidden
from roster_service.models import AuditEntry, Change
from roster_service.profiles import (
    PRIVILEGED_ROLES,
    Bundle,
    calendar_rows,
    find_bundle,
    is_self,
    regions,
    view,
)
from roster_service.schemas import AuditRead, ChangeItem, ChangesPage

# --- recording --------------------------------------------------------------------------------


def actor_role(principal: Principal) -> str:
    """The role an audit entry names for the caller (a client is `service:<client_id>`)."""
    if principal.is_service:
        return f"service:{principal.client_id}"
    for role in (Role.ADMIN, Role.PROGRAMME_DIVISION, Role.EXPERT, Role.COUNTRY_OFFICE):
        if principal.has_role(role.value):
            return role.value
    return "unknown"


async def projection(session: AsyncSession, bundle: Bundle) -> dict[str, Any]:
    """What matching needs of an expert (DESIGN §5 feed), calendar included."""
    e = bundle.expert
    periods, bookings = await calendar_rows(session, e.id)
    return {
        "id": str(e.id),
        "full_name": e.full_name,
        "status": e.status.value,
        "modality": e.modality.value,
        "nationalities": list(e.nationalities),
        "residence_country": e.residence_country,
        "country_experience": [c.iso3 for c in bundle.countries],
        "regions": regions(bundle),
        "capabilities": [{"capability": c.capability, "level": c.level} for c in bundle.capabilities],
        "languages": [{"tag": lang.tag, "level": lang.level} for lang in bundle.languages],
        "years_experience": e.years_experience,
        "unavailability": [
            {"start": p.start_date.isoformat(), "end": p.end_date.isoformat()} for p in periods
        ],
        "bookings": [
            {
                "id": str(b.id),
                "start": b.start_date.isoformat(),
                "end": b.end_date.isoformat(),
                "status": b.status.value,
                "request_id": str(b.request_id),
            }
            for b in bookings
        ],
        "version": e.version,
        "updated_at": e.updated_at.isoformat(),
    }


@dataclass(frozen=True)
class Entry:
    """One change to record: the expert as written, what was done, and which fields it touched."""

    bundle: Bundle
    action: str
    fields: Sequence[str] = ()
    reason: str | None = None
    deleted: bool = False


async def record(
    session: AsyncSession,
    *,
    bundle: Bundle,
    by: Principal,
    action: str,
    fields: Sequence[str] = (),
    reason: str | None = None,
    deleted: bool = False,
) -> None:
    """Append the feed item and the audit entry for a change, inside the caller's transaction."""
    await record_all(
        session,
        by=by,
        entries=[Entry(bundle=bundle, action=action, fields=fields, reason=reason, deleted=deleted)],
    )


async def record_all(session: AsyncSession, *, by: Principal, entries: Sequence[Entry]) -> None:
    """`record` for many experts at once (a spreadsheet import): a feed item and an audit entry
    each, inside the caller's transaction. The feed lock is taken after the experts are written,
    so after their row locks, in the order every writer takes them."""
    await session.flush()
    items = [None if entry.deleted else await projection(session, entry.bundle) for entry in entries]
    await lock_feed(session)
    session.add_all(
        [
            Change(
                expert_id=entry.bundle.expert.id, kind="delete" if entry.deleted else "upsert", expert=item
            )
            for entry, item in zip(entries, items, strict=True)
        ]
    )
    session.add_all(
        [
            AuditEntry(
                expert_id=entry.bundle.expert.id,
                actor_sub=by.sub,
                actor_role=actor_role(by),
                action=entry.action,
                changed_fields=sorted(entry.fields),
                reason=entry.reason,
            )
            for entry in entries
        ]
    )
    await session.flush()


# --- reading ----------------------------------------------------------------------------------


async def changes(*, session: AsyncSession, after: int, limit: int) -> ChangesPage:
    """Feed items with seq > after, in seq order; `next_after` resumes after the last one."""
    rows = (
        await session.scalars(
            select(Change).where(col(Change.seq) > after).order_by(col(Change.seq)).limit(limit)
        )
    ).all()
    items = [ChangeItem(seq=r.seq or 0, expert_id=r.expert_id, kind=r.kind, expert=r.expert) for r in rows]
    return ChangesPage(items=items, next_after=items[-1].seq if items else after)


async def history(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[AuditRead]:
    """The audit trail of one expert, oldest first (PD, admin, the expert themself)."""
    bundle = await find_bundle(session, expert_id)
    if not (by.has_role(*PRIVILEGED_ROLES) or is_self(by, bundle.expert)):
        view(by, bundle)
        raise Forbidden("You may not read this expert's history.")
    query = select(AuditEntry).where(col(AuditEntry.expert_id) == expert_id)
    if cursor is not None:
        (last,) = decode_cursor(cursor, arity=1)
        if not isinstance(last, int):
            raise invalid_cursor()
        query = query.where(col(AuditEntry.id) > last)
    rows = list((await session.scalars(query.order_by(col(AuditEntry.id)).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AuditRead(
            id=r.id or 0,
            at=r.at,
            actor_sub=r.actor_sub,
            actor_role=r.actor_role,
            action=r.action,
            changed_fields=list(r.changed_fields),
            reason=r.reason,
        )
        for r in rows
    ]
    return Page[AuditRead](items=items, next_cursor=encode_cursor(items[-1].id) if more and items else None)
