"""The approval saga (DESIGN §7): a match's hold in roster and its request's status move together.

Every step is recorded in the match row before and after it runs, so a crash at any point
leaves a durable `step` that the recovery worker (run at start-up and periodically) completes
or compensates. Each step is idempotent: the hold carries the match id as Idempotency-Key, and
status moves treat "already there" as done. Invariants: never a live booking without a live
match, never a `matched` request without a live match (nor a `fulfilled` one without an
accepted match), never a confirmed booking for a withdrawn, cancelled or rejected request.

Every step has one outcome for every upstream answer. A 4xx refuses the step for good and is
never retried; a 5xx, timeout, 401 or 429 is retried by the worker with backoff; a process
killed mid-step leaves the durable step, retried at start-up. A refusal means:

- hold: the match failed, nothing held, 409 (an outage while approving: 503, the match failed,
  and a hold that landed anyway is released after the grace);
- match_request: unless the request is `matched` already, the hold is released, the match
  failed, 409 (an outage: 202, the worker finishes);
- confirm (or no booking to confirm): the hold released, the request reopened, the match
  failed, 409 `confirmation-refused`;
- fulfil_request: unless the request is fulfilled already, the booking is released; a request
  that ended leaves the match cancelled, 409 `request-not-open`; else the request is reopened,
  the match failed, 409;
- release: 404 is done; another refusal is left to the reconciler;
- reopen_request: done (a request no longer `matched` has nothing to reopen; the reconciler
  checks the rest).

A refusal is never retried; an outage is retried with backoff, logged once with its cause and
counted (`matching_saga_step_stuck_total`), not logged again on every pass.

The saga orchestrates; it reads and writes the match records through `matches`, one short
transaction at a time, never held across an upstream call. A write that gives a match a new
status writes its domain event in that transaction; the actor is whoever's call ran the step
(`system` for the worker and the reconciler).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching_service import matches
from matching_service.clients.models import RequestStatus, UpstreamRequest
from matching_service.clients.upstream import (
    RequestsClient,
    RosterClient,
    TransitionRefused,
    UpstreamRefused,
    UpstreamUnavailable,
)
from matching_service.config import Settings
from matching_service.errors import ProblemError, ServiceUnavailable
from matching_service.metrics import MatchingMetrics, refusal_label
from matching_service.models import Match, MatchStatus, Step
from matching_service.refusals import (
    Refusal,
    SagaRefused,
    hold_refusal,
    request_not_open,
    request_refusal,
)
from mnr_shared.auth import Principal
from mnr_shared.db import utcnow
from mnr_shared.events import SYSTEM

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
ABANDONED_REQUEST_STATUSES = frozenset(
    {RequestStatus.WITHDRAWN, RequestStatus.CANCELLED, RequestStatus.REJECTED}
)


class _StepRefused(Exception):
    """Raised by a step an upstream refused: `changes` put the match on its way to an end."""

    def __init__(self, refusal: Refusal, status: int, changes: dict[str, Any]) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.status = status
        self.changes = changes


@dataclass
class Outcome:
    """Where `_advance` left a match: at rest, refused (and compensated), or waiting for an upstream."""

    match: Match
    refusal: Refusal | None = None
    unavailable: UpstreamUnavailable | None = None


class Saga:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        roster: RosterClient,
        requests: RequestsClient,
        settings: Settings,
        metrics: MatchingMetrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.roster = roster
        self.requests = requests
        self.settings = settings
        self.metrics = metrics or MatchingMetrics()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._last_pass_error: str | None = None

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

        Raises SagaRefused (an upstream refused the hold or the request update: whatever was
        held is released, the match failed), ServiceUnavailable (roster unreachable at the
        hold: the match failed and any late hold is released by the worker), Conflict (the
        request already has a live match). An outage after the hold leaves the match pending
        for the worker; the caller then gets it as pending.
        """
        match = Match(
            request_id=request.id,
            request_reference=request.reference,
            request_summary={
                "title": request.title,
                "country": request.country,
                "effort_days": request.effort_days,
                "modality": request.modality,
            },
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
        outcome = await self._advance(match.id, synchronous=True, by=by)
        if outcome.refusal is not None:
            raise SagaRefused(outcome.refusal, outcome.match)
        if outcome.unavailable is not None and outcome.match.status == MatchStatus.FAILED:
            raise ServiceUnavailable(
                "The roster could not be reached to hold the expert's dates; nothing is "
                "held. Try again shortly.",
                headers={"Retry-After": "5"},
            ) from outcome.unavailable
        return outcome.match  # offered, or held with the request update left to the worker

    async def accept(self, *, match_id: uuid.UUID, by: Principal) -> Match:
        """The expert named accepts: confirm the booking, then the request is `fulfilled`.
        409 `request-not-open` (the dates released) when the request has ended meanwhile."""
        await self._require_open_request(match_id, by=by, expert_only=True)
        await self._begin(
            match_id, by=by, expert_only=True, step=Step.CONFIRM, target=MatchStatus.ACCEPTED, reason=None
        )
        return await self._finish(match_id, by=by)

    async def decline(self, *, match_id: uuid.UUID, by: Principal, reason: str) -> Match:
        """The expert named declines: release the hold, request back to `in_review`."""
        await self._require_open_request(match_id, by=by, expert_only=True)
        await self._begin(
            match_id, by=by, expert_only=True, step=Step.RELEASE, target=MatchStatus.DECLINED, reason=reason
        )
        return await self._finish(match_id, by=by)

    async def cancel(self, *, match_id: uuid.UUID, by: Principal, reason: str | None) -> Match:
        """PD withdraws an offer: release the hold, request back to `in_review`."""
        await self._require_open_request(match_id, by=by, expert_only=False)
        await self._begin(
            match_id, by=by, expert_only=False, step=Step.RELEASE, target=MatchStatus.CANCELLED, reason=reason
        )
        return await self._finish(match_id, by=by)

    async def cancel_offer(self, *, match_id: uuid.UUID, reason: str, target: MatchStatus) -> bool:
        """End an offer that is still open (release its hold, reopen its request if it is still
        `matched`) as `target`; False when it is no longer an open offer. For the reconciler and
        for an answer to an offer whose request ended: the system ends it, so its event's actor
        is `system`."""
        async with self._lock(match_id), self.sessions() as session:
            started = await matches.cancel_open_offer(
                session=session, match_id=match_id, reason=reason, target=target
            )
        if started:
            await self._advance(match_id, synchronous=False, by=SYSTEM)
        return started

    async def recover(self) -> int:
        """One pass of the worker: cancel offers whose request ended, expire stale offers, then
        advance every pending step. Returns how many matches came to rest. The worker is the
        `system`: it is the actor of every event its steps write."""
        await self._reconcile_abandoned_requests()
        now = utcnow()
        async with self.sessions() as session:
            await matches.expire_offers(session=session, offered_before=now - self.offer_ttl)
            due = await matches.due(session=session, now=now)
        advanced = 0
        for match_id in due:
            try:
                outcome = await self._advance(match_id, synchronous=False, by=SYSTEM)
            except Exception:  # recorded on the match and logged once by _advance
                log.debug("recovery step failed", exc_info=True)
                continue
            advanced += outcome.unavailable is None
        return advanced

    async def run(self) -> None:
        """The worker loop: at start-up, then every `recovery_interval_seconds`. A pass that
        fails is logged when its error is new, not on every pass."""
        while True:
            try:
                await self.recover()
                self._last_pass_error = None
            except Exception as exc:
                if repr(exc) != self._last_pass_error:
                    log.exception("recovery pass failed")
                self._last_pass_error = repr(exc)
            await asyncio.sleep(self.settings.recovery_interval_seconds)

    # --- requests that ended under an open offer --------------------------------------------

    async def _reconcile_abandoned_requests(self) -> None:
        """A request withdrawn or cancelled while its offer is open must not keep the expert's
        dates: release the hold and cancel the match (the request itself stays where it is)."""
        async with self.sessions() as session:
            open_offers = await matches.open_offers(session=session)
        for match in open_offers:
            try:
                request = await self.requests.get(match.request_id)
            except (UpstreamUnavailable, UpstreamRefused, ProblemError):
                continue
            if request.status not in ABANDONED_REQUEST_STATUSES:
                continue
            async with self._lock(match.id), self.sessions() as session:
                await matches.cancel_open_offer(
                    session=session, match_id=match.id, reason=f"The request was {request.status}."
                )

    async def _require_open_request(self, match_id: uuid.UUID, *, by: Principal, expert_only: bool) -> None:
        """Before an offer is answered or cancelled: its request must still be `matched`. If it
        has ended, an open offer is cancelled (its hold released) and the answer is 409
        `request-not-open`; a match that is no longer an open offer is left to `begin_answer`
        (409 `match-not-open`) unless its request has ended."""
        async with self.sessions() as session:
            match = await matches.load_visible(
                session=session, match_id=match_id, by=by, expert_only=expert_only
            )
        if not matches.is_open_offer(match):
            try:
                status = await self._request_status(match.request_id)
            except UpstreamUnavailable:
                return
            if status is None or status in ABANDONED_REQUEST_STATUSES:
                raise request_not_open(status, match.status)
            return
        status = await self._request_status(match.request_id, unavailable_is_503=True)
        if status == RequestStatus.MATCHED:
            return
        said = status.value if status else "gone"
        await self.cancel_offer(
            match_id=match_id, reason=f"The request was {said}.", target=MatchStatus.CANCELLED
        )
        raise request_not_open(status, MatchStatus.CANCELLED)

    async def _request_status(
        self, request_id: uuid.UUID, *, unavailable_is_503: bool = False
    ) -> RequestStatus | None:
        """The request's status now; None when the requests service does not know it."""
        try:
            return (await self.requests.get(request_id)).status
        except (UpstreamRefused, ProblemError):
            return None
        except UpstreamUnavailable as exc:
            if not unavailable_is_503:
                raise
            raise ServiceUnavailable(
                "The requests service cannot be reached; nothing was changed. Try again shortly.",
                headers={"Retry-After": "5"},
            ) from exc

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

    async def _finish(self, match_id: uuid.UUID, *, by: Principal) -> Match:
        """Run the steps begun by an answer: 409 when an upstream refused one (compensated);
        when an upstream is down, the worker finishes later (the match is answered as is)."""
        outcome = await self._advance(match_id, synchronous=False, by=by)
        if outcome.refusal is not None:
            raise SagaRefused(outcome.refusal, outcome.match)
        return outcome.match

    def _lock(self, match_id: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault(match_id, asyncio.Lock())

    async def _load(self, match_id: uuid.UUID) -> Match:
        async with self.sessions() as session:
            return await matches.load(session=session, match_id=match_id)

    @property
    def offer_ttl(self) -> timedelta:
        """How long an offer stays open before the worker expires it."""
        return timedelta(days=self.settings.offer_ttl_days)

    async def _save(self, match: Match, *, by: Principal | str, **changes: Any) -> Match:
        """Record `changes` (and, when they move its status, the event caused `by`) in one
        transaction."""
        async with self.sessions() as session:
            return await matches.update(
                session=session, match_id=match.id, changes=changes, by=by, offer_ttl=self.offer_ttl
            )

    async def _advance(self, match_id: uuid.UUID, *, synchronous: bool, by: Principal | str) -> Outcome:
        """Run the match's steps until none is left (refusals turn it towards its end) or an
        upstream is down (recorded for the worker, logged once). `by` drove this run: the
        actor of the event when the match reaches a new status."""
        async with self._lock(match_id):
            match = await self._load(match_id)
            refusal: Refusal | None = None
            while match.step is not None:
                step = match.step
                try:
                    changes = await self._run_step(match, step)
                except _StepRefused as refused:
                    refusal = refusal or refused.refusal
                    self._note_refusal(match, step, refused.status, refused.refusal.detail)
                    match = await self._save(
                        match,
                        by=by,
                        attempts=0,
                        next_attempt_at=None,
                        last_error=refused.refusal.detail[:500],
                        **refused.changes,
                    )
                    continue
                except UpstreamUnavailable as exc:
                    match = await self._wait(match, step, exc, synchronous=synchronous, by=by)
                    return Outcome(match, refusal, exc)
                except Exception as exc:
                    await self._record_error(match, step, exc, by=by)
                    raise
                if match.attempts:
                    log.info(
                        "saga step done after retries",
                        extra={"match_id": str(match.id), "step": step.value, "attempts": match.attempts},
                    )
                next_step = changes.pop("step", NEXT_STEP[step])
                if next_step is None:
                    changes.setdefault("status", match.target_status)
                    changes["target_status"] = None
                match = await self._save(
                    match,
                    by=by,
                    step=next_step,
                    attempts=0,
                    next_attempt_at=None,
                    **{"last_error": None, **changes},
                )
                if step == Step.HOLD and self.settings.debug_pause_after_hold_seconds:
                    await asyncio.sleep(self.settings.debug_pause_after_hold_seconds)
            return Outcome(match, refusal)

    async def _wait(
        self, match: Match, step: Step, exc: UpstreamUnavailable, *, synchronous: bool, by: Principal | str
    ) -> Match:
        """Record an outage at a step for the worker; logged and counted once per episode."""
        if match.attempts == 0:
            self.metrics.step_stuck.labels(step.value, exc.cause).inc()
            log.warning(
                "saga step waiting for an upstream; the worker retries it",
                extra={"match_id": str(match.id), "step": step.value, "cause": exc.cause, "error": str(exc)},
            )
        match = await self._save(
            match,
            by=by,
            attempts=match.attempts + 1,
            last_error=str(exc)[:500],
            next_attempt_at=utcnow() + self._backoff(match.attempts),
        )
        if synchronous and step == Step.HOLD:
            # We cannot know whether the hold landed: fail the match now (so a retry can
            # approve again) and let the worker release any late hold after the grace.
            match = await self._save(
                match,
                by=by,
                status=MatchStatus.FAILED,
                step=Step.RELEASE,
                target_status=MatchStatus.FAILED,
                reason="roster unreachable",
                next_attempt_at=utcnow() + timedelta(seconds=self.settings.compensation_grace_seconds),
            )
        return match

    async def _record_error(self, match: Match, step: Step, exc: Exception, *, by: Principal | str) -> None:
        """An unexpected error at a step: back off like an outage, log the traceback once."""
        if match.attempts == 0 or (match.last_error or "") != repr(exc)[:500]:
            self.metrics.step_stuck.labels(step.value, "error").inc()
            log.exception("saga step failed", extra={"match_id": str(match.id), "step": step.value})
        try:
            await self._save(
                match,
                by=by,
                attempts=match.attempts + 1,
                last_error=repr(exc)[:500],
                next_attempt_at=utcnow() + self._backoff(match.attempts),
            )
        except Exception:  # the database itself failed; the next pass retries
            log.debug("could not record a step error", exc_info=True)

    def _note_refusal(self, match: Match, step: Step, status: int, detail: str) -> None:
        """A step refused for good: logged and counted once (it is never retried)."""
        self.metrics.step_refused.labels(step.value, refusal_label(status)).inc()
        log.warning(
            "saga step refused by an upstream; the match moves to its end without it",
            extra={"match_id": str(match.id), "step": step.value, "status": status, "error": detail[:500]},
        )

    def _backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(300.0, self.settings.recovery_interval_seconds * 2**attempts))

    # --- the steps --------------------------------------------------------------------------

    async def _run_step(self, match: Match, step: Step) -> dict[str, Any]:
        """Do one step; returns the fields to record (an explicit `step` overrides the next).
        Raises _StepRefused with the compensation when an upstream refuses it for good."""
        if step == Step.HOLD:
            return await self._hold(match)
        if step == Step.MATCH_REQUEST:
            return await self._match_request(match)
        if step == Step.CONFIRM:
            return await self._confirm(match)
        if step == Step.FULFIL_REQUEST:
            return await self._fulfil_request(match)
        if step == Step.RELEASE:
            return await self._release(match)
        if step == Step.REOPEN_REQUEST:
            return await self._reopen_request(match)
        raise AssertionError(f"unknown step {step}")

    async def _hold(self, match: Match) -> dict[str, Any]:
        """Hold the window; refused: the match failed, nothing held."""
        try:
            booking = await self.roster.hold(
                expert_id=match.expert_id,
                start=match.start_date,
                end=match.end_date,
                request_id=match.request_id,
                match_id=match.id,
            )
        except UpstreamRefused as exc:
            refusal = hold_refusal(exc)
            ended = {"status": MatchStatus.FAILED, "step": None, "target_status": None}
            raise _StepRefused(refusal, exc.status, {**ended, "reason": refusal.detail}) from exc
        return {"booking_id": booking.id}

    async def _match_request(self, match: Match) -> dict[str, Any]:
        """Move the request to `matched`; refused (and not already there): release, fail."""
        try:
            await self._transition(match, "match")
        except UpstreamRefused as exc:
            status = await self._request_status(match.request_id)
            if status == RequestStatus.MATCHED:  # an earlier attempt of ours moved it
                return {"offered_at": utcnow()}
            refusal = request_refusal(Step.MATCH_REQUEST, exc, status, open_status=RequestStatus.IN_REVIEW)
            undo = {"step": Step.RELEASE, "target_status": MatchStatus.FAILED}
            raise _StepRefused(refusal, exc.status, {**undo, "reason": refusal.detail}) from exc
        return {"offered_at": utcnow()}

    async def _confirm(self, match: Match) -> dict[str, Any]:
        """Confirm the hold; refused or missing: release, reopen the request, the match fails."""
        try:
            booking_id = match.booking_id or await self._find_booking(match)
            if booking_id is None:
                raise UpstreamRefused(404, {"detail": "roster holds no booking for this match"})
            await self.roster.confirm(booking_id=booking_id)
        except UpstreamRefused as exc:
            refusal = Refusal(
                Step.CONFIRM,
                "confirmation-refused",
                "Roster refused to confirm the expert's hold (it was released or is gone): the "
                "offer can no longer be accepted; the request is back in review.",
                {"upstream_status": exc.status, "upstream_type": exc.problem.get("type")},
            )
            undo = {"step": Step.RELEASE, "target_status": MatchStatus.FAILED}
            raise _StepRefused(refusal, exc.status, {**undo, "reason": refusal.detail}) from exc
        return {}

    async def _fulfil_request(self, match: Match) -> dict[str, Any]:
        """Move the request to `fulfilled`; refused: undo the confirmation (and reopen the
        request when it is still `matched`)."""
        try:
            await self._transition(match, "fulfil")
        except UpstreamRefused as exc:
            status = await self._request_status(match.request_id)
            if status in (RequestStatus.FULFILLED, RequestStatus.CLOSED):
                return {}
            refusal = request_refusal(Step.FULFIL_REQUEST, exc, status, open_status=RequestStatus.MATCHED)
            target = MatchStatus.CANCELLED if refusal.slug == "request-not-open" else MatchStatus.FAILED
            undo = {"step": Step.RELEASE, "target_status": target}
            raise _StepRefused(refusal, exc.status, {**undo, "reason": refusal.detail}) from exc
        return {}

    async def _release(self, match: Match) -> dict[str, Any]:
        """Release the booking; refused: left to the reconciler. A match that never moved its
        request (a failed approval) has nothing to reopen."""
        done: dict[str, Any] = {} if match.offered_at is not None else {"step": None}
        try:
            booking_id = match.booking_id or await self._find_booking(match)
            if booking_id is not None:
                await self.roster.release(booking_id=booking_id)
        except UpstreamRefused as exc:
            self._note_refusal(match, Step.RELEASE, exc.status, str(exc))
            return {**done, "last_error": f"release refused: {exc}"[:500]}
        return done

    async def _reopen_request(self, match: Match) -> dict[str, Any]:
        """Move the request back to `in_review`; refused: a request no longer `matched` has
        nothing to reopen (the reconciler checks the rest)."""
        try:
            await self._transition(match, "reopen")
        except TransitionRefused:
            return {}
        except UpstreamRefused as exc:
            self._note_refusal(match, Step.REOPEN_REQUEST, exc.status, str(exc))
            return {"last_error": f"reopen refused: {exc}"[:500]}
        return {}

    async def _find_booking(self, match: Match) -> uuid.UUID | None:
        booking = await self.roster.booking_for_match(match_id=match.id)
        return booking.id if booking else None

    async def _transition(self, match: Match, action: str) -> None:
        note = f"{action} by matching for match {match.id}"
        await self.requests.transition(request_id=match.request_id, action=action, note=note)
