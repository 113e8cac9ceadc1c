"""Tables of the roster service: experts, their expertise, languages, calendar, bookings, feed, audit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import DDL, JSON, CheckConstraint, Column, Index, event
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlmodel import Field

from mnr_shared.db import UTCDateTime, string_enum, utcnow
from mnr_shared.events import OutboxColumns
from roster_service.db import Base, idempotency_keys, metadata

__all__ = [
    "ActiveBookingStatuses",
    "AuditEntry",
    "Base",
    "Booking",
    "BookingStatus",
    "Change",
    "Expert",
    "ExpertCapability",
    "ExpertCountry",
    "ExpertLanguage",
    "ExpertStatus",
    "Modality",
    "OutboxEvent",
    "Unavailability",
    "idempotency_keys",
    "metadata",
]


class ExpertStatus(StrEnum):
    APPLICANT = "applicant"
    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"


class Modality(StrEnum):
    REMOTE = "remote"
    IN_COUNTRY = "in_country"
    EITHER = "either"


class BookingStatus(StrEnum):
    HOLD = "hold"
    CONFIRMED = "confirmed"
    RELEASED = "released"


ActiveBookingStatuses = (BookingStatus.HOLD.value, BookingStatus.CONFIRMED.value)


class Expert(Base, table=True):
    __tablename__ = "experts"
    __table_args__ = (
        CheckConstraint("years_experience IS NULL OR years_experience >= 0", name="years"),
        CheckConstraint("daily_rate_amount IS NULL OR daily_rate_amount >= 0", name="rate"),
        Index("ix_experts_created_at_id", "created_at", "id"),
        # `GET /v1/experts?vetting_due_before=`: whose safeguarding check falls due.
        Index("ix_experts_safeguarding_check_on", "safeguarding_check_on"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    full_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254, unique=True)
    phone: str | None = Field(default=None, max_length=40)
    nationalities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    residence_country: str | None = Field(default=None, max_length=3)
    gender: str | None = Field(default=None, max_length=40)
    summary: str | None = Field(default=None, max_length=4000)
    years_experience: int | None = None
    daily_rate_amount: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    daily_rate_currency: str | None = Field(default=None, max_length=3)
    modality: Modality = Field(sa_column=Column(string_enum(Modality, "modality"), nullable=False))
    status: ExpertStatus = Field(
        sa_column=Column(string_enum(ExpertStatus, "expert_status"), nullable=False, index=True)
    )
    status_reason: str | None = Field(default=None, max_length=1000)
    references_checked_on: date | None = None
    safeguarding_check_on: date | None = None
    bsafe_completed_on: date | None = None
    owner_sub: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # When the expert last said their calendar is up to date, or changed their unavailability
    # (either counts); stale-availability reminders start from it.
    availability_confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    version: int = Field(default=1, nullable=False)


class ExpertCapability(Base, table=True):
    __tablename__ = "expert_capabilities"
    __table_args__ = (
        CheckConstraint("capability BETWEEN 1 AND 21", name="capability"),
        CheckConstraint("level BETWEEN 1 AND 4", name="level"),
        Index("ix_expert_capabilities_capability_level", "capability", "level"),
    )

    expert_id: uuid.UUID = Field(foreign_key="experts.id", primary_key=True, ondelete="CASCADE")
    capability: int = Field(primary_key=True)
    level: int


class ExpertLanguage(Base, table=True):
    __tablename__ = "expert_languages"
    __table_args__ = (
        CheckConstraint("level_rank BETWEEN 1 AND 6", name="level_rank"),
        Index("ix_expert_languages_tag_level_rank", "tag", "level_rank"),
    )

    expert_id: uuid.UUID = Field(foreign_key="experts.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(primary_key=True, max_length=35)
    level: str = Field(max_length=2)
    level_rank: int  # CEFR A1..C2 as 1..6, for range filters


class ExpertCountry(Base, table=True):
    """Countries an expert has worked in, with their UNICEF region (for region filters)."""

    __tablename__ = "expert_countries"
    __table_args__ = (
        Index("ix_expert_countries_iso3", "iso3"),
        Index("ix_expert_countries_region", "region"),
    )

    expert_id: uuid.UUID = Field(foreign_key="experts.id", primary_key=True, ondelete="CASCADE")
    iso3: str = Field(primary_key=True, max_length=3)
    region: str | None = Field(default=None, max_length=6)


class Unavailability(Base, table=True):
    __tablename__ = "unavailability"
    __table_args__ = (
        CheckConstraint("start_date <= end_date", name="ordered"),
        Index("ix_unavailability_expert_id_start_date", "expert_id", "start_date"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    expert_id: uuid.UUID = Field(foreign_key="experts.id", ondelete="CASCADE")
    start_date: date
    end_date: date
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Booking(Base, table=True):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("start_date <= end_date", name="ordered"),
        Index("ix_bookings_expert_id_start_date", "expert_id", "start_date"),
        # The database itself refuses two live bookings of one expert over overlapping days.
        ExcludeConstraint(
            ("expert_id", "="),
            (sa.text("daterange(start_date, end_date, '[]')"), "&&"),
            name="ex_bookings_no_overlap",
            using="gist",
            where=sa.text("status IN ('hold', 'confirmed')"),
        ).ddl_if(dialect="postgresql"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    expert_id: uuid.UUID = Field(foreign_key="experts.id")
    start_date: date
    end_date: date
    status: BookingStatus = Field(
        sa_column=Column(string_enum(BookingStatus, "booking_status"), nullable=False)
    )
    request_id: uuid.UUID
    match_id: uuid.UUID = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


# btree_gist lets a GiST exclusion constraint compare uuid with `=`.
event.listen(
    Booking.__table__,  # type: ignore[attr-defined]
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS btree_gist").execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)


class Change(Base, table=True):
    """The change feed: one row per change to an expert's matching projection."""

    __tablename__ = "changes"

    seq: int | None = Field(default=None, primary_key=True)
    expert_id: uuid.UUID = Field(index=True)
    kind: str = Field(max_length=10)
    expert: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OutboxEvent(OutboxColumns, Base, table=True):
    """Domain events (`mnr_shared.events`), written with the change they describe."""

    __tablename__ = "outbox_events"


class AuditEntry(Base, table=True):
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_expert_id_id", "expert_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    expert_id: uuid.UUID
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_sub: str = Field(max_length=200)
    actor_role: str = Field(max_length=40)
    action: str = Field(max_length=40)
    changed_fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, max_length=1000)
