"""What matching reads of roster's and requests' answers, parsed once at the edge (other fields ignored).

These mirror the fields matching uses of roster's `BookingRead` and requests' `RequestRead`
without importing either service. Values the ranking checks itself (country, modality, needs)
stay plain strings and numbers here, so a request it cannot rank is still read — and refused
as unrankable by the ranking rather than as a broken answer.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RequestStatus(StrEnum):
    """Where a request stands in the requests service's status machine."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    MATCHED = "matched"
    FULFILLED = "fulfilled"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class BookingStatus(StrEnum):
    HOLD = "hold"
    CONFIRMED = "confirmed"
    RELEASED = "released"


class Upstream(BaseModel):
    """An upstream answer: fields matching does not use are ignored, values are read-only."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestedCapability(Upstream):
    capability: int
    min_level: int
    importance: str | None = None  # "required" (the default) or "desired"


class RequestedLanguage(Upstream):
    tag: str
    min_level: str  # CEFR A1 … C2
    importance: str | None = None  # "required" (the default) or "desired"


class UpstreamRequest(Upstream):
    """An assistance request as the requests service returns it (`GET /v1/requests/{id}`)."""

    id: uuid.UUID
    reference: str | None = None
    title: str | None = None
    status: RequestStatus
    country: str
    capabilities: list[RequestedCapability] = []
    languages: list[RequestedLanguage] = []
    modality: str  # remote, in_country, either
    start_date: date
    end_date: date
    effort_days: int
    nationality_preference: str | None = None  # any (the default), national, international
    priority: str | None = None
    version: int | None = None  # for If-Match on a transition that must not race another


class RequestPage(Upstream):
    """One page of the requests service's listing: `{"items": [...], "next_cursor": ...}`."""

    items: list[UpstreamRequest]
    next_cursor: str | None = None


class Booking(Upstream):
    """A booking as roster returns it: a hold or confirmation of an expert's dates for a match."""

    id: uuid.UUID
    expert_id: uuid.UUID
    request_id: uuid.UUID
    match_id: uuid.UUID
    status: BookingStatus
    start: date
    end: date


class BookingList(Upstream):
    """Roster's answer to a booking search: `{"items": [...]}`."""

    items: list[Booking]
