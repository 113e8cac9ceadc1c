"""Tables of the matching service: matches (with their saga step), policy versions, findings, the outbox."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index
from sqlmodel import Field

from matching_service.db import Base, idempotency_keys, metadata
from mnr_shared.db import UTCDateTime, string_enum, utcnow
from mnr_shared.events import OutboxColumns

__all__ = [
    "LIVE_STATUSES",
    "Base",
    "Inconsistency",
    "InconsistencyKind",
    "InconsistencyStatus",
    "Match",
    "MatchStatus",
    "OutboxEvent",
    "PolicyVersion",
    "Step",
    "idempotency_keys",
    "metadata",
]


class MatchStatus(StrEnum):
    PENDING = "pending"  # approved; the hold and the request update are under way
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"  # the saga could not complete; whatever it held is released


LIVE_STATUSES = (MatchStatus.PENDING.value, MatchStatus.OFFERED.value, MatchStatus.ACCEPTED.value)


class Step(StrEnum):
    """The next durable saga step; each is idempotent, so a retry after a crash is safe."""

    HOLD = "hold"  # place the hold in roster (Idempotency-Key = match id)
    MATCH_REQUEST = "match_request"  # move the request to `matched`
    CONFIRM = "confirm"  # confirm the booking (accept)
    FULFIL_REQUEST = "fulfil_request"  # move the request to `fulfilled`
    RELEASE = "release"  # release the booking (decline, cancel, expiry, failure)
    REOPEN_REQUEST = "reopen_request"  # move the request back to `in_review`


class Match(Base, table=True):
    __tablename__ = "matches"
    __table_args__ = (
        # Only one live match per request, enforced by the database on both engines.
        Index(
            "uq_matches_live_request",
            "request_id",
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'offered', 'accepted')"),
            postgresql_where=sa.text("status IN ('pending', 'offered', 'accepted')"),
        ),
        Index("ix_matches_expert_id_created_at", "expert_id", "created_at"),
        Index("ix_matches_step_next_attempt_at", "step", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    request_id: uuid.UUID = Field(index=True)
    request_reference: str | None = Field(default=None, max_length=20)
    # What the expert is offered, copied from the request at approval: experts cannot read
    # requests themselves (title, country, effort_days, modality; nothing personal).
    request_summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    expert_id: uuid.UUID
    expert_name: str | None = Field(default=None, max_length=200)
    status: MatchStatus = Field(
        sa_column=Column(string_enum(MatchStatus, "match_status"), nullable=False, index=True)
    )
    step: Step | None = Field(default=None, sa_column=Column(string_enum(Step, "saga_step")))
    # What `status` becomes once the pending steps are done.
    target_status: MatchStatus | None = Field(
        default=None, sa_column=Column(string_enum(MatchStatus, "match_target_status"))
    )
    start_date: date
    end_date: date
    score: float
    breakdown: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    policy_version: int
    booking_id: uuid.UUID | None = None
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    approved_by: str = Field(max_length=200)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    offered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    version: int = 1


class PolicyVersion(Base, table=True):
    """Scoring weights; every change is a new version, old ones are kept."""

    __tablename__ = "policy_versions"

    version: int = Field(primary_key=True)
    expertise: float
    language: float
    region: float
    availability: float
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OutboxEvent(OutboxColumns, Base, table=True):
    """Domain events (`mnr_shared.events`), written with the change they describe."""

    __tablename__ = "outbox_events"


class InconsistencyKind(StrEnum):
    """What the reconciler found out of step between matches, bookings and requests."""

    ORPHAN_HOLD = "orphan_hold"  # a live booking whose match is not live: released
    OFFER_HOLD_LOST = "offer_hold_lost"  # an open offer whose hold is gone: offer cancelled
    MATCHED_NO_MATCH = "matched_no_match"  # a `matched` request without a live match: reopened
    FULFILLED_NO_MATCH = "fulfilled_no_match"  # a `fulfilled` request without an accepted match
    ACCEPTED_NO_BOOKING = "accepted_no_booking"  # an accepted match whose booking is not confirmed
    CONFIRMED_ABANDONED = "confirmed_abandoned"  # confirmed for a withdrawn/cancelled/rejected request
    STUCK_STEP = "stuck_step"  # a saga step that keeps failing


class InconsistencyStatus(StrEnum):
    OPEN = "open"  # seen at the last pass and not repaired: someone must look
    REPAIRED = "repaired"  # the reconciler repaired it
    RESOLVED = "resolved"  # no longer seen (the saga or a person set it right)


OPEN_INCONSISTENCY = "status = 'open'"


class Inconsistency(Base, table=True):
    """One finding of the reconciler; an open one is updated, not repeated, while it lasts."""

    __tablename__ = "inconsistencies"
    __table_args__ = (
        # One open finding per kind and subject, even with several replicas reconciling.
        Index(
            "uq_inconsistencies_open_subject",
            "kind",
            "subject",
            unique=True,
            sqlite_where=sa.text(OPEN_INCONSISTENCY),
            postgresql_where=sa.text(OPEN_INCONSISTENCY),
        ),
        Index("ix_inconsistencies_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: InconsistencyKind = Field(
        sa_column=Column(string_enum(InconsistencyKind, "inconsistency_kind"), nullable=False)
    )
    status: InconsistencyStatus = Field(
        sa_column=Column(string_enum(InconsistencyStatus, "inconsistency_status"), nullable=False, index=True)
    )
    # The id of what is out of step (a booking, a match or a request, by kind).
    subject: str = Field(max_length=36)
    match_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    expert_id: uuid.UUID | None = None
    detail: str = Field(max_length=500)
    repair: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
