"""Tables of the notifier: where it is in each event stream, webhook subscriptions, deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field

from mnr_shared.db import UTCDateTime, string_enum, utcnow
from notifier_service.db import Base, metadata

__all__ = [
    "Base",
    "Delivery",
    "DeliveryStatus",
    "StreamCursor",
    "Subscription",
    "SubscriptionStatus",
    "metadata",
]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EmailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed: an SMTP attempt may be under way
    SENT = "sent"
    SKIPPED = "skipped"  # nobody to send it to (no address configured or known)
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # the notifier stopped mid-attempt: not sent again (at most once)


class StreamCursor(Base, table=True):
    """The last event of a stream whose deliveries are recorded (moved in the same transaction)."""

    __tablename__ = "stream_cursors"

    stream: str = Field(primary_key=True, max_length=20)
    after: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Subscription(Base, table=True):
    __tablename__ = "subscriptions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Who manages it: `service:<client_id>` for a client, else the admin's `sub`.
    owner: str = Field(max_length=220, index=True)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    status: SubscriptionStatus = Field(
        default=SubscriptionStatus.ACTIVE,
        sa_column=Column(string_enum(SubscriptionStatus, "subscription_status"), nullable=False),
    )
    disabled_reason: str | None = Field(default=None, max_length=200)
    # Since when its deliveries have been failing without a success in between (None: healthy).
    failing_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Delivery(Base, table=True):
    """One event for one subscription, with its attempts so far. One per (subscription, event):
    reading a stream page twice (a restart) records nothing new."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="subscriptions.id", index=True, ondelete="CASCADE")
    # The `webhook-id` header: the event's id, the same on every attempt.
    event_id: uuid.UUID
    event_type: str = Field(max_length=60)
    # The body as sent: {"type", "timestamp", "data"}.
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING,
        sa_column=Column(string_enum(DeliveryStatus, "delivery_status"), nullable=False),
    )
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class EmailJob(Base, table=True):
    """One email to write for one event, one message and one audience (the expert, the office,
    PD): recorded with the cursor move, so each is written once at most."""

    __tablename__ = "email_jobs"
    __table_args__ = (
        UniqueConstraint("event_id", "trigger", "audience"),
        Index("ix_email_jobs_due", "status", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    event_id: uuid.UUID
    event_type: str = Field(max_length=60)
    trigger: str = Field(max_length=20)
    audience: str = Field(max_length=20)
    # The id the event is about (a match, a request): a later event can call off a reminder.
    about: str = Field(default="", max_length=64, index=True)
    # The event's subject and data (ids only): the facts are fetched when the email is written.
    event: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: EmailStatus = Field(
        default=EmailStatus.PENDING,
        sa_column=Column(string_enum(EmailStatus, "email_status"), nullable=False),
    )
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=True)
    )
    recipient: str | None = Field(default=None, max_length=320)
    language: str | None = Field(default=None, max_length=5)
    subject: str | None = Field(default=None, max_length=300)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
