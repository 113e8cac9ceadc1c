"""Experts: create (or self-register), read, the caller's own profile, edit, vet, erase, search.

Every write commits the expert together with its change-feed item and audit entry. An expert
is `active` only while vetted (`VettingRules`): create, status changes and edits of an active
expert's vetting all pass the same gate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from mnr_shared import reference
from mnr_shared.api import Result
from mnr_shared.auth import Principal, Role
from mnr_shared.db import utcnow
from mnr_shared.etag import check_if_match
from mnr_shared.fastread import Reads
from mnr_shared.pagination import Page, keyset_page
from roster_service.db import idempotency, idempotency_keys
from roster_service.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from roster_service.feed.service import forget, record
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
from roster_service.profiles import (
    PRIVILEGED_ROLES,
    Bundle,
    VettingRules,
    calendar_rows,
    find_bundle,
    full,
    is_privileged,
    is_self,
    is_shared_reader,
    load_bundles,
    new_row,
    public,
    read_bundle,
    shared,
    touch,
    vetting_problems,
    view,
)
from roster_service.schemas import (
    CapabilityLevel,
    ExpertCreate,
    ExpertPublic,
    ExpertRead,
    ExpertShared,
    ExpertUpdate,
    LanguageLevel,
    StatusChange,
    Vetting,
)

# Fields an expert may not set on their own profile (DESIGN §5: status, vetting, rate band).
EXPERT_FORBIDDEN_FIELDS = frozenset({"status", "vetting", "daily_rate"})

# Vetting moves (DESIGN §4): applicant → active, active ↔ inactive, any → suspended.
STATUS_MOVES: dict[ExpertStatus, frozenset[ExpertStatus]] = {
    ExpertStatus.APPLICANT: frozenset({ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED}),
    ExpertStatus.ACTIVE: frozenset({ExpertStatus.INACTIVE, ExpertStatus.SUSPENDED}),
    ExpertStatus.INACTIVE: frozenset({ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED}),
    ExpertStatus.SUSPENDED: frozenset(),
}


# --- profile rows -----------------------------------------------------------------------------


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
            (
                new_row(ExpertCapability, expert_id=eid, capability=c.capability, level=c.level)
                for c in capabilities
            ),
            key=lambda c: c.capability,
        )
    if languages is not None:
        stale += bundle.languages
        bundle.languages = [
            new_row(
                ExpertLanguage,
                expert_id=eid,
                tag=lang.tag,
                level=lang.level.value,
                level_rank=lang.level.rank,
            )
            for lang in languages
        ]
    if countries is not None:
        stale += bundle.countries
        bundle.countries = sorted(
            (
                new_row(ExpertCountry, expert_id=eid, iso3=iso3, region=reference.region_of(iso3))
                for iso3 in countries
            ),
            key=lambda c: c.iso3,
        )
    return stale


async def _save_children(session: AsyncSession, bundle: Bundle, stale: list[Any]) -> None:
    for row in stale:
        await session.delete(row)
    await session.flush()  # deletes before inserts: the new rows reuse primary keys
    session.add_all([*bundle.capabilities, *bundle.languages, *bundle.countries])


def apply_fields(bundle: Bundle, body: ExpertUpdate | ExpertCreate) -> list[Any]:
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


def _unvetted(problems: list[tuple[str, str]]) -> UnprocessableContent:
    """422 naming each vetting date that keeps the expert from being active."""
    return UnprocessableContent(
        "An expert is active only with references checked and a valid safeguarding check; see errors.",
        slug="validation",
        extra={"errors": [{"loc": ["body", "vetting", name], "msg": msg} for name, msg in problems]},
    )


async def _email_free(session: AsyncSession, email: str, *, other_than: uuid.UUID | None = None) -> None:
    query = select(col(Expert.id)).where(col(Expert.email) == email)
    if other_than is not None:
        query = query.where(col(Expert.id) != other_than)
    if (await session.scalars(query)).first() is not None:
        raise Conflict("An expert with this email already exists.", slug="duplicate-email")


# --- writes -----------------------------------------------------------------------------------


async def create_expert(
    *,
    sessions: async_sessionmaker[AsyncSession],
    by: Principal,
    body: ExpertCreate,
    idempotency_key: str | None,
    rules: VettingRules,
) -> Result[ExpertRead]:
    """A new expert (201, with its ETag) committed with its feed item and audit entry; PD/admin
    choose the status (`active` only with the vetting `rules` met, 422 otherwise), a
    self-registering expert is always an `applicant` bound to their `sub`. A repeated
    `Idempotency-Key` returns the first answer."""

    async def work(session: AsyncSession) -> Result[ExpertRead]:
        bundle = await _insert_expert(session, by=by, body=body, rules=rules)
        return Result(full(bundle), etag=bundle.etag, status_code=201)

    return await idempotency.run(
        sessions,
        by=by,
        operation="create-expert",
        key=idempotency_key,
        body=body,
        model=ExpertRead,
        work=work,
    )


async def _insert_expert(
    session: AsyncSession, *, by: Principal, body: ExpertCreate, rules: VettingRules
) -> Bundle:
    """The expert's rows, feed item and audit entry, written but not committed."""
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
    if privileged and body.status == ExpertStatus.ACTIVE:
        problems = rules.problems(
            references_checked_on=vetting.references_checked_on,
            safeguarding_check_on=vetting.safeguarding_check_on,
            on=utcnow().date(),
        )
        if problems:
            raise _unvetted(problems)
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
        await record(session, bundle=bundle, by=by, action="create", fields=sorted(body.model_fields_set))
    except IntegrityError as exc:
        raise Conflict("An expert with this email already exists.", slug="duplicate-email") from exc
    return bundle


async def update_expert(
    *,
    session: AsyncSession,
    by: Principal,
    expert_id: uuid.UUID,
    body: ExpertUpdate,
    if_match: str | None,
    rules: VettingRules,
) -> Result[ExpertRead]:
    """Apply a PATCH if the caller saw the current version (428/412 otherwise) and commit it;
    experts edit only their own profile and never status, vetting or rate; an active expert's
    vetting may only be replaced by vetting that still meets the `rules` (422 otherwise)."""
    bundle = await find_bundle(session, expert_id, lock=True)
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
    stale = apply_fields(bundle, body)
    if (
        "vetting" in changed
        and expert.status == ExpertStatus.ACTIVE
        and (problems := vetting_problems(expert, rules))
    ):
        raise _unvetted(problems)
    touch(expert)
    try:
        await _save_children(session, bundle, stale)
        await record(session, bundle=bundle, by=by, action="update", fields=sorted(changed))
    except IntegrityError as exc:
        raise Conflict("An expert with this email already exists.", slug="duplicate-email") from exc
    await session.commit()
    return Result(full(bundle), etag=bundle.etag)


async def change_status(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, body: StatusChange, rules: VettingRules
) -> Result[ExpertRead]:
    """Vetting: move an expert along the allowed status moves (409 otherwise) — to `active` only
    with the vetting `rules` met (409 `vetting-incomplete` naming what is missing or expired) —
    recording the reason, and commit it."""
    bundle = await find_bundle(session, expert_id, lock=True)
    expert = bundle.expert
    allowed = STATUS_MOVES[expert.status]
    if body.status not in allowed:
        raise Conflict(
            f"An expert who is {expert.status.value} cannot become {body.status.value}.",
            slug="status-move-not-allowed",
            extra={"current_status": expert.status.value, "allowed": sorted(s.value for s in allowed)},
        )
    if body.status == ExpertStatus.ACTIVE and (problems := vetting_problems(expert, rules)):
        raise Conflict(
            "An expert becomes active only with references checked and a safeguarding check no "
            f"older than {rules.valid_months} months: {'; '.join(msg for _, msg in problems)}. "
            "Record the checks (PATCH vetting) first.",
            slug="vetting-incomplete",
            extra={"errors": [{"loc": ["vetting", name], "msg": msg} for name, msg in problems]},
        )
    expert.status = body.status
    expert.status_reason = body.reason
    touch(expert)
    await record(
        session,
        bundle=bundle,
        by=by,
        action=f"status:{body.status.value}",
        fields=["status"],
        reason=body.reason,
    )
    await session.commit()
    return Result(full(bundle), etag=bundle.etag)


async def erase_expert(
    *, session: AsyncSession, by: Principal, expert_id: uuid.UUID, if_match: str | None
) -> None:
    """Remove personal data, keep an anonymous tombstone (bookings and audit stay consistent),
    rewrite the expert's earlier feed items and audit entries so that they keep nothing
    personal, drop the create replies kept for `Idempotency-Key` repeats (they hold the profile;
    a repeat after erasure is a new request), emit a `delete` on the feed, and commit it; needs
    the current ETag (428/412 otherwise)."""
    bundle = await find_bundle(session, expert_id, lock=True)
    check_if_match(if_match, bundle.etag)
    expert = bundle.expert
    own_subs = [expert.owner_sub] if expert.owner_sub else []
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
    periods, _ = await calendar_rows(session, expert.id)
    stale += periods
    touch(expert)
    await _save_children(session, bundle, stale)
    await forget(session, expert_id=expert.id, own_subs=own_subs)
    await session.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.scope.startswith("create-expert:"),
            cast(idempotency_keys.c.response_body, String).contains(str(expert.id)),
        )
    )
    await record(session, bundle=bundle, by=by, action="erase", fields=["personal_data"], deleted=True)
    await session.commit()


# --- reads ------------------------------------------------------------------------------------


async def get_expert(
    *, reads: Reads, by: Principal, expert_id: uuid.UUID
) -> Result[ExpertRead | ExpertShared | ExpertPublic]:
    """One expert as this caller may see them (404 when they may see nothing), with its ETag; an
    erased expert is an anonymous tombstone (`erased: true`) for PD and admin, 404 for others.
    The hottest read: one statement on the lean read path."""
    bundle = await read_bundle(reads, expert_id, erased=by.has_role(*PRIVILEGED_ROLES))
    return Result(view(by, bundle), etag=bundle.etag)


async def get_own_profile(*, session: AsyncSession, by: Principal) -> Result[ExpertRead]:
    """The calling expert's own profile (by `expert_id` claim, else by the `sub` they registered),
    with its ETag; 404 before they registered."""
    condition = col(Expert.owner_sub) == by.sub
    if by.expert_id is not None:
        condition = or_(col(Expert.id) == by.expert_id, condition)
    expert = (await session.scalars(select(Expert).where(condition, col(Expert.erased_at).is_(None)))).first()
    if expert is None:
        raise NotFound("You have no roster profile yet; POST /v1/experts to register.")
    bundle = (await load_bundles(session, [expert]))[0]
    return Result(full(bundle), etag=bundle.etag)


# --- search -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertFilters:
    """The search of `GET /v1/experts` (and of the export); every filter given must hold."""

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


def searcher_sees_everything(by: Principal, *, what: str) -> bool:
    """True for callers who see full profiles in any status (PD, admin, `roster:read` +
    `roster:pii` clients), False for a country office or a `roster:read` client without
    `roster:pii` (public fields of active experts); anyone else is refused (403) to `what` the
    roster."""
    if is_privileged(by):
        return True
    if not (by.has_role(Role.COUNTRY_OFFICE.value) or is_shared_reader(by)):
        raise Forbidden(f"Your role may not {what} the roster.")
    return False


def search_condition(filters: ExpertFilters, *, privileged: bool) -> ColumnElement[bool]:
    """The condition on `Expert` for `filters`; only active experts unless `privileged`."""
    if not privileged:
        filters = replace(filters, status=[ExpertStatus.ACTIVE])
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
    return and_(*conditions)


def vetting_due_condition(rules: VettingRules, day: date) -> ColumnElement[bool]:
    """Experts who could not be active on `day` without new checks: no references on record, or
    no safeguarding check, or one that is no longer valid then."""
    return or_(
        col(Expert.references_checked_on).is_(None),
        col(Expert.safeguarding_check_on).is_(None),
        col(Expert.safeguarding_check_on) < rules.checks_due_before(day),
    )


async def list_experts(
    *,
    session: AsyncSession,
    by: Principal,
    filters: ExpertFilters,
    limit: int,
    cursor: str | None,
    vetting_due_before: date | None = None,
    rules: VettingRules | None = None,
) -> Page[ExpertRead | ExpertShared | ExpertPublic]:
    """A page of experts matching every filter, oldest first (created_at, id): full profiles for
    PD, admin and `roster:pii` clients, `ExpertShared` (any status) for other `roster:read`
    clients, the public fields of active experts for a country office; anyone else is 403.
    `vetting_due_before` (full-profile callers only, 403 otherwise) keeps the experts whose
    checks fall due before that day under `rules`."""
    privileged = searcher_sees_everything(by, what="search")
    reader = not privileged and is_shared_reader(by)
    condition = search_condition(filters, privileged=privileged or reader)
    if vetting_due_before is not None:
        if not privileged:
            raise Forbidden("Only PD, admin and roster:pii clients may filter by vetting.")
        condition = and_(condition, vetting_due_condition(rules or VettingRules(), vetting_due_before))
    experts, next_cursor = await keyset_page(
        session,
        select(Expert).where(condition),
        created=col(Expert.created_at),
        ident=col(Expert.id),
        limit=limit,
        cursor=cursor,
    )
    bundles = await load_bundles(session, experts)
    view_of = full if privileged else shared if reader else public
    items: list[ExpertRead | ExpertShared | ExpertPublic] = [view_of(b) for b in bundles]
    return Page[ExpertRead | ExpertShared | ExpertPublic](items=items, next_cursor=next_cursor)
