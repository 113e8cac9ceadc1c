"""Request and response shapes of the matching service."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from matching_service.models import InconsistencyKind, InconsistencyStatus, MatchStatus, Step
from mnr_shared.bounds import BoundedDate
from mnr_shared.reference import CEFR, ISO3, CapabilityNumber, ExpertiseLevel, LanguageTag

Importance = Literal["required", "desired"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapabilityNeed(Strict):
    capability: CapabilityNumber
    min_level: ExpertiseLevel = 1
    importance: Importance = "required"


class LanguageNeed(Strict):
    tag: LanguageTag
    min_level: CEFR = CEFR.B2
    importance: Importance = "required"


SEARCH_EXAMPLE: dict[str, Any] = {
    "country": "KEN",
    "capabilities": [
        {"capability": 3, "min_level": 3, "importance": "required"},
        {"capability": 5, "min_level": 2, "importance": "desired"},
    ],
    "languages": [
        {"tag": "en", "min_level": "C1", "importance": "required"},
        {"tag": "sw", "min_level": "B2", "importance": "desired"},
    ],
    "modality": "either",
    "start_date": "2027-03-01",
    "end_date": "2027-04-30",
    "effort_days": 15,
    "nationality_preference": "any",
}


class SearchBody(Strict):
    """An unsaved request to rank experts against (what-if)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SEARCH_EXAMPLE]})

    country: ISO3
    capabilities: list[CapabilityNeed] = Field(min_length=1, max_length=21)
    languages: list[LanguageNeed] = Field(default_factory=list, max_length=10)
    modality: Literal["remote", "in_country", "either"] = "either"
    start_date: BoundedDate = Field(description="1900-01-01 to 2200-12-31.")
    end_date: BoundedDate = Field(description="On or after start_date, at most 2200-12-31.")
    effort_days: int = Field(ge=1, le=400)
    nationality_preference: Literal["any", "national", "international"] = "any"
    # What `POST /v1/requests` also takes but ranking does not use: accepted and ignored, so the
    # form a country office files asks "what if I filed this?" as it is.
    title: str | None = Field(default=None, max_length=200, description="Ignored by the ranking.")
    description: str | None = Field(default=None, max_length=20_000, description="Ignored by the ranking.")
    priority: Literal["low", "normal", "high", "urgent"] | None = Field(
        default=None, description="Ignored by the ranking."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SearchBody:
        if self.start_date > self.end_date:
            raise ValueError("start_date must be on or before end_date")
        workdays = int(np.busday_count(self.start_date, self.end_date + timedelta(days=1)))
        if self.effort_days > workdays:
            raise ValueError(f"effort_days exceeds the {workdays} working days in the window")
        if not any(c.importance == "required" for c in self.capabilities):
            raise ValueError("at least one capability must be required")
        if len({c.capability for c in self.capabilities}) != len(self.capabilities):
            raise ValueError("capabilities must not repeat")
        if len({lang.tag for lang in self.languages}) != len(self.languages):
            raise ValueError("languages must not repeat")
        return self


class Component(BaseModel):
    value: float = Field(examples=[0.85])
    weight: float = Field(examples=[0.5])
    contribution: float = Field(examples=[0.425])


class CapabilityMatch(BaseModel):
    capability: int
    required_level: int
    level: int


class LanguageMatch(BaseModel):
    tag: str
    required_level: str
    level: str | None


class Candidate(BaseModel):
    rank: int
    expert_id: uuid.UUID
    full_name: str | None
    score: float
    components: dict[str, Component]
    matched_capabilities: list[CapabilityMatch]
    missing_capabilities: list[CapabilityMatch]
    matched_languages: list[LanguageMatch]
    missing_languages: list[LanguageMatch]
    region_reason: str = Field(examples=["region_experience"])
    free_days: int
    recent_assignments: int = Field(description="Confirmed bookings in the past year (tie-break).")


class Ranking(BaseModel):
    request_id: uuid.UUID | None
    policy_version: int
    index_seq: int
    index_age_seconds: float | None
    total: int = Field(description="Experts in the index.")
    eligible: int = Field(description="Experts passing every hard filter.")
    excluded: dict[str, int] = Field(description="Experts excluded, by first failing reason.")
    items: list[Candidate]


class Feasibility(BaseModel):
    """Whether an unsaved request could be filled: counts only, no experts named."""

    policy_version: int
    index_seq: int
    total: int = Field(description="Experts in the index.")
    eligible: int = Field(description="Experts passing every hard filter.")
    excluded: dict[str, int] = Field(description="Experts excluded, by first failing reason.")


class MatchCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request_id": "7d0f5c1e-8a0b-4b8e-9a51-0c7a4d6c2f10",
                    "expert_id": "1b9e6f0a-3c55-4d7e-8f7b-2a6c9d1e4f20",
                    "note": "Best fit on legislation; speaks Swahili.",
                }
            ]
        },
    )

    request_id: uuid.UUID
    expert_id: uuid.UUID
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class RequestSummary(BaseModel):
    """The request as the expert is offered it (experts cannot read requests themselves)."""

    title: str | None = None
    country: str
    effort_days: int
    modality: str


class MatchRead(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    request_reference: str | None
    request_summary: RequestSummary | None = Field(
        default=None, description="Title, country, effort and modality of the request, as approved."
    )
    expert_id: uuid.UUID
    expert_name: str | None
    status: MatchStatus
    pending_step: Step | None = Field(description="A saga step still under way, if any.")
    score: float
    breakdown: dict[str, Any]
    policy_version: int
    booking_id: uuid.UUID | None
    start_date: date
    end_date: date
    note: str | None
    reason: str | None
    approved_by: str
    created_at: datetime
    updated_at: datetime
    offered_at: datetime | None
    answered_at: datetime | None
    expires_at: datetime | None


class DeclineBody(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class CancelBody(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


class Weights(Strict):
    expertise: float = Field(ge=0, le=1, examples=[0.5])
    language: float = Field(ge=0, le=1, examples=[0.2])
    region: float = Field(ge=0, le=1, examples=[0.2])
    availability: float = Field(ge=0, le=1, examples=[0.1])

    @model_validator(mode="after")
    def _sum_to_one(self) -> Weights:
        total = self.expertise + self.language + self.region + self.availability
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1 (they sum to {total:g})")
        return self


class PolicyRead(BaseModel):
    version: int
    weights: Weights
    created_by: str
    created_at: datetime


class InconsistencyRead(BaseModel):
    """Something the reconciler found out of step between matches, bookings and requests."""

    id: uuid.UUID
    kind: InconsistencyKind
    status: InconsistencyStatus = Field(description="open (act on it), repaired, or resolved.")
    subject: str = Field(description="The id of the booking, match or request out of step.")
    match_id: uuid.UUID | None
    request_id: uuid.UUID | None
    booking_id: uuid.UUID | None
    expert_id: uuid.UUID | None
    detail: str = Field(examples=["A matched request has no live match."])
    repair: str | None = Field(
        description="What the reconciler did, when it repaired it.", examples=["released"]
    )
    created_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
