"""Experts as every domain loads and shows them: the `Bundle`, who may see what, the read models.

Service-layer code shared by the experts, calendar, feed and spreadsheets domains: loading an
expert with the rows that make up their profile, the scopes and roles that decide visibility,
the vetting gate, and the full, shared and public read models built from a bundle.

Who sees what: PD, admin, the expert themself and clients holding `roster:read` *and*
`roster:pii` see the whole profile (`ExpertRead`); a client with `roster:read` alone sees the
public profile plus what matching needs (`ExpertShared`); a country office sees the public
fields of active experts (`ExpertPublic`).
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import Integer, String, bindparam, cast, literal_column, null, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import col

from mnr_shared import reference
from mnr_shared.auth import Principal, Role
from mnr_shared.db import utcnow
from mnr_shared.etag import make_etag
from mnr_shared.fastread import Prepared, Reads
from roster_service.errors import NotFound
from roster_service.models import (
    ActiveBookingStatuses,
    Booking,
    Expert,
    ExpertCapability,
    ExpertCountry,
    ExpertLanguage,
    ExpertStatus,
    Unavailability,
)
from roster_service.schemas import (
    CapabilityLevel,
    DailyRate,
    ExpertPublic,
    ExpertRead,
    ExpertShared,
    LanguageLevel,
    Vetting,
)

M = TypeVar("M")
READ_SCOPE = "roster:read"
PII_SCOPE = "roster:pii"  # with `roster:read`: email, phone, daily rate, gender, vetting
WRITE_SCOPE = "roster:write"
PRIVILEGED_ROLES = (Role.PROGRAMME_DIVISION.value, Role.ADMIN.value)


# --- who may see what -------------------------------------------------------------------------


def is_privileged(principal: Principal) -> bool:
    """PD, admin, or a client with `roster:read` and `roster:pii`: may see personal data."""
    return principal.has_role(*PRIVILEGED_ROLES) or (
        principal.is_service and principal.has_scopes(READ_SCOPE, PII_SCOPE)
    )


def is_shared_reader(principal: Principal) -> bool:
    """A client with `roster:read` but not `roster:pii`: sees `ExpertShared`, in any status."""
    return principal.is_service and principal.has_scopes(READ_SCOPE) and not is_privileged(principal)


def is_self(principal: Principal, expert: Expert) -> bool:
    """The caller is this expert (by their `expert_id` claim, or the `sub` that registered them)."""
    if not principal.has_role(Role.EXPERT.value):
        return False
    return principal.expert_id == expert.id or (
        expert.owner_sub is not None and expert.owner_sub == principal.sub
    )


# --- loading ----------------------------------------------------------------------------------


@dataclass
class Bundle:
    """An expert with the rows that make up their profile."""

    expert: Expert
    capabilities: list[ExpertCapability] = field(default_factory=list)
    languages: list[ExpertLanguage] = field(default_factory=list)
    countries: list[ExpertCountry] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return make_etag(self.expert.id, self.expert.version)


async def load_bundles(session: AsyncSession, experts: Sequence[Expert]) -> list[Bundle]:
    """Profiles for a page of experts in three queries, whatever the page size."""
    ids = [e.id for e in experts]
    bundles = {e.id: Bundle(e) for e in experts}
    if not ids:
        return []
    for cap in (
        await session.scalars(
            select(ExpertCapability)
            .where(col(ExpertCapability.expert_id).in_(ids))
            .order_by(col(ExpertCapability.capability))
        )
    ).all():
        bundles[cap.expert_id].capabilities.append(cap)
    for lang in (
        await session.scalars(
            select(ExpertLanguage)
            .where(col(ExpertLanguage.expert_id).in_(ids))
            .order_by(col(ExpertLanguage.level_rank).desc(), col(ExpertLanguage.tag))
        )
    ).all():
        bundles[lang.expert_id].languages.append(lang)
    for country in (
        await session.scalars(
            select(ExpertCountry).where(col(ExpertCountry.expert_id).in_(ids)).order_by(ExpertCountry.iso3)
        )
    ).all():
        bundles[country.expert_id].countries.append(country)
    return [bundles[i] for i in ids]


async def find_bundle(
    session: AsyncSession, expert_id: uuid.UUID, *, lock: bool = False, erased: bool = False
) -> Bundle:
    """A live (not erased) expert or 404 — an erased one's tombstone too when `erased`; `lock`
    serialises writers of this expert on PostgreSQL."""
    query = select(Expert).where(col(Expert.id) == expert_id)
    if not erased:
        query = query.where(col(Expert.erased_at).is_(None))
    if lock:
        query = query.with_for_update()
    expert = (await session.scalars(query)).first()
    if expert is None:
        raise NotFound("No such expert.")
    return (await load_bundles(session, [expert]))[0]


# --- the lean read of one profile ---------------------------------------------------------------

_EXPERTS = Expert.__table__  # type: ignore[attr-defined]
_NO_INT = cast(null(), Integer)
_NO_TEXT = cast(null(), String)
# Every row of a profile in one union: (kind, number, number, text, text) per kind. Each branch
# names the expert itself, so each reads its own primary-key range (a join condition would not
# reach inside the union on SQLite, which would then read every child row of every expert).
_CAPABILITY, _LANGUAGE, _COUNTRY = 0, 1, 2
_ID: BindParameter[uuid.UUID] = bindparam("id")
_CHILDREN = union_all(
    select(
        literal_column(str(_CAPABILITY), Integer).label("kind"),
        col(ExpertCapability.capability).label("n1"),
        col(ExpertCapability.level).label("n2"),
        _NO_TEXT.label("t1"),
        _NO_TEXT.label("t2"),
    ).where(col(ExpertCapability.expert_id) == _ID),
    select(
        literal_column(str(_LANGUAGE), Integer),
        col(ExpertLanguage.level_rank),
        _NO_INT,
        col(ExpertLanguage.tag),
        col(ExpertLanguage.level),
    ).where(col(ExpertLanguage.expert_id) == _ID),
    select(
        literal_column(str(_COUNTRY), Integer),
        _NO_INT,
        _NO_INT,
        col(ExpertCountry.iso3),
        col(ExpertCountry.region),
    ).where(col(ExpertCountry.expert_id) == _ID),
).subquery("profile_rows")
# The expert's row once per profile row (or once, alone): one statement, so one snapshot.
_PROFILE = Prepared(
    select(
        *_EXPERTS.columns, _CHILDREN.c.kind, _CHILDREN.c.n1, _CHILDREN.c.n2, _CHILDREN.c.t1, _CHILDREN.c.t2
    )
    .select_from(_EXPERTS.outerjoin(_CHILDREN, true()))
    .where(_EXPERTS.c.id == _ID),
    shared=len(_EXPERTS.columns),
)
_EXPERT_FIELDS = [column.key for column in _EXPERTS.columns]
configure_mappers()  # `new_row` builds instances through the mappers: have them ready


def new_row(model: type[M], **values: Any) -> M:
    """An instance of a table model holding `values` (every column without a database default),
    outside any session: what the constructor or the ORM's loader makes, without pydantic's
    per-field default lookups and validation, which cost ~25x more. Only for values already
    typed and validated: rows read on the lean path, an import's rows."""
    instance: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    return instance


def new_expert(**values: Any) -> Expert:
    """`new_row` for an expert: the constructor's defaults (a new id, now, version 1) and `values`."""
    now = utcnow()
    defaults = dict.fromkeys(_EXPERT_FIELDS)
    defaults.update(id=uuid.uuid4(), nationalities=[], created_at=now, updated_at=now, version=1)
    return new_row(Expert, **{**defaults, **values})


async def read_bundle(reads: Reads, expert_id: uuid.UUID, *, erased: bool = False) -> Bundle:
    """`find_bundle` on the lean read path (one statement, no session): the same bundle, the same
    404s."""
    rows = await reads.all(_PROFILE, id=expert_id)
    if not rows:
        raise NotFound("No such expert.")
    width = len(_EXPERT_FIELDS)
    expert = new_row(Expert, **dict(zip(_EXPERT_FIELDS, rows[0][:width], strict=True)))
    if expert.erased_at is not None and not erased:
        raise NotFound("No such expert.")
    bundle = Bundle(expert)
    for kind, n1, n2, t1, t2 in (row[width:] for row in rows):
        if kind == _CAPABILITY:
            bundle.capabilities.append(
                new_row(ExpertCapability, expert_id=expert.id, capability=n1, level=n2)
            )
        elif kind == _LANGUAGE:
            bundle.languages.append(
                new_row(ExpertLanguage, expert_id=expert.id, tag=t1, level=t2, level_rank=n1)
            )
        elif kind == _COUNTRY:
            bundle.countries.append(new_row(ExpertCountry, expert_id=expert.id, iso3=t1, region=t2))
    # The orders `load_bundles` reads them in.
    bundle.capabilities.sort(key=lambda c: c.capability)
    bundle.languages.sort(key=lambda lang: (-lang.level_rank, lang.tag))
    bundle.countries.sort(key=lambda c: c.iso3)
    return bundle


async def calendar_rows(
    session: AsyncSession,
    expert_id: uuid.UUID,
    *,
    start: date | None = None,
    end: date | None = None,
    live_only: bool = True,
) -> tuple[list[Unavailability], list[Booking]]:
    """An expert's unavailability and bookings (live ones only, unless told), overlapping
    [start, end] when both are given, each in date order."""
    periods = select(Unavailability).where(col(Unavailability.expert_id) == expert_id)
    bookings = select(Booking).where(col(Booking.expert_id) == expert_id)
    if live_only:
        bookings = bookings.where(col(Booking.status).in_(ActiveBookingStatuses))
    if start is not None and end is not None:
        periods = periods.where(col(Unavailability.start_date) <= end, col(Unavailability.end_date) >= start)
        bookings = bookings.where(col(Booking.start_date) <= end, col(Booking.end_date) >= start)
    return (
        list((await session.scalars(periods.order_by(col(Unavailability.start_date)))).all()),
        list((await session.scalars(bookings.order_by(col(Booking.start_date)))).all()),
    )


Calendar = tuple[list[Unavailability], list[Booking]]
# Experts per IN (...) of `calendars` (well inside SQLite's and asyncpg's parameter limits).
_CALENDAR_BATCH = 500


async def calendars(session: AsyncSession, expert_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Calendar]:
    """The live calendars of many experts (`calendar_rows` for each, in date order) in two queries
    per 500 experts; an expert with nothing on their calendar is absent."""
    found: dict[uuid.UUID, Calendar] = {}
    for first in range(0, len(expert_ids), _CALENDAR_BATCH):
        ids = list(expert_ids[first : first + _CALENDAR_BATCH])
        periods = await session.scalars(
            select(Unavailability)
            .where(col(Unavailability.expert_id).in_(ids))
            .order_by(col(Unavailability.start_date))
        )
        for period in periods:
            found.setdefault(period.expert_id, ([], []))[0].append(period)
        bookings = await session.scalars(
            select(Booking)
            .where(col(Booking.expert_id).in_(ids), col(Booking.status).in_(ActiveBookingStatuses))
            .order_by(col(Booking.start_date))
        )
        for booking in bookings:
            found.setdefault(booking.expert_id, ([], []))[1].append(booking)
    return found


def touch(expert: Expert) -> None:
    """Mark a write of the expert: a new version (and so a new ETag) and `updated_at`."""
    expert.version += 1
    expert.updated_at = utcnow()


# --- the vetting gate -------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later (earlier when negative), the last of the month when shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class VettingRules:
    """The vetting gate (`ROSTER_VETTING_VALID_MONTHS`): an expert is `active` only with their
    references checked and a safeguarding check no older than `valid_months`; the check is
    valid up to and including `valid_until`."""

    valid_months: int = 24

    def valid_until(self, safeguarding_check_on: date | None) -> date | None:
        """The last day the safeguarding check is valid; None without a check."""
        if safeguarding_check_on is None:
            return None
        return add_months(safeguarding_check_on, self.valid_months)

    def problems(
        self, *, references_checked_on: date | None, safeguarding_check_on: date | None, on: date
    ) -> list[tuple[str, str]]:
        """(field, message) for each reason an expert with these checks may not be active on `on`;
        empty when they may. The one rule create, status changes, edits and imports apply."""
        found: list[tuple[str, str]] = []
        if references_checked_on is None:
            found.append(("references_checked_on", "an active expert needs their references checked"))
        until = self.valid_until(safeguarding_check_on)
        if until is None:
            found.append(("safeguarding_check_on", "an active expert needs a safeguarding check"))
        elif until < on:
            found.append(
                (
                    "safeguarding_check_on",
                    f"the safeguarding check is older than {self.valid_months} months "
                    f"(it was valid until {until.isoformat()})",
                )
            )
        return found

    def checks_due_before(self, day: date) -> date:
        """The earliest safeguarding check date still valid on `day`: checks made before it
        fall due before `day`."""
        earliest = add_months(day, -self.valid_months)
        one = timedelta(days=1)
        while add_months(earliest - one, self.valid_months) >= day:
            earliest -= one
        while add_months(earliest, self.valid_months) < day:
            earliest += one
        return earliest


def vetting_problems(expert: Expert, rules: VettingRules) -> list[tuple[str, str]]:
    """`VettingRules.problems` for the checks stored on `expert`, as of today (UTC)."""
    return rules.problems(
        references_checked_on=expert.references_checked_on,
        safeguarding_check_on=expert.safeguarding_check_on,
        on=utcnow().date(),
    )


# --- read models ------------------------------------------------------------------------------


def regions(bundle: Bundle) -> list[str]:
    """The UNICEF regions of the expert's country experience."""
    return sorted({c.region for c in bundle.countries if c.region})


def stored_vetting(expert: Expert) -> Vetting:
    """The expert's vetting dates as stored (not validated again: past checks stay readable)."""
    return Vetting.model_construct(
        references_checked_on=expert.references_checked_on,
        safeguarding_check_on=expert.safeguarding_check_on,
        bsafe_completed_on=expert.bsafe_completed_on,
    )


def _public_fields(bundle: Bundle) -> dict[str, Any]:
    e = bundle.expert
    return {
        "id": e.id,
        "full_name": e.full_name,
        "summary": e.summary,
        "status": e.status,
        "capabilities": [
            CapabilityLevel(capability=c.capability, level=c.level) for c in bundle.capabilities
        ],
        "languages": [
            LanguageLevel(tag=lang.tag, level=reference.CEFR(lang.level)) for lang in bundle.languages
        ],
        "regions": regions(bundle),
    }


def _shared_fields(bundle: Bundle) -> dict[str, Any]:
    e = bundle.expert
    return {
        "nationalities": list(e.nationalities),
        "residence_country": e.residence_country,
        "modality": e.modality,
        "country_experience": [c.iso3 for c in bundle.countries],
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "version": e.version,
    }


# Each read model is built once from its fields (not one from another's dump: the GET of an
# expert is the hottest read there is).
def public(bundle: Bundle) -> ExpertPublic:
    """What a country office may see of an expert."""
    return ExpertPublic(**_public_fields(bundle))


def shared(bundle: Bundle) -> ExpertShared:
    """The public profile plus what matching needs (a `roster:read` client without `roster:pii`)."""
    return ExpertShared(**_public_fields(bundle), **_shared_fields(bundle))


def full(bundle: Bundle) -> ExpertRead:
    """The whole profile (of an erased expert: the anonymous tombstone)."""
    e = bundle.expert
    rate = (
        DailyRate(amount=e.daily_rate_amount, currency=e.daily_rate_currency)
        if e.daily_rate_amount is not None and e.daily_rate_currency
        else None
    )
    return ExpertRead(
        **_public_fields(bundle),
        **_shared_fields(bundle),
        email=e.email,
        phone=e.phone,
        gender=e.gender,
        years_experience=e.years_experience,
        daily_rate=rate,
        status_reason=e.status_reason,
        vetting=stored_vetting(e),
        erased=e.erased_at is not None,
    )


def view(principal: Principal, bundle: Bundle) -> ExpertRead | ExpertShared | ExpertPublic:
    """The read model this caller may see of this expert; 404 if they may see none of it (an
    erased expert's tombstone: PD and admin only)."""
    if bundle.expert.erased_at is not None:
        if principal.has_role(*PRIVILEGED_ROLES):
            return full(bundle)
        raise NotFound("No such expert.")
    if is_privileged(principal) or is_self(principal, bundle.expert):
        return full(bundle)
    if is_shared_reader(principal):
        return shared(bundle)
    if principal.has_role(Role.COUNTRY_OFFICE.value) and bundle.expert.status == ExpertStatus.ACTIVE:
        return public(bundle)
    raise NotFound("No such expert.")
