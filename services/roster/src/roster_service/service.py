"""Roster rules and queries (the only module that reads or writes the roster's tables).

Every write to an expert runs in one transaction that also appends the expert's change-feed
item and an audit entry, so the feed never misses a change nor shows one that was rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from mnr_shared import reference
from mnr_shared.auth import Principal, Role
from mnr_shared.db import lock_feed, utcnow
from mnr_shared.etag import check_if_match, make_etag
from mnr_shared.pagination import decode_cursor, encode_cursor, invalid_cursor, keyset_page
from roster_service import spreadsheets
from roster_service.errors import Conflict, Forbidden, NotFound
from roster_service.models import (
    ActiveBookingStatuses,
    AuditEntry,
    Booking,
    BookingStatus,
    Change,
    Expert,
    ExpertCapability,
    ExpertCountry,
    ExpertLanguage,
    ExpertStatus,
    Unavailability,
)
from roster_service.schemas import (
    AuditRead,
    BookingCreate,
    BookingRead,
    CalendarRead,
    CapabilityCatalogue,
    CapabilityLevel,
    CapabilityRead,
    CEFRLevelRead,
    ChangeItem,
    ChangesPage,
    CountryRead,
    DailyRate,
    DomainRead,
    ExpertCreate,
    ExpertPublic,
    ExpertRead,
    ExpertUpdate,
    LanguageCatalogue,
    LanguageLevel,
    LanguageRead,
    LevelRead,
    RegionCatalogue,
    RegionRead,
    StatusChange,
    UnavailabilityCreate,
    UnavailabilityRead,
    Vetting,
)

READ_SCOPE = "roster:read"
WRITE_SCOPE = "roster:write"
PRIVILEGED_ROLES = (Role.PROGRAMME_DIVISION.value, Role.ADMIN.value)
# Fields an expert may not set on their own profile (DESIGN §5: status, vetting, rate band).
EXPERT_FORBIDDEN_FIELDS = frozenset({"status", "vetting", "daily_rate"})

# Vetting moves (DESIGN §4): applicant → active, active ↔ inactive, any → suspended.
STATUS_MOVES: dict[ExpertStatus, frozenset[ExpertStatus]] = {
    ExpertStatus.APPLICANT: frozenset({ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED}),
    ExpertStatus.ACTIVE: frozenset({ExpertStatus.INACTIVE, ExpertStatus.SUSPENDED}),
    ExpertStatus.INACTIVE: frozenset({ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED}),
    ExpertStatus.SUSPENDED: frozenset(),
}


# --- reference data ---------------------------------------------------------------------------


@cache
def capability_catalogue() -> CapabilityCatalogue:
    """The 21 MNR capabilities, grouped into their 6 domains in framework order."""
    caps = reference.capabilities()
    domains: dict[str, DomainRead] = {}
    for cap in caps:
        domain = domains.setdefault(
            cap.domain_code, DomainRead(code=cap.domain_code, name=cap.domain, capabilities=[])
        )
        domain.capabilities.append(cap.number)
    return CapabilityCatalogue(
        framework_version=reference.FRAMEWORK_VERSION,
        items=[
            CapabilityRead(number=c.number, name=c.name, domain_code=c.domain_code, domain=c.domain)
            for c in caps
        ],
        domains=list(domains.values()),
        levels=[LevelRead(level=k, description=v) for k, v in reference.EXPERTISE_LEVELS.items()],
    )


@cache
def region_catalogue() -> RegionCatalogue:
    """The 7 UNICEF programme regions with their member countries."""
    names = reference.countries()
    return RegionCatalogue(
        items=[
            RegionRead(
                code=r.code,
                name=r.name,
                countries=[CountryRead(iso3=c, name=names.get(c, c)) for c in r.countries],
            )
            for r in reference.regions()
        ]
    )


@cache
def language_catalogue() -> LanguageCatalogue:
    """Common programme languages with English names, and the CEFR levels."""
    return LanguageCatalogue(
        items=[LanguageRead(tag=t, name=reference.language_name(t)) for t in reference.COMMON_LANGUAGES],
        levels=[CEFRLevelRead(code=level.value, rank=level.rank) for level in reference.CEFR],
    )


# --- who may see what -------------------------------------------------------------------------


def is_privileged(principal: Principal) -> bool:
    """PD, admin, or a client with `roster:read`: may see personal data."""
    return principal.has_role(*PRIVILEGED_ROLES) or (
        principal.is_service and principal.has_scopes(READ_SCOPE)
    )


def is_self(principal: Principal, expert: Expert) -> bool:
    if not principal.has_role(Role.EXPERT.value):
        return False
    return principal.expert_id == expert.id or (
        expert.owner_sub is not None and expert.owner_sub == principal.sub
    )


def actor_role(principal: Principal) -> str:
    if principal.is_service:
        return f"service:{principal.client_id}"
    for role in (Role.ADMIN, Role.PROGRAMME_DIVISION, Role.EXPERT, Role.COUNTRY_OFFICE):
        if principal.has_role(role.value):
            return role.value
    return "unknown"


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


async def _load_children(session: AsyncSession, experts: Sequence[Expert]) -> list[Bundle]:
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


async def _find(session: AsyncSession, expert_id: uuid.UUID, *, lock: bool = False) -> Bundle:
    """A live (not erased) expert or 404; `lock` serialises writers of this expert on PostgreSQL."""
    query = select(Expert).where(col(Expert.id) == expert_id, col(Expert.erased_at).is_(None))
    if lock:
        query = query.with_for_update()
    expert = (await session.scalars(query)).first()
    if expert is None:
        raise NotFound("No such expert.")
    return (await _load_children(session, [expert]))[0]


def _regions(bundle: Bundle) -> list[str]:
    return sorted({c.region for c in bundle.countries if c.region})


def _public(bundle: Bundle) -> ExpertPublic:
    e = bundle.expert
    return ExpertPublic(
        id=e.id,
        full_name=e.full_name,
        summary=e.summary,
        status=e.status,
        capabilities=[CapabilityLevel(capability=c.capability, level=c.level) for c in bundle.capabilities],
        languages=[
            LanguageLevel(tag=lang.tag, level=reference.CEFR(lang.level)) for lang in bundle.languages
        ],
        regions=_regions(bundle),
    )


def _full(bundle: Bundle) -> ExpertRead:
    e = bundle.expert
    rate = (
        DailyRate(amount=e.daily_rate_amount, currency=e.daily_rate_currency)
        if e.daily_rate_amount is not None and e.daily_rate_currency
        else None
    )
    return ExpertRead(
        **_public(bundle).model_dump(),
        email=e.email,
        phone=e.phone,
        nationalities=list(e.nationalities),
        residence_country=e.residence_country,
        gender=e.gender,
        years_experience=e.years_experience,
        daily_rate=rate,
        modality=e.modality,
        status_reason=e.status_reason,
        country_experience=[c.iso3 for c in bundle.countries],
        vetting=Vetting.model_construct(
            references_checked_on=e.references_checked_on,
            safeguarding_check_on=e.safeguarding_check_on,
            bsafe_completed_on=e.bsafe_completed_on,
        ),
        created_at=e.created_at,
        updated_at=e.updated_at,
        version=e.version,
    )


def view(principal: Principal, bundle: Bundle) -> ExpertRead | ExpertPublic:
    """The read model this caller may see of this expert; 404 if they may see none of it."""
    if is_privileged(principal) or is_self(principal, bundle.expert):
        return _full(bundle)
    if principal.has_role(Role.COUNTRY_OFFICE.value) and bundle.expert.status == ExpertStatus.ACTIVE:
        return _public(bundle)
    raise NotFound("No such expert.")


# --- the feed and the audit trail -------------------------------------------------------------


async def _calendar_rows(
    session: AsyncSession,
    expert_id: uuid.UUID,
    *,
    start: date | None = None,
    end: date | None = None,
    live_only: bool = True,
) -> tuple[list[Unavailability], list[Booking]]:
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


async def projection(session: AsyncSession, bundle: Bundle) -> dict[str, Any]:
    """What matching needs of an expert (DESIGN §5 feed), calendar included."""
    e = bundle.expert
    periods, bookings = await _calendar_rows(session, e.id)
    return {
        "id": str(e.id),
        "full_name": e.full_name,
        "status": e.status.value,
        "modality": e.modality.value,
        "nationalities": list(e.nationalities),
        "residence_country": e.residence_country,
        "country_experience": [c.iso3 for c in bundle.countries],
        "regions": _regions(bundle),
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


async def _record(
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
    await session.flush()
    item = None if deleted else await projection(session, bundle)
    await lock_feed(session)
    session.add(Change(expert_id=bundle.expert.id, kind="delete" if deleted else "upsert", expert=item))
    session.add(
        AuditEntry(
            expert_id=bundle.expert.id,
            actor_sub=by.sub,
            actor_role=actor_role(by),
            action=action,
            changed_fields=sorted(fields),
            reason=reason,
        )
    )
    await session.flush()


def _touch(expert: Expert) -> None:
    expert.version += 1
    expert.updated_at = utcnow()


# --- experts ----------------------------------------------------------------------------------


def _set_children(
    bundle: Bundle,
    *,
    capabilities: list[CapabilityLevel] | None = None,
    languages: list[LanguageLevel] | None = None,
    countries: list[str] | None = None,
) -> list[Any]:
    """Replace child rows in memory; returns the old rows to delete."""
    stale: list[Any] = []
    eid = bundle.expert.id
    if capabilities is not None:
        stale += bundle.capabilities
        bundle.capabilities = sorted(
            (ExpertCapability(expert_id=eid, capability=c.capability, level=c.level) for c in capabilities),
            key=lambda c: c.capability,
        )
    if languages is not None:
        stale += bundle.languages
        bundle.languages = [
            ExpertLanguage(expert_id=eid, tag=lang.tag, level=lang.level.value, level_rank=lang.level.rank)
            for lang in languages
        ]
    if countries is not None:
        stale += bundle.countries
        bundle.countries = sorted(
            (ExpertCountry(expert_id=eid, iso3=iso3, region=reference.region_of(iso3)) for iso3 in countries),
            key=lambda c: c.iso3,
        )
    return stale


async def _save_children(session: AsyncSession, bundle: Bundle, stale: list[Any]) -> None:
    for row in stale:
        await session.delete(row)
    await session.flush()  # deletes before inserts: the new rows reuse primary keys
    session.add_all([*bundle.capabilities, *bundle.languages, *bundle.countries])


async def _email_free(session: AsyncSession, email: str, *, other_than: uuid.UUID | None = None) -> None:
    query = select(col(Expert.id)).where(col(Expert.email) == email)
    if other_than is not None:
        query = query.where(col(Expert.id) != other_than)
    if (await session.scalars(query)).first() is not None:
        raise Conflict("An expert with this email already exists.", slug="duplicate-email")


async def create_expert(
    *, session: AsyncSession, by: Principal, body: ExpertCreate
) -> tuple[ExpertRead, str]:
    """A new expert with its feed item and audit entry; PD/admin choose the status, a
    self-registering expert is always an `applicant` bound to their `sub`."""
    privileged = by.has_role(*PRIVILEGED_ROLES)
    if not privileged:
        sent = {name for name in EXPERT_FORBIDDEN_FIELDS if getattr(body, name) is not None}
        if sent:
            raise Forbidden(f"Experts cannot set their own {', '.join(sorted(sent))}.")
        owned = (await session.scalars(select(col(Expert.id)).where(col(Expert.owner_sub) == by.sub))).first()
        if owned is not None or by.expert_id is not None:
            raise Conflict("You already have a roster profile.", slug="profile-exists")
    await _email_free(session, body.email)
    vetting = body.vetting or Vetting()
    expert = Expert(
        full_name=body.full_name,
        email=body.email,
        phone=body.phone,
        nationalities=list(body.nationalities),
        residence_country=body.residence_country,
        gender=body.gender,
        summary=body.summary,
        years_experience=body.years_experience,
        daily_rate_amount=body.daily_rate.amount if body.daily_rate else None,
        daily_rate_currency=body.daily_rate.currency if body.daily_rate else None,
        modality=body.modality,
        status=(body.status or ExpertStatus.APPLICANT) if privileged else ExpertStatus.APPLICANT,
        references_checked_on=vetting.references_checked_on,
        safeguarding_check_on=vetting.safeguarding_check_on,
        bsafe_completed_on=vetting.bsafe_completed_on,
        owner_sub=None if privileged else by.sub,
    )
    bundle = Bundle(expert)
    _set_children(
        bundle, capabilities=body.capabilities, languages=body.languages, countries=body.country_experience
    )
    session.add(expert)
    try:
        await session.flush()
        await _save_children(session, bundle, [])
        await _record(session, bundle=bundle, by=by, action="create", fields=sorted(body.model_fields_set))
    except IntegrityError as exc:
        raise Conflict("An expert with this email already exists.", slug="duplicate-email") from exc
    return _full(bundle), bundle.etag


async def get_expert(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID
) -> tuple[ExpertRead | ExpertPublic, str]:
    """One expert as this caller may see them, with its ETag."""
    bundle = await _find(session, expert_id)
    return view(by, bundle), bundle.etag


async def get_own_profile(*, session: AsyncSession, by: Principal) -> tuple[ExpertRead, str]:
    """The calling expert's own profile (by `expert_id` claim, else by the `sub` they registered)."""
    condition = col(Expert.owner_sub) == by.sub
    if by.expert_id is not None:
        condition = or_(col(Expert.id) == by.expert_id, condition)
    expert = (await session.scalars(select(Expert).where(condition, col(Expert.erased_at).is_(None)))).first()
    if expert is None:
        raise NotFound("You have no roster profile yet; POST /v1/experts to register.")
    bundle = (await _load_children(session, [expert]))[0]
    return _full(bundle), bundle.etag


def _apply_fields(bundle: Bundle, body: ExpertUpdate) -> list[Any]:
    """Set the fields sent in `body` on the expert and, in memory, on its child rows (lists
    replace whole lists); returns the old child rows to delete. No I/O: the caller saves."""
    expert = bundle.expert
    changed = body.model_fields_set
    for name in (
        "full_name",
        "email",
        "phone",
        "residence_country",
        "gender",
        "summary",
        "years_experience",
        "modality",
    ):
        if name in changed:
            setattr(expert, name, getattr(body, name))
    if "nationalities" in changed:
        expert.nationalities = list(body.nationalities or [])
    if "daily_rate" in changed:
        expert.daily_rate_amount = body.daily_rate.amount if body.daily_rate else None
        expert.daily_rate_currency = body.daily_rate.currency if body.daily_rate else None
    if "vetting" in changed:
        vetting = body.vetting or Vetting()
        expert.references_checked_on = vetting.references_checked_on
        expert.safeguarding_check_on = vetting.safeguarding_check_on
        expert.bsafe_completed_on = vetting.bsafe_completed_on
    return _set_children(
        bundle,
        capabilities=body.capabilities if "capabilities" in changed else None,
        languages=body.languages if "languages" in changed else None,
        countries=body.country_experience if "country_experience" in changed else None,
    )


async def update_expert(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, body: ExpertUpdate, if_match: str | None
) -> tuple[ExpertRead, str]:
    """Apply a PATCH if the caller saw the current version; experts edit only their own profile
    and never status, vetting or rate."""
    bundle = await _find(session, expert_id, lock=True)
    expert = bundle.expert
    privileged = by.has_role(*PRIVILEGED_ROLES)
    if not privileged and not is_self(by, expert):
        view(by, bundle)  # 404 when they may not even see it
        raise Forbidden("You may not edit this expert.")
    check_if_match(if_match, bundle.etag)
    changed = body.model_fields_set
    if not privileged:
        denied = changed & EXPERT_FORBIDDEN_FIELDS
        if denied:
            raise Forbidden(f"Experts cannot set their own {', '.join(sorted(denied))}.")
    if "email" in changed and body.email != expert.email:
        assert body.email is not None
        await _email_free(session, body.email, other_than=expert.id)
    stale = _apply_fields(bundle, body)
    _touch(expert)
    try:
        await _save_children(session, bundle, stale)
        await _record(session, bundle=bundle, by=by, action="update", fields=sorted(changed))
    except IntegrityError as exc:
        raise Conflict("An expert with this email already exists.", slug="duplicate-email") from exc
    await session.commit()
    return _full(bundle), bundle.etag


async def change_status(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, body: StatusChange
) -> tuple[ExpertRead, str]:
    """Vetting: move an expert along the allowed status moves, recording the reason."""
    bundle = await _find(session, expert_id, lock=True)
    expert = bundle.expert
    allowed = STATUS_MOVES[expert.status]
    if body.status not in allowed:
        raise Conflict(
            f"An expert who is {expert.status.value} cannot become {body.status.value}.",
            slug="status-move-not-allowed",
            extra={"status": expert.status.value, "allowed": sorted(s.value for s in allowed)},
        )
    expert.status = body.status
    expert.status_reason = body.reason
    _touch(expert)
    await _record(
        session,
        bundle=bundle,
        by=by,
        action=f"status:{body.status.value}",
        fields=["status"],
        reason=body.reason,
    )
    await session.commit()
    return _full(bundle), bundle.etag


async def erase_expert(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, if_match: str | None
) -> None:
    """Remove personal data, keep an anonymous tombstone (bookings and audit stay consistent),
    and emit a `delete` on the feed."""
    bundle = await _find(session, expert_id, lock=True)
    check_if_match(if_match, bundle.etag)
    expert = bundle.expert
    for name in (
        "full_name",
        "email",
        "phone",
        "summary",
        "gender",
        "residence_country",
        "years_experience",
        "daily_rate_amount",
        "daily_rate_currency",
        "owner_sub",
        "status_reason",
        "references_checked_on",
        "safeguarding_check_on",
        "bsafe_completed_on",
    ):
        setattr(expert, name, None)
    expert.nationalities = []
    expert.status = ExpertStatus.INACTIVE
    expert.erased_at = utcnow()
    stale = _set_children(bundle, capabilities=[], languages=[], countries=[])
    periods, _ = await _calendar_rows(session, expert.id)
    stale += periods
    _touch(expert)
    await _save_children(session, bundle, stale)
    await _record(session, bundle=bundle, by=by, action="erase", fields=["personal_data"], deleted=True)
    await session.commit()


@dataclass(frozen=True)
class ExpertFilters:
    capability: list[int] = field(default_factory=list)
    min_level: int = 1
    language: str | None = None
    min_language_level: reference.CEFR | None = None
    region: str | None = None
    country: str | None = None
    status: list[ExpertStatus] = field(default_factory=list)
    available_from: date | None = None
    available_to: date | None = None
    q: str | None = None


def _conditions(filters: ExpertFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Expert.erased_at).is_(None)]
    for number in filters.capability:
        conditions.append(
            exists().where(
                col(ExpertCapability.expert_id) == col(Expert.id),
                col(ExpertCapability.capability) == number,
                col(ExpertCapability.level) >= filters.min_level,
            )
        )
    if filters.language:
        rank = filters.min_language_level.rank if filters.min_language_level else 1
        conditions.append(
            exists().where(
                col(ExpertLanguage.expert_id) == col(Expert.id),
                col(ExpertLanguage.level_rank) >= rank,
                or_(
                    col(ExpertLanguage.tag) == filters.language,
                    col(ExpertLanguage.tag).startswith(f"{filters.language}-"),
                ),
            )
        )
    if filters.region:
        conditions.append(
            exists().where(
                col(ExpertCountry.expert_id) == col(Expert.id), col(ExpertCountry.region) == filters.region
            )
        )
    if filters.country:
        conditions.append(
            exists().where(
                col(ExpertCountry.expert_id) == col(Expert.id), col(ExpertCountry.iso3) == filters.country
            )
        )
    if filters.status:
        conditions.append(col(Expert.status).in_(filters.status))
    if filters.available_from and filters.available_to:
        start, end = filters.available_from, filters.available_to
        conditions.append(
            ~exists().where(
                col(Unavailability.expert_id) == col(Expert.id),
                col(Unavailability.start_date) <= end,
                col(Unavailability.end_date) >= start,
            )
        )
        conditions.append(
            ~exists().where(
                col(Booking.expert_id) == col(Expert.id),
                col(Booking.status).in_(ActiveBookingStatuses),
                col(Booking.start_date) <= end,
                col(Booking.end_date) >= start,
            )
        )
    if filters.q:
        needle = filters.q.lower()
        conditions.append(
            or_(
                func.lower(col(Expert.full_name)).contains(needle, autoescape=True),
                func.lower(col(Expert.summary)).contains(needle, autoescape=True),
            )
        )
    return conditions


async def list_experts(
    *, session: AsyncSession, by: Principal, filters: ExpertFilters, limit: int, cursor: str | None
) -> tuple[list[ExpertRead | ExpertPublic], str | None]:
    """A page of experts matching every filter, oldest first (created_at, id); a country office
    sees only active experts and only their public fields."""
    privileged = is_privileged(by)
    if not privileged and not by.has_role(Role.COUNTRY_OFFICE.value):
        raise Forbidden("Your role may not search the roster.")
    if not privileged:
        filters = ExpertFilters(**{**filters.__dict__, "status": [ExpertStatus.ACTIVE]})
    experts, next_cursor = await keyset_page(
        session,
        select(Expert).where(and_(*_conditions(filters))),
        created=col(Expert.created_at),
        ident=col(Expert.id),
        limit=limit,
        cursor=cursor,
    )
    bundles = await _load_children(session, experts)
    items: list[ExpertRead | ExpertPublic] = [_full(b) if privileged else _public(b) for b in bundles]
    return items, next_cursor


# --- calendar ---------------------------------------------------------------------------------


def _require_calendar_access(by: Principal, bundle: Bundle, *, write: bool) -> None:
    if by.has_role(*PRIVILEGED_ROLES) or is_self(by, bundle.expert):
        return
    if not write and by.is_service and by.has_scopes(READ_SCOPE):
        return
    view(by, bundle)  # 404 for those who may not see the expert at all
    raise Forbidden("You may not see or change this expert's calendar.")


async def calendar(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, start: date | None, end: date | None
) -> CalendarRead:
    """Unavailability and bookings (any status) overlapping [start, end]; a year from today by
    default."""
    bundle = await _find(session, expert_id)
    _require_calendar_access(by, bundle, write=False)
    start = start or utcnow().date()
    end = end or start + timedelta(days=365)
    periods, bookings = await _calendar_rows(session, expert_id, start=start, end=end, live_only=False)
    return CalendarRead(
        expert_id=expert_id,
        start=start,
        end=end,
        unavailability=[_period(p) for p in periods],
        bookings=[_booking(b) for b in bookings],
    )


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


async def _overlapping_period(
    session: AsyncSession, expert_id: uuid.UUID, start: date, end: date
) -> Unavailability | None:
    return (
        await session.scalars(
            select(Unavailability)
            .where(
                col(Unavailability.expert_id) == expert_id,
                col(Unavailability.start_date) <= end,
                col(Unavailability.end_date) >= start,
            )
            .order_by(col(Unavailability.start_date))
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


async def add_unavailability(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, body: UnavailabilityCreate
) -> UnavailabilityRead:
    """Declare days the expert cannot work; refused (409) over a live booking."""
    bundle = await _find(session, expert_id, lock=True)
    _require_calendar_access(by, bundle, write=True)
    clash = await _overlapping_booking(session, expert_id, body.start, body.end)
    if clash is not None:
        raise _conflict_with("a booking", clash.start_date, clash.end_date, clash.id)
    row = Unavailability(expert_id=expert_id, start_date=body.start, end_date=body.end, reason=body.reason)
    session.add(row)
    _touch(bundle.expert)
    await _record(session, bundle=bundle, by=by, action="unavailability:add", fields=["unavailability"])
    await session.commit()
    return _period(row)


async def remove_unavailability(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, period_id: uuid.UUID
) -> None:
    """Withdraw a declared period (404 if it is not this expert's)."""
    bundle = await _find(session, expert_id, lock=True)
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
    _touch(bundle.expert)
    await _record(session, bundle=bundle, by=by, action="unavailability:remove", fields=["unavailability"])
    await session.commit()


# --- bookings ---------------------------------------------------------------------------------


async def hold(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, body: BookingCreate
) -> tuple[int, BookingRead]:
    """Place a hold on [start, end]: 201, or 200 with the same booking when this match already
    holds exactly these dates; 409 naming the clash with another booking or unavailability.

    Overlap is checked here for a helpful answer, and enforced by the database: an exclusion
    constraint on PostgreSQL, the serialised (BEGIN IMMEDIATE) transaction on SQLite.
    """
    bundle = await _find(session, expert_id, lock=True)
    existing = (await session.scalars(select(Booking).where(col(Booking.match_id) == body.match_id))).first()
    if existing is not None:
        same = (existing.expert_id, existing.start_date, existing.end_date, existing.request_id) == (
            expert_id,
            body.start,
            body.end,
            body.request_id,
        )
        if same:
            return 200, _booking(existing)
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
    period = await _overlapping_period(session, expert_id, body.start, body.end)
    if period is not None:
        raise _conflict_with("declared unavailability", period.start_date, period.end_date, period.id)
    row = Booking(
        expert_id=expert_id,
        start_date=body.start,
        end_date=body.end,
        status=BookingStatus.HOLD,
        request_id=body.request_id,
        match_id=body.match_id,
    )
    session.add(row)
    _touch(bundle.expert)
    try:
        await _record(session, bundle=bundle, by=by, action="booking:hold", fields=["bookings"])
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "The expert was booked for overlapping dates at the same moment.", slug="calendar-conflict"
        ) from exc
    return 201, _booking(row)


async def _booking_for_update(session: AsyncSession, booking_id: uuid.UUID) -> tuple[Booking, Bundle]:
    row = (await session.scalars(select(Booking).where(col(Booking.id) == booking_id))).first()
    if row is None:
        raise NotFound("No such booking.")
    bundle = await _find(session, row.expert_id, lock=True)
    await session.refresh(row)
    return row, bundle


async def get_booking(*, session: AsyncSession, booking_id: uuid.UUID) -> BookingRead:
    row = (await session.scalars(select(Booking).where(col(Booking.id) == booking_id))).first()
    if row is None:
        raise NotFound("No such booking.")
    return _booking(row)


async def bookings_for_match(*, session: AsyncSession, match_id: uuid.UUID) -> list[BookingRead]:
    """The booking placed for a match, if any (how a saga finds a hold whose answer it lost)."""
    rows = (await session.scalars(select(Booking).where(col(Booking.match_id) == match_id))).all()
    return [_booking(row) for row in rows]


async def confirm(*, session: AsyncSession, by: Principal, booking_id: uuid.UUID) -> BookingRead:
    """hold → confirmed (repeating it is harmless); a released booking cannot be confirmed."""
    row, bundle = await _booking_for_update(session, booking_id)
    if row.status == BookingStatus.CONFIRMED:
        return _booking(row)
    if row.status == BookingStatus.RELEASED:
        raise Conflict(
            "A released booking cannot be confirmed.",
            slug="booking-released",
            extra={"status": row.status.value},
        )
    row.status = BookingStatus.CONFIRMED
    row.updated_at = utcnow()
    _touch(bundle.expert)
    await _record(session, bundle=bundle, by=by, action="booking:confirm", fields=["bookings"])
    await session.commit()
    return _booking(row)


async def release(*, session: AsyncSession, by: Principal, booking_id: uuid.UUID) -> BookingRead:
    """hold or confirmed → released, freeing the dates (repeating it is harmless)."""
    row, bundle = await _booking_for_update(session, booking_id)
    if row.status == BookingStatus.RELEASED:
        return _booking(row)
    row.status = BookingStatus.RELEASED
    row.updated_at = utcnow()
    _touch(bundle.expert)
    await _record(session, bundle=bundle, by=by, action="booking:release", fields=["bookings"])
    await session.commit()
    return _booking(row)


# --- feed and history -------------------------------------------------------------------------


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
) -> tuple[list[AuditRead], str | None]:
    """The audit trail of one expert, oldest first (PD, admin, the expert themself)."""
    bundle = await _find(session, expert_id)
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
    return items, encode_cursor(items[-1].id) if more and items else None


# --- spreadsheets: import and export ----------------------------------------------------------
# The layout, parsing and file writing live in spreadsheets.py; the reads and writes are here.
#
# An import writes its rows in chunks, each chunk in a savepoint; when a chunk fails, it is rolled
# back and its rows are written again one savepoint each, so only the row at fault is lost. (One
# savepoint per row from the start costs a dozen statements per row: minutes for a big file.)
# Feed items and audit entries are appended once every expert is written, so the feed lock is
# taken after the experts' row locks, in the same order as every other writer takes them.

IMPORT_REASON = "Spreadsheet import."
# Rows per savepoint and per IN (...) query (well inside SQLite's and asyncpg's parameter limits).
_CHUNK = 200


@dataclass
class _Planned:
    """A valid import row and what it will do: create (no bundle) or update, maybe moving status."""

    row: spreadsheets.ParsedRow
    body: ExpertCreate
    bundle: Bundle | None
    status: ExpertStatus | None = None


@dataclass
class _Written:
    planned: _Planned
    bundle: Bundle
    fields: list[str]


async def _bundles_by_email(
    session: AsyncSession, emails: Sequence[str], *, lock: bool, refresh: bool = False
) -> dict[str, Bundle]:
    """Live experts with these (lower-case) emails, with their profiles, in a few queries; `lock`
    takes their row locks in email order, `refresh` overwrites what the session holds of them."""
    found: dict[str, Bundle] = {}
    for start in range(0, len(emails), _CHUNK):
        query = (
            select(Expert)
            .where(col(Expert.email).in_(emails[start : start + _CHUNK]), col(Expert.erased_at).is_(None))
            .order_by(col(Expert.email))
        )
        if lock:
            query = query.with_for_update()
        if refresh:
            query = query.execution_options(populate_existing=True)
        for bundle in await _load_children(session, list((await session.scalars(query)).all())):
            found[bundle.expert.email or ""] = bundle
    return found


def _plan(row: spreadsheets.ParsedRow, bundle: Bundle | None) -> _Planned | spreadsheets.ImportRow:
    """What a row will do, or its rejection (invalid, or a status change vetting does not allow)."""
    body = row.body
    if body is None:
        return spreadsheets.rejected(row)
    if bundle is None:
        return _Planned(row=row, body=body, bundle=None)
    current = bundle.expert.status
    wanted = body.status if body.status is not None and body.status != current else None
    if wanted is not None and wanted not in STATUS_MOVES[current]:
        allowed = ", ".join(sorted(s.value for s in STATUS_MOVES[current])) or "none"
        msg = f"an expert who is {current.value} cannot become {wanted.value} (allowed: {allowed})"
        return spreadsheets.rejected(row, spreadsheets.RowError(field="status", msg=msg))
    return _Planned(row=row, body=body, bundle=bundle, status=wanted)


def _outcome(planned: _Planned, expert_id: uuid.UUID | None) -> spreadsheets.ImportRow:
    created = planned.bundle is None
    return spreadsheets.ImportRow(
        row=planned.row.number,
        email=planned.body.email,
        outcome=spreadsheets.ImportOutcome.CREATED if created else spreadsheets.ImportOutcome.UPDATED,
        expert_id=expert_id,
    )


def _stored_vetting(expert: Expert) -> Vetting:
    return Vetting.model_construct(
        references_checked_on=expert.references_checked_on,
        safeguarding_check_on=expert.safeguarding_check_on,
        bsafe_completed_on=expert.bsafe_completed_on,
    )


async def _write_experts(
    session: AsyncSession, planned: Sequence[_Planned], *, columns: frozenset[str]
) -> list[_Written]:
    """Insert or update these rows' experts and child rows (their feed items come later); all or
    nothing under the caller's savepoint."""
    written: list[_Written] = []
    stale: list[Any] = []
    for plan in planned:
        body, bundle = plan.body, plan.bundle
        if bundle is None:
            status = body.status or ExpertStatus.APPLICANT
            bundle = Bundle(
                Expert(full_name=body.full_name, email=body.email, modality=body.modality, status=status)
            )
            session.add(bundle.expert)
            vetting = Vetting()
        else:
            vetting = _stored_vetting(bundle.expert)
            if plan.status is not None:
                bundle.expert.status = plan.status
                bundle.expert.status_reason = IMPORT_REASON
            _touch(bundle.expert)
        update = spreadsheets.update_for(plan.row, columns=columns, vetting=vetting)
        stale += _apply_fields(bundle, update)
        fields = set(body.model_fields_set if plan.bundle is None else update.model_fields_set)
        if plan.status is not None:
            fields.add("status")
        written.append(_Written(planned=plan, bundle=bundle, fields=sorted(fields)))
    for row in stale:
        await session.delete(row)
    await session.flush()  # experts before their child rows; old child rows before new ones
    session.add_all(
        [c for w in written for c in (*w.bundle.capabilities, *w.bundle.languages, *w.bundle.countries)]
    )
    await session.flush()
    return written


async def _write_one_by_one(
    session: AsyncSession, chunk: Sequence[_Planned], *, columns: frozenset[str]
) -> tuple[list[_Written], list[spreadsheets.ImportRow]]:
    """Write a failed chunk's rows one savepoint each, re-reading their experts first (another
    writer may have created one of the emails meanwhile): only the row at fault is rejected."""
    fresh = await _bundles_by_email(session, sorted(p.body.email for p in chunk), lock=True, refresh=True)
    written: list[_Written] = []
    rejected: list[spreadsheets.ImportRow] = []
    for old in chunk:
        plan = _plan(old.row, fresh.get(old.body.email))
        if isinstance(plan, spreadsheets.ImportRow):
            rejected.append(plan)
            continue
        try:
            async with session.begin_nested():
                written += await _write_experts(session, [plan], columns=columns)
        except IntegrityError:
            msg = "clashes with a change made at the same time; import the file again"
            rejected.append(spreadsheets.rejected(plan.row, spreadsheets.RowError(field="email", msg=msg)))
    return written, rejected


async def _record_imported(session: AsyncSession, *, by: Principal, written: Sequence[_Written]) -> None:
    """`_record` for every written expert at once: a feed item and an audit entry each."""
    items = [await projection(session, w.bundle) for w in written]
    await lock_feed(session)
    session.add_all(
        [
            Change(expert_id=w.bundle.expert.id, kind="upsert", expert=item)
            for w, item in zip(written, items, strict=True)
        ]
    )
    session.add_all(
        [
            AuditEntry(
                expert_id=w.bundle.expert.id,
                actor_sub=by.sub,
                actor_role=actor_role(by),
                action="create" if w.planned.bundle is None else "update",
                changed_fields=w.fields,
                reason=IMPORT_REASON,
            )
            for w in written
        ]
    )
    await session.flush()


async def import_experts(
    *, session: AsyncSession, by: Principal, upload: spreadsheets.Upload, dry_run: bool
) -> spreadsheets.ImportReport:
    """Create, or update by email, one expert per valid row and commit them together; a rejected
    row is reported and leaves nothing behind, whatever fails; a dry run writes nothing. 422 when
    the file cannot be read as a whole."""
    sheet = spreadsheets.read_sheet(upload)
    rows = spreadsheets.parse_rows(sheet)
    columns = frozenset(sheet.columns)
    emails = sorted({row.body.email for row in rows if row.body is not None})
    existing = await _bundles_by_email(session, emails, lock=not dry_run)
    results: dict[int, spreadsheets.ImportRow] = {}
    planned: list[_Planned] = []
    for row in rows:
        plan = _plan(row, existing.get(row.body.email) if row.body is not None else None)
        if isinstance(plan, spreadsheets.ImportRow):
            results[row.number] = plan
        else:
            planned.append(plan)
    if dry_run:
        for plan in planned:
            results[plan.row.number] = _outcome(plan, plan.bundle.expert.id if plan.bundle else None)
        return spreadsheets.report(dry_run=True, rows=[results[row.number] for row in rows])
    written: list[_Written] = []
    for start in range(0, len(planned), _CHUNK):
        chunk = planned[start : start + _CHUNK]
        try:
            async with session.begin_nested():
                written += await _write_experts(session, chunk, columns=columns)
        except IntegrityError:
            retried, rejected = await _write_one_by_one(session, chunk, columns=columns)
            written += retried
            results.update((r.row, r) for r in rejected)
    await _record_imported(session, by=by, written=written)
    await session.commit()
    results.update((w.planned.row.number, _outcome(w.planned, w.bundle.expert.id)) for w in written)
    return spreadsheets.report(dry_run=False, rows=[results[row.number] for row in rows])


async def export_experts(
    *, session: AsyncSession, by: Principal, filters: ExpertFilters, fmt: spreadsheets.SheetFormat
) -> bytes:
    """Every expert matching `filters` that the caller may see, oldest first: the import layout
    for PD, admin and `roster:read` services (it re-imports as updates), the public columns of
    active experts for a country office."""
    privileged = is_privileged(by)
    if not privileged and not by.has_role(Role.COUNTRY_OFFICE.value):
        raise Forbidden("Your role may not export the roster.")
    if not privileged:
        filters = replace(filters, status=[ExpertStatus.ACTIVE])
    query = select(Expert).where(and_(*_conditions(filters))).order_by(col(Expert.created_at), col(Expert.id))
    experts = list((await session.scalars(query)).all())
    rows: list[list[spreadsheets.Cell]] = []
    for start in range(0, len(experts), _CHUNK):
        for bundle in await _load_children(session, experts[start : start + _CHUNK]):
            rows.append(
                spreadsheets.full_row(_full(bundle))
                if privileged
                else spreadsheets.public_row(_public(bundle))
            )
    columns = spreadsheets.COLUMNS if privileged else spreadsheets.PUBLIC_COLUMNS
    return spreadsheets.write_sheet(fmt, columns, rows)
