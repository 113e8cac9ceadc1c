"""Tables of the requests service: requests, their needs, history, comments, reference counters, outbox."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Column, Index, Text
from sqlmodel import Field

from mnr_shared.db import UTCDateTime, string_enum, utcnow
from mnr_shared.events import OutboxColumns
from mnr_shared.reference import CEFR
from requests_service.db import Base, idempotency_keys, metadata

__all__ = [
    "Action",
    "ActorRole",
    "AssistanceRequest",
    "Base",
    "HistoryKind",
    "Importance",
    "Modality",
    "NationalityPreference",
    "OutboxEvent",
    "Priority",
    "ReferenceCounter",
    "RequestCapability",
    "RequestComment",
    "RequestEvent",
    "RequestLanguage",
    "RequestStatus",
    "idempotency_keys",
    "metadata",
]


class RequestStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    MATCHED = "matched"
    FULFILLED = "fulfilled"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Action(StrEnum):
    """What `POST /v1/requests/{id}/transitions` can ask for (DESIGN §5)."""

    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    START_REVIEW = "start_review"
    REJECT = "reject"
    MATCH = "match"
    FULFIL = "fulfil"
    CLOSE = "close"
    CANCEL = "cancel"
    REOPEN = "reopen"


class Modality(StrEnum):
    REMOTE = "remote"
    IN_COUNTRY = "in_country"
    EITHER = "either"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class NationalityPreference(StrEnum):
    ANY = "any"
    NATIONAL = "national"
    INTERNATIONAL = "international"


class Importance(StrEnum):
    REQUIRED = "required"
    DESIRED = "desired"


class ActorRole(StrEnum):
    """The capacity in which someone acted on a request, as history and comments record it."""

    COUNTRY_OFFICE = "country_office"
    PROGRAMME_DIVISION = "programme_division"
    ADMIN = "admin"
    SERVICE = "service"


class HistoryKind(StrEnum):
    CREATED = "created"
    EDITED = "edited"
    TRANSITION = "transition"


class AssistanceRequest(Base, table=True):
    __tablename__ = "assistance_requests"
    __table_args__ = (
        CheckConstraint("effort_days >= 1", name="effort_days"),
        CheckConstraint("start_date <= end_date", name="window"),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_assistance_requests_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    reference: str = Field(max_length=20, unique=True)
    country: str = Field(max_length=3, index=True)
    # Derived from the country when written, so region filters and reports need no lookup table.
    region: str | None = Field(default=None, max_length=10, index=True)
    title: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    modality: Modality = Field(sa_column=Column(string_enum(Modality, "modality"), nullable=False))
    start_date: date
    end_date: date
    effort_days: int
    priority: Priority = Field(
        sa_column=Column(string_enum(Priority, "priority"), nullable=False, index=True)
    )
    nationality_preference: NationalityPreference = Field(
        sa_column=Column(string_enum(NationalityPreference, "nationality_preference"), nullable=False)
    )
    status: RequestStatus = Field(
        sa_column=Column(string_enum(RequestStatus, "status"), nullable=False, index=True)
    )
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(default=1)


class RequestCapability(Base, table=True):
    """One MNR capability a request asks for; the table the `capability` filter and stats read."""

    __tablename__ = "request_capabilities"
    __table_args__ = (
        CheckConstraint("capability BETWEEN 1 AND 21", name="capability"),
        CheckConstraint("min_level BETWEEN 1 AND 4", name="min_level"),
        Index("ix_request_capabilities_capability", "capability"),
    )

    request_id: uuid.UUID = Field(foreign_key="assistance_requests.id", primary_key=True, ondelete="CASCADE")
    capability: int = Field(primary_key=True)
    min_level: int
    importance: Importance = Field(sa_column=Column(string_enum(Importance, "importance"), nullable=False))
    position: int


class RequestLanguage(Base, table=True):
    __tablename__ = "request_languages"

    request_id: uuid.UUID = Field(foreign_key="assistance_requests.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(primary_key=True, max_length=35)
    min_level: CEFR = Field(sa_column=Column(string_enum(CEFR, "min_level"), nullable=False))
    importance: Importance = Field(sa_column=Column(string_enum(Importance, "importance"), nullable=False))
    position: int


class RequestEvent(Base, table=True):
    """One line of a request's history: its creation, an edit, or a status transition."""

    __tablename__ = "request_history"
    __table_args__ = (Index("ix_request_history_request_id_id", "request_id", "id"),)

    # Ordered by id: a request's events are written under its row lock, so id order is time order.
    id: int | None = Field(default=None, primary_key=True)
    request_id: uuid.UUID = Field(foreign_key="assistance_requests.id", ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_sub: str = Field(max_length=200)
    actor_role: ActorRole = Field(sa_column=Column(string_enum(ActorRole, "actor_role"), nullable=False))
    kind: HistoryKind = Field(sa_column=Column(string_enum(HistoryKind, "kind"), nullable=False))
    action: Action | None = Field(
        default=None, sa_column=Column(string_enum(Action, "action"), nullable=True)
    )
    from_status: RequestStatus | None = Field(
        default=None, sa_column=Column(string_enum(RequestStatus, "from_status"), nullable=True)
    )
    to_status: RequestStatus = Field(
        sa_column=Column(string_enum(RequestStatus, "to_status"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class OutboxEvent(OutboxColumns, Base, table=True):
    """Domain events (`mnr_shared.events`), written with the change they describe."""

    __tablename__ = "outbox_events"


class RequestComment(Base, table=True):
    __tablename__ = "request_comments"
    __table_args__ = (
        Index("ix_request_comments_request_id_created_at_id", "request_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    request_id: uuid.UUID = Field(foreign_key="assistance_requests.id", ondelete="CASCADE")
    author_sub: str = Field(max_length=200)
    author_role: ActorRole = Field(sa_column=Column(string_enum(ActorRole, "author_role"), nullable=False))
    author_name: str | None = Field(default=None, max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ReferenceCounter(Base, table=True):
    """The last `TA-<year>-NNNN` number handed out per year; bumped by one atomic upsert."""

    __tablename__ = "reference_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_number: int
