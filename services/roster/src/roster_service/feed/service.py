"""The change feed and the audit trail: recording every write of an expert, and reading both back.

Every write to an expert runs in one transaction that also appends the expert's change-feed
item and an audit entry (`record`), so the feed never misses a change nor shows one that was
rolled back. Erasing an expert rewrites their earlier feed items and audit entries so that
neither keeps anything personal (`forget`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Text, cast, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from mnr_shared.auth import Principal, Role
from mnr_shared.db import lock_feed, utcnow
from mnr_shared.events import Event, emit_all
from mnr_shared.pagination import Page, after_key, decode_int_cursor, encode_cursor
from roster_service.errors import Forbidden
from roster_service.models import AuditEntry, Booking, Change, OutboxEvent
from roster_service.profiles import (
    PRIVILEGED_ROLES,
    Bundle,
    Calendar,
    VettingRules,
    calendars,
    find_bundle,
    is_self,
    regions,
    view,
)
from roster_service.schemas import AuditRead

# --- recording --------------------------------------------------------------------------------


def actor_role(principal: Principal) -> str:
    """The role an audit entry names for the caller (a client is `service:<client_id>`)."""
    if principal.is_service:
        return f"service:{principal.client_id}"
    for role in (Role.ADMIN, Role.PROGRAMME_DIVISION, Role.EXPERT, Role.COUNTRY_OFFICE):
        if principal.has_role(role.value):
            return role.value
    return "unknown"


# What an erased expert's earlier feed items keep of their projection: nothing that was theirs.
ERASED_PROJECTION: dict[str, Any] = {
    "full_name": None,
    "nationalities": [],
    "residence_country": None,
    "country_experience": [],
    "regions": [],
    "capabilities": [],
    "languages": [],
    "safeguarding_check_on": None,
    "unavailability": [],
    "erased": True,
}
# The stored projection keeps the safeguarding check's date, as its last key; the feed serves its
# expiry in its place (`changes`), so that what is stored is what is served up to its last key.
_STORED_ONLY = "safeguarding_check_on"


def _check_last(projection: dict[str, Any]) -> dict[str, Any]:
    """The projection with the safeguarding check's date moved to the end, where the feed splices
    the expiry in without decoding the rest."""
    rest = {name: value for name, value in projection.items() if name != _STORED_ONLY}
    return {**rest, _STORED_ONLY: projection.get(_STORED_ONLY)}


def projection(bundle: Bundle, calendar: Calendar = ([], [])) -> dict[str, Any]:
    """What matching needs of an expert (DESIGN §5 feed), their live calendar included, as stored:
    the safeguarding check's date last, which the feed serves as `vetting_valid_until` (`changes`)."""
    e = bundle.expert
    periods, bookings = calendar
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
        _STORED_ONLY: e.safeguarding_check_on.isoformat() if e.safeguarding_check_on else None,
    }


@dataclass(frozen=True)
class Entry:
    """One change to record: the expert as written, what was done, and which fields it touched;
    `booking` names the booking a `booking:*` action was about (its event's subject)."""

    bundle: Bundle
    action: str
    fields: Sequence[str] = ()
    reason: str | None = None
    deleted: bool = False
    booking: Booking | None = None


# The domain event of each audited action (`expert.status_changed` for every `status:*`).
EVENT_TYPES = {
    "create": "expert.created",
    "update": "expert.updated",
    "erase": "expert.erased",
    "status": "expert.status_changed",
    "unavailability:add": "availability.changed",
    "unavailability:remove": "availability.changed",
    "availability:confirm": "availability.confirmed",
    "booking:hold": "booking.held",
    "booking:confirm": "booking.confirmed",
    "booking:release": "booking.released",
}
ROSTER_EVENT_TYPES = tuple(dict.fromkeys(EVENT_TYPES.values()))


def event_of(entry: Entry) -> Event:
    """The outbox event of one recorded change: ids and non-personal fields only."""
    expert = entry.bundle.expert
    kind = "status" if entry.action.startswith("status:") else entry.action
    if entry.booking is not None:
        b = entry.booking
        data: dict[str, Any] = {
            "expert_id": str(expert.id),
            "request_id": str(b.request_id),
            "match_id": str(b.match_id) if b.match_id else None,
            "start": b.start_date.isoformat(),
            "end": b.end_date.isoformat(),
            "status": b.status.value,
        }
        return EVENT_TYPES[kind], b.id, data
    data = {"version": expert.version}
    if kind in ("create", "status"):
        data["status"] = expert.status.value
    if kind == "update":
        data["fields"] = sorted(entry.fields)
    if kind.startswith("unavailability:"):
        data["change"] = "added" if kind.endswith(":add") else "removed"
    if kind == "erase":
        data = {}
    return EVENT_TYPES[kind], expert.id, data


async def record(
    session: AsyncSession,
    *,
    bundle: Bundle,
    by: Principal,
    action: str,
    fields: Sequence[str] = (),
    reason: str | None = None,
    deleted: bool = False,
    booking: Booking | None = None,
) -> None:
    """Append the feed item, the audit entry and the domain event for a change, inside the
    caller's transaction."""
    entry = Entry(
        bundle=bundle, action=action, fields=fields, reason=reason, deleted=deleted, booking=booking
    )
    await record_all(session, by=by, entries=[entry])


async def record_all(session: AsyncSession, *, by: Principal, entries: Sequence[Entry]) -> None:
    """`record` for many experts at once (a spreadsheet import): a feed item, an audit entry and
    an event each, inside the caller's transaction. The feed lock is taken after the experts are written,
    so after their row locks, in the order every writer takes them."""
    await session.flush()
    # An erased expert only ever appears on the feed as a `delete`: a later write to their
    # tombstone (a booking released, say) never brings an anonymous expert back into an index.
    deleted = [entry.deleted or entry.bundle.expert.erased_at is not None for entry in entries]
    # Every calendar in two queries, and both tables written with one multi-row insert each: an
    # import of 1,000 rows costs a handful of statements here, not thousands (nor 2,000 ORM objects).
    live = await calendars(
        session, [entry.bundle.expert.id for entry, gone in zip(entries, deleted, strict=True) if not gone]
    )
    items = [
        None if gone else projection(entry.bundle, live.get(entry.bundle.expert.id, ([], [])))
        for entry, gone in zip(entries, deleted, strict=True)
    ]
    await lock_feed(session)
    now, role = utcnow(), actor_role(by)
    changes = [
        {
            "expert_id": entry.bundle.expert.id,
            "kind": "delete" if gone else "upsert",
            "expert": item,
            "created_at": now,
        }
        for entry, gone, item in zip(entries, deleted, items, strict=True)
    ]
    audit = [
        {
            "expert_id": entry.bundle.expert.id,
            "at": now,
            "actor_sub": by.sub,
            "actor_role": role,
            "action": entry.action,
            "changed_fields": sorted(entry.fields),
            "reason": entry.reason,
        }
        for entry in entries
    ]
    if entries:
        await session.execute(insert(Change), changes)
        await session.execute(insert(AuditEntry), audit)
        await emit_all(session, OutboxEvent, [event_of(entry) for entry in entries], by=by)


async def forget(session: AsyncSession, *, expert_id: uuid.UUID, own_subs: Sequence[str]) -> None:
    """Rewrite an erased expert's history inside the caller's transaction: every earlier feed item
    loses the personal part of its projection (`ERASED_PROJECTION`), and every audit entry its
    free-text reason and, where the expert acted themself (`own_subs`, or role `expert`), who;
    the events the expert caused no longer name them as actor."""
    rows = (
        await session.scalars(
            select(Change).where(col(Change.expert_id) == expert_id, col(Change.kind) == "upsert")
        )
    ).all()
    for row in rows:
        if row.expert is not None:
            # A new dict (JSON columns track assignment), the check's date still last.
            row.expert = _check_last({**row.expert, **ERASED_PROJECTION})
    await session.execute(
        update(AuditEntry).where(col(AuditEntry.expert_id) == expert_id).values(reason=None)
    )
    expert_acted = or_(
        col(AuditEntry.actor_role) == Role.EXPERT.value, col(AuditEntry.actor_sub).in_(list(own_subs))
    )
    await session.execute(
        update(AuditEntry)
        .where(col(AuditEntry.expert_id) == expert_id, expert_acted)
        .values(actor_sub="erased-expert")
    )
    # Events hold no personal data, but one the expert caused names their `sub` as its actor.
    if own_subs:
        await session.execute(
            update(OutboxEvent)
            .where(col(OutboxEvent.actor).in_(list(own_subs)))
            .values(actor="erased-expert")
        )


# --- reading ----------------------------------------------------------------------------------


def served(stored: dict[str, Any] | None, rules: VettingRules) -> dict[str, Any] | None:
    """A stored projection as the feed serves it: the safeguarding check's date replaced by the
    last day it is valid (`vetting_valid_until`, null without a valid check on record)."""
    if stored is None:
        return None
    item = {name: value for name, value in stored.items() if name != _STORED_ONLY}
    checked = stored.get(_STORED_ONLY)
    until = rules.valid_until(date.fromisoformat(checked)) if isinstance(checked, str) else None
    item["vetting_valid_until"] = until.isoformat() if until else None
    return item


# The stored text's last member, `"safeguarding_check_on": null` or `…: "YYYY-MM-DD"`, and the
# object's closing brace; the separator before it is checked apart. A raw `"` in JSON text is
# always a string's delimiter, so this cannot match inside a string value, and a nested object's
# member would leave a second brace after it.
_CHECK_KEY = f'"{_STORED_ONLY}"'
_CHECK_VALUE = re.compile(r'\s*:\s*(?:null|"(\d{4}-\d{2}-\d{2})")\s*\}\s*')
_TAIL_WINDOW = 96  # more than the longest such tail in any spacing json.dumps writes


class _FeedWriter:
    """Writes stored projection text as the feed serves it, splicing `vetting_valid_until` in for
    the stored check date without decoding the projection (one expiry computed per distinct date)."""

    def __init__(self, rules: VettingRules) -> None:
        self.rules = rules
        self.expiry: dict[str | None, bytes] = {None: b"null"}

    def _until(self, checked: str | None) -> bytes:
        found = self.expiry.get(checked)
        if found is None:
            until = self.rules.valid_until(date.fromisoformat(checked)) if checked else None
            found = self.expiry[checked] = orjson.dumps(until.isoformat() if until else None)
        return found

    def projection(self, stored: str | None) -> bytes:
        if stored is None or stored == "null":
            return b"null"
        cut = stored.rfind(_CHECK_KEY, max(0, len(stored) - _TAIL_WINDOW))
        tail = _CHECK_VALUE.fullmatch(stored, cut + len(_CHECK_KEY)) if cut > 0 else None
        comma = cut - 1
        while comma > 0 and stored[comma] in " \t\r\n":
            comma -= 1
        if tail is None or stored[comma] != ",":
            return self._decoded(stored)  # stored before the check's date was kept last
        until = self._until(tail.group(1))
        return b"".join((stored[: comma + 1].encode(), b'"vetting_valid_until":', until, b"}"))

    def _decoded(self, stored: str) -> bytes:
        """The slow path for a projection whose check date is not its last key."""
        loaded = orjson.loads(stored)
        return orjson.dumps(served(loaded if isinstance(loaded, dict) else None, self.rules))


async def changes(*, session: AsyncSession, after: int, limit: int, rules: VettingRules) -> bytes:
    """Feed items with seq > after, in seq order, as the JSON of a `ChangesPage`; `next_after`
    resumes after the last one. Each projection carries `vetting_valid_until` under the current
    vetting rules. The stored projections are served as stored text, never decoded (but for
    items stored before the check's date was kept last)."""
    rows = (
        await session.execute(
            select(col(Change.seq), col(Change.expert_id), col(Change.kind), cast(col(Change.expert), Text))
            .where(after_key(col(Change.seq), after))
            .order_by(col(Change.seq))
            .limit(limit)
        )
    ).all()
    writer = _FeedWriter(rules)
    items = [
        b"".join(
            (
                b'{"seq":%d,"expert_id":"%s","kind":' % (seq or 0, str(expert_id).encode()),
                orjson.dumps(kind),
                b',"expert":',
                writer.projection(stored),
                b"}",
            )
        )
        for seq, expert_id, kind, stored in rows
    ]
    next_after = (rows[-1][0] or 0) if rows else after
    return b"".join((b'{"items":[', b",".join(items), b'],"next_after":%d}' % next_after))


async def history(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[AuditRead]:
    """The audit trail of one expert, oldest first (PD, admin, the expert themself); an erased
    expert's anonymous trail stays readable by PD and admin."""
    bundle = await find_bundle(session, expert_id, erased=by.has_role(*PRIVILEGED_ROLES))
    if not (by.has_role(*PRIVILEGED_ROLES) or is_self(by, bundle.expert)):
        view(by, bundle)
        raise Forbidden("You may not read this expert's history.")
    query = select(AuditEntry).where(col(AuditEntry.expert_id) == expert_id)
    if cursor is not None:
        query = query.where(after_key(col(AuditEntry.id), decode_int_cursor(cursor)))
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
