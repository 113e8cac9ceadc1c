"""Matching rules and queries: rankings, policy versions, matches (the saga does the moving).

Queries on matches themselves are in `matches`, which the saga shares; policy versions are
queried here.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from matching_service import inconsistencies, matches, ranking, scoring
from matching_service.clients.models import RequestStatus, UpstreamRequest
from matching_service.clients.upstream import RequestsClient, RosterClient, UpstreamUnavailable
from matching_service.config import Settings
from matching_service.db import idempotency
from matching_service.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, UnprocessableContent
from matching_service.feed import IndexFollower
from matching_service.index import ExpertIndex
from matching_service.models import (
    InconsistencyKind,
    InconsistencyStatus,
    Match,
    MatchStatus,
    OutboxEvent,
    PolicyVersion,
)
from matching_service.reconciler import Reconciler
from matching_service.refusals import SagaRefused
from matching_service.saga import Saga
from matching_service.schemas import (
    Candidate,
    Feasibility,
    InconsistencyRead,
    MatchCreate,
    MatchRead,
    PolicyRead,
    Ranking,
    RequestSummary,
    SearchBody,
    Weights,
)
from mnr_shared.api import Result
from mnr_shared.auth import Principal, Role
from mnr_shared.etag import check_if_match, make_etag
from mnr_shared.events import emit
from mnr_shared.pagination import Page

log = logging.getLogger("matching.service")

PRIVILEGED = (Role.PROGRAMME_DIVISION.value, Role.ADMIN.value)
DEFAULT_WEIGHTS = Weights(expertise=0.5, language=0.2, region=0.2, availability=0.1)
ALTERNATIVES = 5
POLICY_UPDATED = "policy.updated"
# Every event type matching writes, as `GET /v1/events` documents them.
MATCHING_EVENT_TYPES = (*matches.EVENT_TYPES.values(), POLICY_UPDATED)


class CurrentPolicy:
    """The newest policy version, held in memory for rankings: replaced as soon as this process
    commits a newer one (`offer`), read again from the database when older than `max_age`
    seconds (another replica may have changed it). Never goes back to an older version."""

    def __init__(
        self, policy: PolicyRead, *, sessions: async_sessionmaker[AsyncSession], max_age: float
    ) -> None:
        self.policy = policy
        self.sessions = sessions
        self.max_age = max_age
        self.loaded_at = time.monotonic()
        self._reading = asyncio.Lock()

    def offer(self, policy: PolicyRead) -> None:
        """Hold `policy` unless a newer version is held already; it is fresh as of now."""
        if policy.version >= self.policy.version:
            self.policy = policy
        self.loaded_at = time.monotonic()

    def _fresh(self) -> bool:
        return time.monotonic() - self.loaded_at < self.max_age

    async def get(self) -> PolicyRead:
        """The policy held, read again first when it is older than `max_age` (one read at a
        time; meanwhile others get the one held). A failed read keeps the one held and is
        tried again after `max_age`."""
        if self._fresh() or self._reading.locked():
            return self.policy
        async with self._reading:
            if not self._fresh():
                try:
                    async with self.sessions() as session:
                        self.offer((await current_policy(session=session)).item)
                except Exception:
                    log.warning("policy could not be read; ranking with the one held", exc_info=True)
                    self.loaded_at = time.monotonic()
        return self.policy


@dataclass
class Context:
    """What the lifespan builds once: upstream clients, the index and its follower, the saga,
    the reconciler and the current policy."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    roster: RosterClient
    requests: RequestsClient
    index: ExpertIndex
    follower: IndexFollower
    saga: Saga
    reconciler: Reconciler
    policy: CurrentPolicy


# --- policy -----------------------------------------------------------------------------------


def _policy_read(row: PolicyVersion) -> PolicyRead:
    return PolicyRead(
        version=row.version,
        created_by=row.created_by,
        created_at=row.created_at,
        weights=Weights(
            expertise=row.expertise, language=row.language, region=row.region, availability=row.availability
        ),
    )


async def ensure_policy(*, session: AsyncSession) -> None:
    """Version 1 holds the design's default weights; created once."""
    if (await session.scalars(select(PolicyVersion).limit(1))).first() is None:
        session.add(PolicyVersion(version=1, created_by="system", **DEFAULT_WEIGHTS.model_dump()))
        await session.commit()


async def current_policy(*, session: AsyncSession) -> Result[PolicyRead]:
    """The newest policy version and its ETag."""
    row = (
        await session.scalars(select(PolicyVersion).order_by(col(PolicyVersion.version).desc()).limit(1))
    ).first()
    if row is None:
        await ensure_policy(session=session)
        return await current_policy(session=session)
    return Result(_policy_read(row), etag=make_etag("policy", row.version))


async def policy_versions(*, session: AsyncSession) -> Page[PolicyRead]:
    """Every policy version, oldest first (a handful: one page)."""
    rows = (await session.scalars(select(PolicyVersion).order_by(col(PolicyVersion.version)))).all()
    return Page[PolicyRead](items=[_policy_read(r) for r in rows])


async def set_policy(
    *, ctx: Context, session: AsyncSession, by: Principal, weights: Weights, if_match: str | None
) -> Result[PolicyRead]:
    """A new policy version if the caller saw the current one, committed with its
    `policy.updated` event; old versions stay. Once it is committed, this process ranks with it."""
    current = await current_policy(session=session)
    check_if_match(if_match, current.etag or "")
    row = PolicyVersion(version=current.item.version + 1, created_by=by.sub, **weights.model_dump())
    session.add(row)
    try:
        await session.flush()  # the version row first, then the feed lock: the order every writer takes
        data = {"version": row.version, "weights": weights.model_dump()}
        await emit(session, OutboxEvent, POLICY_UPDATED, subject=str(row.version), by=by, data=data)
        await session.commit()
    except Exception as exc:  # a concurrent PUT took this version number first
        raise Conflict("The policy changed meanwhile; read it again.", slug="stale-policy") from exc
    changed = _policy_read(row)
    ctx.policy.offer(changed)
    return Result(changed, etag=make_etag("policy", row.version))


def _weights(policy: PolicyRead) -> ranking.Policy:
    w = policy.weights
    return ranking.Policy(
        expertise=w.expertise, language=w.language, region=w.region, availability=w.availability
    )


# --- ranking ----------------------------------------------------------------------------------


def _ensure_ready(ctx: Context) -> None:
    if not ctx.follower.loaded.is_set():
        raise ServiceUnavailable(
            "The expert index is still loading; try again shortly.", headers={"Retry-After": "2"}
        )


def _rank_request(request: UpstreamRequest | SearchBody) -> ranking.RankRequest:
    """The request parsed for ranking; 422 when its needs cannot be ranked."""
    request_id = request.id if isinstance(request, UpstreamRequest) else None
    try:
        return ranking.RankRequest.from_request(request, request_id=request_id)
    except ValueError as exc:
        raise UnprocessableContent(f"This request cannot be ranked: {exc}", slug="validation") from exc


def _rank(
    ctx: Context,
    request: UpstreamRequest | SearchBody,
    policy: PolicyRead,
    limit: int,
    request_id: uuid.UUID | None,
    *,
    exclude: set[uuid.UUID] | None = None,
) -> Ranking:
    _ensure_ready(ctx)
    rank_request = _rank_request(request)
    result = scoring.rank(ctx.index, rank_request, _weights(policy), limit + len(exclude or ()))
    items = [item for item in result.items if not exclude or uuid.UUID(str(item.expert_id)) not in exclude][
        :limit
    ]
    return Ranking(
        request_id=request_id,
        policy_version=policy.version,
        index_seq=ctx.index.seq,
        index_age_seconds=ctx.follower.age_seconds,
        total=result.total,
        eligible=result.eligible,
        excluded=dict(result.excluded),
        items=[
            Candidate.model_validate({**item.to_dict(), "rank": n}) for n, item in enumerate(items, start=1)
        ],
    )


async def _request_for(
    ctx: Context, request_id: uuid.UUID, by: Principal, *, cached: bool = False
) -> UpstreamRequest:
    """The request as the requests service holds it (`cached`: or held it a moment ago); a
    country office only sees its own, however it was read."""
    request = await _fetch_request(ctx, request_id, cached=cached)
    own_office = by.has_role(Role.COUNTRY_OFFICE.value) and request.country in by.offices
    if not by.has_role(*PRIVILEGED) and not own_office:
        raise NotFound("No such request.")
    return request


async def _fetch_request(ctx: Context, request_id: uuid.UUID, *, cached: bool = False) -> UpstreamRequest:
    try:
        if cached:
            return await ctx.requests.cached(request_id)
        return await ctx.requests.get(request_id)
    except UpstreamUnavailable as exc:
        raise ServiceUnavailable(
            "The requests service cannot be reached; try again shortly.", headers={"Retry-After": "5"}
        ) from exc


async def _policy_now(ctx: Context) -> PolicyRead:
    """The current policy read from the database, in a transaction of its own (never held across
    upstream calls: on SQLite every transaction holds the write lock), for what it decides."""
    async with ctx.sessions() as session:
        policy = (await current_policy(session=session)).item
    ctx.policy.offer(policy)
    return policy


async def candidates(*, ctx: Context, by: Principal, request_id: uuid.UUID, limit: int) -> Ranking:
    """The ranked shortlist for a saved request (PD/admin; its own country office), from the
    request as read at most `request_cache_seconds` ago and the policy held in memory."""
    request = await _request_for(ctx, request_id, by, cached=True)
    return _rank(ctx, request, await ctx.policy.get(), limit, request_id)


async def search(*, ctx: Context, body: SearchBody, limit: int) -> Ranking:
    """The same ranking for an unsaved request body, with the policy held in memory."""
    return _rank(ctx, body, await ctx.policy.get(), limit, None)


async def feasibility(*, ctx: Context, by: Principal, body: SearchBody) -> Feasibility:
    """How many experts could take an unsaved request and why the others could not: counts
    only, no names, so a country office may ask it for its own countries while filling in."""
    if not by.has_role(*PRIVILEGED) and body.country not in by.offices:
        raise Forbidden("A country office may ask only about requests for its own countries.")
    ranked = _rank(ctx, body, await ctx.policy.get(), 1, None)
    return Feasibility(
        policy_version=ranked.policy_version,
        index_seq=ranked.index_seq,
        total=ranked.total,
        eligible=ranked.eligible,
        excluded=ranked.excluded,
    )


# --- matches ----------------------------------------------------------------------------------


def match_read(ctx: Context, match: Match) -> MatchRead:
    expires = matches.expires_at(match, offer_ttl=ctx.saga.offer_ttl)
    return MatchRead(
        id=match.id,
        request_id=match.request_id,
        request_reference=match.request_reference,
        request_summary=RequestSummary.model_validate(match.request_summary)
        if match.request_summary
        else None,
        expert_id=match.expert_id,
        expert_name=match.expert_name,
        status=match.status,
        pending_step=match.step,
        score=match.score,
        breakdown=match.breakdown,
        policy_version=match.policy_version,
        booking_id=match.booking_id,
        start_date=match.start_date,
        end_date=match.end_date,
        note=match.note,
        reason=match.reason,
        approved_by=match.approved_by,
        created_at=match.created_at,
        updated_at=match.updated_at,
        offered_at=match.offered_at,
        answered_at=match.answered_at,
        expires_at=expires,
    )


async def approve(
    *, ctx: Context, by: Principal, body: MatchCreate, idempotency_key: str | None
) -> Result[MatchRead]:
    """Run the approval saga once per (caller, Idempotency-Key): 201 when offered, 202 when the
    hold is placed and the rest is left to the recovery worker."""

    async def work() -> Result[MatchRead]:
        match = await _approve(
            ctx=ctx, by=by, request_id=body.request_id, expert_id=body.expert_id, note=body.note
        )
        return Result(match, status_code=202 if match.pending_step is not None else 201)

    # The saga commits step by step in transactions of its own, so the key is looked up before
    # and recorded after it rather than around it.
    return await idempotency.run_detached(
        ctx.sessions,
        by=by,
        operation="approve-match",
        key=idempotency_key,
        body=body,
        model=MatchRead,
        work=work,
    )


async def _approve(
    *,
    ctx: Context,
    by: Principal,
    request_id: uuid.UUID,
    expert_id: uuid.UUID,
    note: str | None,
) -> MatchRead:
    """Run the approval saga for an eligible expert; 409 with the next best candidates when the
    expert is no longer free or not eligible (roster's word included), 409 when an upstream
    refused the approval (whatever was held is released)."""
    request = await _fetch_request(ctx, request_id)
    if request.status != RequestStatus.IN_REVIEW:
        raise Conflict(
            f"The request is {request.status}; only a request in review can be matched.",
            slug="request-not-in-review",
            extra={"request_status": request.status},
        )
    policy = await _policy_now(ctx)
    _ensure_ready(ctx)
    assessment = scoring.assess(ctx.index, _rank_request(request), str(expert_id), _weights(policy))
    if assessment is None or assessment.excluded_reason is not None:
        reason = assessment.excluded_reason if assessment else "not_in_roster"
        raise Conflict(
            f"This expert is not eligible for the request ({reason}).",
            slug="expert-not-eligible",
            extra={"reason": reason, "alternatives": _alternatives(ctx, request, policy, expert_id)},
        )
    chosen = Candidate.model_validate({**assessment.item.to_dict(), "rank": 0})
    breakdown = chosen.model_dump(mode="json", exclude={"rank"})
    try:
        match = await ctx.saga.approve(
            request=request,
            expert_id=expert_id,
            note=note,
            by=by,
            score=chosen.score,
            breakdown=breakdown,
            policy_version=policy.version,
            expert_name=chosen.full_name,
        )
    except SagaRefused as exc:
        if exc.refusal.slug not in ("expert-not-free", "expert-not-eligible"):
            raise
        raise Conflict(
            exc.refusal.detail,
            slug=exc.refusal.slug,
            extra={**exc.extra, "alternatives": _alternatives(ctx, request, policy, expert_id)},
        ) from exc
    return match_read(ctx, match)


def _alternatives(
    ctx: Context, request: UpstreamRequest, policy: PolicyRead, expert_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The next best candidates, the refused expert left out."""
    ranked = _rank(ctx, request, policy, ALTERNATIVES, request.id, exclude={expert_id})
    return [c.model_dump(mode="json") for c in ranked.items]


async def get_match(*, ctx: Context, session: AsyncSession, by: Principal, match_id: uuid.UUID) -> MatchRead:
    """One match: PD/admin, or the expert named in it (an expert by role, not by a claim alone)."""
    match = await matches.find(session=session, match_id=match_id)
    own = by.has_role(Role.EXPERT.value) and by.expert_id == match.expert_id if match else False
    if match is None or not (by.has_role(*PRIVILEGED) or own):
        raise NotFound("No such match.")
    return match_read(ctx, match)


async def list_matches(
    *,
    ctx: Context,
    session: AsyncSession,
    by: Principal,
    request_id: uuid.UUID | None,
    expert_id: uuid.UUID | None,
    status: list[MatchStatus],
    limit: int,
    cursor: str | None,
) -> Page[MatchRead]:
    """Matches, newest first. An expert sees only their own (any other expert_id is 403); a
    country office sees those of one of its own requests (request_id required; others' 404).
    The role decides, before any `expert_id` claim: a claim on a non-expert token grants nothing."""
    if by.has_role(*PRIVILEGED):
        pass
    elif by.has_role(Role.EXPERT.value) and by.expert_id is not None:
        if expert_id is not None and expert_id != by.expert_id:
            raise Forbidden("Experts see only their own matches.")
        expert_id = by.expert_id
    elif by.has_role(Role.COUNTRY_OFFICE.value):
        if request_id is None:
            raise Forbidden("A country office lists the matches of one of its requests: pass request_id.")
        await _request_for(ctx, request_id, by)  # before any query: no transaction held across HTTP
    else:
        raise Forbidden("Only PD, admin, experts and country offices can list matches.")
    rows, next_cursor = await matches.page(
        session=session, request_id=request_id, expert_id=expert_id, status=status, limit=limit, cursor=cursor
    )
    return Page[MatchRead](items=[match_read(ctx, m) for m in rows], next_cursor=next_cursor)


async def accept(*, ctx: Context, by: Principal, match_id: uuid.UUID) -> MatchRead:
    return match_read(ctx, await ctx.saga.accept(match_id=match_id, by=by))


async def decline(*, ctx: Context, by: Principal, match_id: uuid.UUID, reason: str) -> MatchRead:
    return match_read(ctx, await ctx.saga.decline(match_id=match_id, by=by, reason=reason))


async def cancel(*, ctx: Context, by: Principal, match_id: uuid.UUID, reason: str | None) -> MatchRead:
    return match_read(ctx, await ctx.saga.cancel(match_id=match_id, by=by, reason=reason))


# --- inconsistencies --------------------------------------------------------------------------


async def list_inconsistencies(
    *,
    session: AsyncSession,
    status: list[InconsistencyStatus],
    kind: list[InconsistencyKind],
    limit: int,
    cursor: str | None,
) -> Page[InconsistencyRead]:
    """What the reconciler found, newest first (admin): open ones to act on, and the ones it
    repaired or that resolved themselves."""
    rows, next_cursor = await inconsistencies.page(
        session=session, status=status, kind=kind, limit=limit, cursor=cursor
    )
    return Page[InconsistencyRead](
        items=[InconsistencyRead.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )
