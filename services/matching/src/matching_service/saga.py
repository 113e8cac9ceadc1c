"""The approval saga (DESIGN §7): a match's hold in roster and its request's status move together.

Every step is recorded in the match row before and after it runs, so a crash at any point
leaves a durable `step` that the recovery worker (run at start-up and periodically) completes
or compensates. Each step is idempotent: the hold carries the match id as Idempotency-Key, and
status moves treat "already there" as done. Invariants: never a hold without a live match, never
a `matched` request without a hold.

The saga orchestrates; it reads and writes the match records through `matches`, one short
transaction at a time, never held across an upstream call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching_service import matches
from matching_service.clients.models import RequestStatus, UpstreamRequest
from matching_service.clients.upstream import (
    HoldConflict,
    RequestsClient,
    RosterClient,
    TransitionRefused,
    UpstreamUnavailable,
)
from matching_service.config import Settings
from matching_service.errors import NotFound, ServiceUnavailable
from matching_service.models import Match, MatchStatus, Step
from mnr_shared.auth import Principal
from mnr_shared.db import utcnow

log = logging.getLogger("matching.saga")

# After a step, the next one; `None` means the match reaches its target status.
NEXT_STEP: dict[Step, Step | None] = {
    Step.HOLD: Step.MATCH_REQUEST,
    Step.MATCH_REQUEST: None,
    Step.CONFIRM: Step.FULFIL_REQUEST,
    Step.FULFIL_REQUEST: None,
    Step.RELEASE: Step.REOPEN_REQUEST,
    Step.REOPEN_REQUEST: None,
}


# A request in one of these states no longer wants the expert it was matched with.
ABANDONED_REQUEST_STATUSES = frozenset({RequestStatus.WITHDRAWN, RequestStatus.CANCELLED})


class HoldRefused(Exception):
    """Roster says the expert is not free: the match failed and nothing else changed."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", "conflict"))
        self.problem = problem


class Saga:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        roster: RosterClient,
        requests: RequestsClient,
        settings: Settings,
    ) -> None:
        self.sessions = sessions
        self.roster = roster
        self.requests = requests
        self.settings = settings
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    # --- entry points ---------------------------------------------------------------------

    async def approve(
        self,
        *,
        request: UpstreamRequest,
        expert_id: uuid.UUID,
        note: str | None,
        by: Principal,
        score: float,
        breakdown: dict[str, Any],
        policy_version: int,
        expert_name: str | None,
    ) -> Match:
        """Record the match as pending, hold the window, move the request to `matched`, offer.

        Raises HoldRefused (roster 409: nothing held, match failed), ServiceUnavailable
        (roster unreachable at the hold: the match failed and any late hold is released by the
        worker), Conflict (the request already has a live match). An upstream failure after
        the hold leaves the match pending for the worker; the caller then gets it as pending.
        """
        match = Match(
            request_id=request.id,
            request_reference=request.reference,
            expert_id=expert_id,
            expert_name=expert_name,
            status=MatchStatus.PENDING,
            step=Step.HOLD,
            target_status=MatchStatus.OFFERED,
            start_date=request.start_date,
            end_date=request.end_date,
            score=score,
            breakdown=breakdown,
            policy_version=policy_version,
            note=note,
            approved_by=by.sub,
        )
        async with self.sessions() as session:
            await matches.add(session=session, match=match)
        try:
            return await self._advance(match.id, synchronous=True)
        except UpstreamUnavailable as exc:
            current = await self._load(match.id)
            if current.status == MatchStatus.FAILED:
                raise ServiceUnavailable(
                    "The roster could not be reached to hold the expert's dates; nothing is "
                    "held. Try again shortly.",
                    headers={"Retry-After": "5"},
                ) from exc
            return current  # held; the request update is pending and the worker will finish it

    async def accept(self, *, match_id: uuid.UUID, by: Principal) -> Match:
        """The expert named accepts: confirm the booking, then the request is `fulfilled`."""
        await self._begin(
            match_id, by=by, expert_only=True, step=Step.CONFIRM, target=MatchStatus.ACCEPTED, reason=None
        )
        return await self._advance_quietly(match_id)

    async def decline(self, *, match_id: uuid.UUID, by: Principal, reason: str) -> Match:
        """The expert named declines: release the hold, request back to `in_review`."""
        await self._begin(
            match_id, by=by, expert_only=True, step=Step.RELEASE, target=MatchStatus.DECLINED, reason=reason
        )
        return await self._advance_quietly(match_id)

    async def cancel(self, *, match_id: uuid.UUID, by: Principal, reason: str | None) -> Match:
        """PD withdraws an offer: release the hold, request back to `in_review`."""
        await self._begin(
            match_id, by=by, expert_only=False, step=Step.RELEASE, target=MatchStatus.CANCELLED, reason=reason
        )
        return await self._advance_quietly(match_id)

    async def recover(self) -> int:
        """One pass of the worker: cancel offers whose request was withdrawn or cancelled,
        expire stale offers, then advance every pending step."""
        await self._reconcile_abandoned_requests()
        now = utcnow()
        ttl = timedelta(days=self.settings.offer_ttl_days)
        async with self.sessions() as session:
            await matches.expire_offers(session=session, offered_before=now - ttl)
            due = await matches.due(session=session, now=now)
        advanced = 0
        for match_id in due:
            try:
                await self._advance(match_id, synchronous=False)
                advanced += 1
            except (UpstreamUnavailable, HoldRefused):
                continue
            except Exception:
                log.exception("recovery step failed", extra={"match_id": str(match_id)})
        return advanced

    async def _reconcile_abandoned_requests(self) -> None:
        """A request withdrawn or cancelled while its offer is open must not keep the expert's
        dates: release the hold and cancel the match (the request itself stays where it is)."""
        async with self.sessions() as session:
            open_offers = await matches.open_offers(session=session)
        for match in open_offers:
            try:
                request = await self.requests.get(match.request_id)
            except (UpstreamUnavailable, NotFound):
                continue
            if request.status not in ABANDONED_REQUEST_STATUSES:
                continue
            async with self._lock(match.id), self.sessions() as session:
                await matches.cancel_open_offer(
                    session=session, match_id=match.id, reason=f"The request was {request.status}."
                )

    async def run(self) -> None:
        """The worker loop: at start-up, then every `recovery_interval_seconds`."""
        while True:
            try:
                await self.recover()
            except Exception:
                log.exception("recovery pass failed")
            await asyncio.sleep(self.settings.recovery_interval_seconds)

    # --- the machinery ----------------------------------------------------------------------

    async def _begin(
        self,
        match_id: uuid.UUID,
        *,
        by: Principal,
        expert_only: bool,
        step: Step,
        target: MatchStatus,
        reason: str | None,
    ) -> None:
        async with self._lock(match_id), self.sessions() as session:
            await matches.begin_answer(
                session=session,
                match_id=match_id,
                by=by,
                expert_only=expert_only,
                step=step,
                target=target,
                reason=reason,
            )

    async def _advance_quietly(self, match_id: uuid.UUID) -> Match:
        """Run the steps; if an upstream is down, the worker finishes later (answer as is)."""
        try:
            return await self._advance(match_id, synchronous=False)
        except UpstreamUnavailable:
            return await self._load(match_id)

    def _lock(self, match_id: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault(match_id, asyncio.Lock())

    async def _load(self, match_id: uuid.UUID) -> Match:
        async with self.sessions() as session:
            return await matches.load(session=session, match_id=match_id)

    async def _save(self, match: Match, **changes: Any) -> Match:
        async with self.sessions() as session:
            return await matches.update(session=session, match_id=match.id, changes=changes)

    async def _advance(self, match_id: uuid.UUID, *, synchronous: bool) -> Match:
        """Run the match's steps until none is left or an upstream fails (recorded, re-raised)."""
        async with self._lock(match_id):
            match = await self._load(match_id)
            while match.step is not None:
                step = match.step
                try:
                    changes = await self._run_step(match, step, synchronous=synchronous)
                except UpstreamUnavailable as exc:
                    await self._save(
                        match,
                        attempts=match.attempts + 1,
                        last_error=str(exc)[:500],
                        next_attempt_at=utcnow() + self._backoff(match.attempts),
                    )
                    if synchronous and step == Step.HOLD:
                        # We cannot know whether the hold landed: fail the match now (so a
                        # retry can approve again) and let the worker release any late hold.
                        await self._save(
                            match,
                            status=MatchStatus.FAILED,
                            step=Step.RELEASE,
                            target_status=MatchStatus.FAILED,
                            reason="roster unreachable",
                            next_attempt_at=utcnow()
                            + timedelta(seconds=self.settings.compensation_grace_seconds),
                        )
                    raise
                except HoldConflict as exc:
                    await self._save(
                        match,
                        status=MatchStatus.FAILED,
                        step=None,
                        target_status=None,
                        reason="expert not free",
                        last_error=str(exc.problem.get("detail", ""))[:500],
                    )
                    raise HoldRefused(exc.problem) from exc
                next_step = changes.pop("step", NEXT_STEP[step])
                if next_step is None:
                    changes.setdefault("status", match.target_status)
                    changes["target_status"] = None
                match = await self._save(
                    match, step=next_step, attempts=0, last_error=None, next_attempt_at=None, **changes
                )
                if step == Step.HOLD and self.settings.debug_pause_after_hold_seconds:
                    await asyncio.sleep(self.settings.debug_pause_after_hold_seconds)
            return match

    def _backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(300.0, self.settings.recovery_interval_seconds * 2**attempts))

    async def _run_step(self, match: Match, step: Step, *, synchronous: bool) -> dict[str, Any]:
        """Do one step; returns the fields to record (an explicit `step` overrides the next)."""
        if step == Step.HOLD:
            booking = await self.roster.hold(
                expert_id=match.expert_id,
                start=match.start_date,
                end=match.end_date,
                request_id=match.request_id,
                match_id=match.id,
            )
            return {"booking_id": booking.id}
        if step == Step.MATCH_REQUEST:
            moved = await self._move_request(match, "match", already={RequestStatus.MATCHED})
            if not moved:
                # The request moved on (withdrawn, cancelled…): undo the hold, the match fails.
                return {
                    "step": Step.RELEASE,
                    "target_status": MatchStatus.FAILED,
                    "reason": "the request is no longer in review",
                }
            return {"offered_at": utcnow()}
        if step == Step.CONFIRM:
            booking_id = match.booking_id or await self._find_booking(match)
            if booking_id is None:
                raise UpstreamUnavailable("the match's booking is missing in roster")
            await self.roster.confirm(booking_id=booking_id)
            return {}
        if step == Step.FULFIL_REQUEST:
            await self._move_request(match, "fulfil", already={RequestStatus.FULFILLED, RequestStatus.CLOSED})
            return {}
        if step == Step.RELEASE:
            booking_id = match.booking_id or await self._find_booking(match)
            if booking_id is not None:
                await self.roster.release(booking_id=booking_id)
            if match.target_status == MatchStatus.FAILED:
                return {"step": None}
            return {}
        if step == Step.REOPEN_REQUEST:
            # A request that was withdrawn or cancelled meanwhile has nothing to reopen.
            await self._move_request(match, "reopen", already=None)
            return {}
        raise AssertionError(f"unknown step {step}")

    async def _find_booking(self, match: Match) -> uuid.UUID | None:
        booking = await self.roster.booking_for_match(match_id=match.id)
        return booking.id if booking else None

    async def _move_request(self, match: Match, action: str, *, already: set[RequestStatus] | None) -> bool:
        """Apply a transition; True if the request is (now or already) where it should be.

        `already=None` accepts any outcome (a best-effort move such as reopen).
        """
        note = f"{action} by matching for match {match.id}"
        try:
            await self.requests.transition(request_id=match.request_id, action=action, note=note)
            return True
        except TransitionRefused:
            if already is None:
                return True
            current = await self.requests.get(match.request_id)
            return current.status in already
