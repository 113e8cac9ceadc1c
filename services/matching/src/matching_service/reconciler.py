"""The reconciler: a periodic pass that compares matches, roster bookings and request statuses.

It checks the three invariants from matching's side — no live booking without a live match; no
`matched` request without a live match and no `fulfilled` one without an accepted match; no
confirmed booking for a withdrawn, cancelled or rejected request — repairs what it safely can,
and reports the rest (a row in `inconsistencies`, one log line when first found, the
`matching_inconsistencies_open` gauge):

- a live booking of a match that is no longer live: released (`orphan_hold`);
- an open offer whose hold is gone: the offer failed, the request reopened (`offer_hold_lost`);
- a `matched` request without a live match: reopened with matching's token, If-Match on the
  version seen (`matched_no_match`);
- a `fulfilled` request without an accepted match: reported (`fulfilled_no_match`);
- an accepted match whose booking is not confirmed: reported (`accepted_no_booking`);
- a confirmed booking for a withdrawn, cancelled or rejected request: reported
  (`confirmed_abandoned`);
- a saga step that failed `stuck_step_attempts` times in a row: reported (`stuck_step`).

Matches with a step under way belong to the saga and are left alone. Bookings roster holds for
a match id matching never made are beyond its sight. Orchestration only: queries are in
`matches` and `inconsistencies`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching_service import inconsistencies, matches
from matching_service.clients.models import BookingStatus, RequestStatus, UpstreamRequest
from matching_service.clients.upstream import (
    RequestsClient,
    RosterClient,
    UpstreamRefused,
    UpstreamUnavailable,
)
from matching_service.config import Settings
from matching_service.errors import ProblemError
from matching_service.inconsistencies import Finding
from matching_service.metrics import MatchingMetrics
from matching_service.models import InconsistencyKind, Match, MatchStatus, Step
from matching_service.saga import ABANDONED_REQUEST_STATUSES, Saga
from mnr_shared.db import utcnow

log = logging.getLogger("matching.reconciler")

LIVE_BOOKING = frozenset({BookingStatus.HOLD, BookingStatus.CONFIRMED})
REOPEN_NOTE = "Reopened by matching's reconciler: no live match holds this request."


class Reconciler:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        roster: RosterClient,
        requests: RequestsClient,
        saga: Saga,
        settings: Settings,
        metrics: MatchingMetrics,
    ) -> None:
        self.sessions = sessions
        self.roster = roster
        self.requests = requests
        self.saga = saga
        self.settings = settings
        self.metrics = metrics
        self._last_pass_error: str | None = None

    async def run(self) -> None:
        """The loop: at start-up, then every `reconcile_interval_seconds`; a failed pass is
        logged when its error is new."""
        while True:
            try:
                await self.reconcile()
                self._last_pass_error = None
            except Exception as exc:
                self.metrics.passes.labels("failed").inc()
                if repr(exc) != self._last_pass_error:
                    log.exception("reconciliation pass failed")
                self._last_pass_error = repr(exc)
            await asyncio.sleep(self.settings.reconcile_interval_seconds)

    async def reconcile(self) -> list[Finding]:
        """One pass: check, repair, record and report; returns what it found."""
        started = utcnow()
        findings: list[Finding] = []
        complete = True  # when an upstream could not be read, nothing is resolved by absence
        async with self.sessions() as session:
            to_check = await matches.at_rest_to_check(
                session=session,
                settled_since=started - timedelta(hours=self.settings.reconcile_lookback_hours),
            )
        for match in to_check:
            try:
                findings += await self._check_match(match)
            except (UpstreamUnavailable, UpstreamRefused, ProblemError):
                complete = False
        try:
            findings += await self._check_requests()
        except (UpstreamUnavailable, UpstreamRefused, ProblemError):
            complete = False
        findings += await self._stuck_steps()
        await self._record(findings, started=started, complete=complete)
        self.metrics.passes.labels("ok" if complete else "partial").inc()
        return findings

    # --- matches against roster ---------------------------------------------------------------

    async def _check_match(self, match: Match) -> list[Finding]:
        booking = await self.roster.booking_for_match(match_id=match.id)
        live = booking is not None and booking.status in LIVE_BOOKING

        def found(
            kind: InconsistencyKind, subject: uuid.UUID, detail: str, repair: str | None = None
        ) -> Finding:
            return Finding(
                kind,
                subject,
                detail,
                match_id=match.id,
                request_id=match.request_id,
                booking_id=booking.id if booking else None,
                expert_id=match.expert_id,
                repair=repair,
            )

        if match.status == MatchStatus.OFFERED:
            if live:
                return []
            ended = await self.saga.cancel_offer(
                match_id=match.id,
                reason="The expert's hold was released in roster.",
                target=MatchStatus.FAILED,
            )
            repaired = "offer failed, request reopened" if ended else None
            lost = "An open offer's hold is no longer live in roster."
            return [found(InconsistencyKind.OFFER_HOLD_LOST, match.id, lost, repaired)]
        if match.status == MatchStatus.ACCEPTED:
            if booking is None or booking.status != BookingStatus.CONFIRMED:
                said = booking.status.value if booking else "missing"
                detail = f"An accepted match's booking is {said} in roster."
                return [found(InconsistencyKind.ACCEPTED_NO_BOOKING, match.id, detail)]
            request = await self.requests.get(match.request_id)
            if request.status in ABANDONED_REQUEST_STATUSES:
                detail = f"A confirmed booking holds the expert for a {request.status.value} request."
                return [found(InconsistencyKind.CONFIRMED_ABANDONED, booking.id, detail)]
            return []
        if booking is None or not live:
            return []
        repair: str | None = "released"
        try:
            await self.roster.release(booking_id=booking.id)
        except UpstreamRefused as exc:
            repair = None
            log.warning(
                "orphan hold could not be released", extra={"booking_id": str(booking.id), "error": str(exc)}
            )
        detail = f"A {booking.status.value} booking belongs to a {match.status.value} match."
        return [found(InconsistencyKind.ORPHAN_HOLD, booking.id, detail, repair)]

    # --- requests against matches -------------------------------------------------------------

    async def _check_requests(self) -> list[Finding]:
        findings: list[Finding] = []
        cursor: str | None = None
        while True:
            page = await self.requests.page(
                status=[RequestStatus.MATCHED, RequestStatus.FULFILLED], cursor=cursor
            )
            async with self.sessions() as session:
                live = await matches.live_by_request(session=session, request_ids=[r.id for r in page.items])
            for request in page.items:
                match = live.get(request.id)
                if request.status == RequestStatus.MATCHED and match is None:
                    finding = await self._reopen(request)
                    findings += [finding] if finding else []
                elif request.status == RequestStatus.FULFILLED and (
                    match is None or match.status != MatchStatus.ACCEPTED
                ):
                    findings.append(
                        Finding(
                            InconsistencyKind.FULFILLED_NO_MATCH,
                            request.id,
                            "A fulfilled request has no accepted match.",
                            request_id=request.id,
                            match_id=match.id if match else None,
                        )
                    )
            cursor = page.next_cursor
            if cursor is None:
                return findings

    async def _reopen(self, request: UpstreamRequest) -> Finding | None:
        """Reopen a `matched` request no live match holds, unless it changed since it was read
        (a match made meanwhile holds it, or it moved on): then the next pass decides."""
        async with self.sessions() as session:
            if await matches.live_by_request(session=session, request_ids=[request.id]):
                return None
        repair: str | None = "request reopened"
        try:
            await self.requests.transition(
                request_id=request.id, action="reopen", note=REOPEN_NOTE, if_version=request.version
            )
        except UpstreamRefused as exc:
            if exc.status in (409, 412):
                return None
            repair = None
            log.warning(
                "request could not be reopened", extra={"request_id": str(request.id), "error": str(exc)}
            )
        return Finding(
            InconsistencyKind.MATCHED_NO_MATCH,
            request.id,
            "A matched request has no live match.",
            request_id=request.id,
            repair=repair,
        )

    # --- the saga's own steps -----------------------------------------------------------------

    async def _stuck_steps(self) -> list[Finding]:
        async with self.sessions() as session:
            rows = await matches.stuck(session=session, min_attempts=self.settings.stuck_step_attempts)
        per_step = dict.fromkeys(Step, 0)
        for row in rows:
            if row.step is not None:
                per_step[row.step] += 1
        for step, count in per_step.items():
            self.metrics.stuck_steps.labels(step.value).set(count)
        return [
            Finding(
                InconsistencyKind.STUCK_STEP,
                row.id,
                f"Step {row.step.value if row.step else '?'} failed {row.attempts} times: "
                f"{row.last_error or ''}",
                match_id=row.id,
                request_id=row.request_id,
                expert_id=row.expert_id,
            )
            for row in rows
        ]

    # --- bookkeeping --------------------------------------------------------------------------

    async def _record(self, findings: list[Finding], *, started: datetime, complete: bool) -> None:
        now = utcnow()
        for finding in findings:
            async with self.sessions() as session:
                news = await inconsistencies.record(session=session, finding=finding, now=now)
            extra = {"kind": finding.kind.value, "subject": str(finding.subject), "detail": finding.detail}
            if finding.repair is not None:
                self.metrics.repairs.labels(finding.kind.value).inc()
                log.info("inconsistency repaired", extra={**extra, "repair": finding.repair})
            elif news:
                log.warning("inconsistency found", extra=extra)
        async with self.sessions() as session:
            if complete:
                await inconsistencies.resolve_unseen(session=session, seen_before=started, now=now)
            counts = await inconsistencies.open_counts(session=session)
        for kind, count in counts.items():
            self.metrics.inconsistencies_open.labels(kind.value).set(count)
