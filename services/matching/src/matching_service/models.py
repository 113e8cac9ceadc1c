"""Tables of the matching service: matches (with their saga step) and scoring policy versions."""

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

__all__ = [
    "LIVE_STATUSES",
    "Base",
    "Match",
    "MatchStatus",
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
