"""Request and response shapes of the requests service: Create / Update / Read families, filters, stats."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mnr_shared.bounds import BoundedDate, IsoDate, IsoTimestamp, check_optional_date, check_timestamp
from mnr_shared.db import utcnow
from mnr_shared.reference import CEFR, ISO3, CapabilityNumber, ExpertiseLevel, LanguageTag, RegionCode
from requests_service.models import (
    Action,
    ActorRole,
    HistoryKind,
    Importance,
    Modality,
    NationalityPreference,
    Priority,
    RequestStatus,
)

MAX_LANGUAGES = 20
# A start "today" in an office a day behind UTC is still today for them.
START_GRACE = timedelta(days=1)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
CommentText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def working_days(start: date, end: date) -> int:
    """Monday–Friday days in [start, end], both included (0 when end precedes start)."""
    if end < start:
        return 0
    weeks, rest = divmod((end - start).days + 1, 7)
    first = start.weekday()
    return weeks * 5 + sum(1 for offset in range(rest) if (first + offset) % 7 < 5)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Bounded before the conversion, which would overflow at either end of the datetime range.
UTCTimestamp = Annotated[IsoTimestamp, AfterValidator(check_timestamp), AfterValidator(_as_utc)]
# A date an edit may leave out (null is refused): bounded as a whole, so errors name the field.
UpdateDate = Annotated[IsoDate | SkipJsonSchema[None], AfterValidator(check_optional_date)]


class CapabilityNeed(BaseModel):
    """One MNR capability the assignment needs, at a minimum expertise level."""

    model_config = ConfigDict(extra="forbid")

    capability: CapabilityNumber
    min_level: ExpertiseLevel
    importance: Importance = Importance.REQUIRED


class LanguageNeed(BaseModel):
    """One language the assignment works in, at a minimum CEFR level."""

    model_config = ConfigDict(extra="forbid")

    tag: LanguageTag
    min_level: CEFR
    importance: Importance = Importance.REQUIRED


def _check_capabilities(needs: list[CapabilityNeed]) -> list[CapabilityNeed]:
    numbers = [need.capability for need in needs]
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise ValueError(f"each capability may be listed once; repeated: {repeated}")
    if not any(need.importance is Importance.REQUIRED for need in needs):
        raise ValueError("at least one capability must be `required`")
    return needs


def _check_languages(needs: list[LanguageNeed]) -> list[LanguageNeed]:
    tags = [need.tag for need in needs]
    repeated = sorted({t for t in tags if tags.count(t) > 1})
    if repeated:
        raise ValueError(f"each language may be listed once; repeated: {repeated}")
    return needs


def _check_not_past(start: date) -> date:
    if start < (utcnow() - START_GRACE).date():
        raise ValueError("start_date is in the past")
    return start


Capabilities = Annotated[
    list[CapabilityNeed],
    Field(
        min_length=1, max_length=21, description="MNR capabilities 1–21, each once; at least one required."
    ),
    AfterValidator(_check_capabilities),
]
Languages = Annotated[
    list[LanguageNeed],
    Field(max_length=MAX_LANGUAGES, description="BCP 47 languages with a CEFR level, each once."),
    AfterValidator(_check_languages),
]

REQUEST_EXAMPLE: dict[str, Any] = {
    "country": "KEN",
    "title": "Review of the draft law on online child sexual exploitation and abuse",
    "description": (
        "Terms of reference: review the draft bill against the MNR legislation capability, "
        "advise the drafting committee and run a validation workshop with the Office of the "
        "Director of Public Prosecutions."
    ),
    "capabilities": [
        {"capability": 3, "min_level": 3, "importance": "required"},
        {"capability": 5, "min_level": 2, "importance": "desired"},
    ],
    "languages": [
        {"tag": "en", "min_level": "C1", "importance": "required"},
        {"tag": "sw", "min_level": "B1", "importance": "desired"},
    ],
    "modality": "either",
    "start_date": "2027-02-01",
    "end_date": "2027-03-26",
    "effort_days": 20,
    "priority": "high",
    "nationality_preference": "any",
}


class RequestCreate(BaseModel):
    """A technical-assistance request as a country office files it (it starts as `draft`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    country: ISO3
    title: Title
    description: Description = Field(description="Terms of reference.")
    capabilities: Capabilities
    languages: Languages = Field(default_factory=list)
    modality: Modality
    start_date: BoundedDate = Field(
        description="First day of the assignment window; not in the past, at most 2200-12-31."
    )
    end_date: BoundedDate = Field(
        description="Last day of the window; on or after start_date, at most 2200-12-31."
    )
    effort_days: int = Field(
        ge=1, description="Working days asked for; at most the Mon–Fri days in the window."
    )
    priority: Priority = Priority.NORMAL
    nationality_preference: NationalityPreference = NationalityPreference.ANY

    @field_validator("start_date")
    @classmethod
    def _start_not_past(cls, value: date, info: ValidationInfo) -> date:
        # An edit that leaves the dates alone may keep a window that has since begun.
        if isinstance(info.context, dict) and info.context.get("allow_past_start"):
            return value
        return _check_not_past(value)

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start_date")
        if start is not None and value < start:
            raise ValueError("end_date is before start_date")
        return value

    @field_validator("effort_days")
    @classmethod
    def _effort_fits_window(cls, value: int, info: ValidationInfo) -> int:
        start, end = info.data.get("start_date"), info.data.get("end_date")
        if start is not None and end is not None:
            available = working_days(start, end)
            if value > available:
                raise ValueError(
                    f"effort_days ({value}) exceeds the {available} working days (Mon–Fri) "
                    "between start_date and end_date"
                )
        return value


class RequestUpdate(BaseModel):
    """Fields to change; absent fields keep their value, lists are replaced whole, null is refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"effort_days": 15, "priority": "urgent"},
                {
                    "capabilities": [
                        {"capability": 3, "min_level": 4, "importance": "required"},
                        {"capability": 21, "min_level": 2, "importance": "desired"},
                    ]
                },
            ]
        },
    )

    # Null is refused (`_no_nulls`), so the published schema offers none: `SkipJsonSchema[None]`.
    country: ISO3 | SkipJsonSchema[None] = None
    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    capabilities: Capabilities | SkipJsonSchema[None] = None
    languages: Languages | SkipJsonSchema[None] = None
    modality: Modality | SkipJsonSchema[None] = None
    start_date: UpdateDate = None
    end_date: UpdateDate = None
    effort_days: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = None
    priority: Priority | SkipJsonSchema[None] = None
    nationality_preference: NationalityPreference | SkipJsonSchema[None] = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value

    @field_validator("start_date")
    @classmethod
    def _start_not_past(cls, value: date) -> date:
        return _check_not_past(value)


class RequestRead(BaseModel):
    """An assistance request as stored; `version` changes with every write (see the ETag header)."""

    id: uuid.UUID
    reference: str = Field(examples=["TA-2026-0042"], description="TA-<year>-<number>, unique.")
    country: str = Field(examples=["KEN"])
    region: str | None = Field(examples=["ESARO"], description="UNICEF programme region of the country.")
    title: str
    description: str
    capabilities: list[CapabilityNeed]
    languages: list[LanguageNeed]
    modality: Modality
    start_date: date
    end_date: date
    effort_days: int
    working_days: int = Field(description="Mon–Fri days in the window (the ceiling for effort_days).")
    priority: Priority
    nationality_preference: NationalityPreference
    status: RequestStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


class TransitionCreate(BaseModel):
    """An action on the status machine; `reject` needs a note (the reason)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "submit"},
                {"action": "withdraw", "note": "The ministry has found national funding."},
                {"action": "reject", "note": "Outside the MNR scope; please contact the regional office."},
            ]
        },
    )

    action: Action
    note: Note | None = None

    @field_validator("note")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class HistoryEntryRead(BaseModel):
    """One line of a request's history, oldest first."""

    id: int
    at: datetime
    actor_sub: str
    actor_role: ActorRole
    kind: HistoryKind
    action: Action | None
    from_status: RequestStatus | None
    to_status: RequestStatus
    note: str | None
    changed_fields: list[str] = Field(description="For edits: the fields whose value changed.")


class CommentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"body": "Could the mission start a week later, after the holiday?"}]
        },
    )

    body: CommentText


class CommentRead(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    author_sub: str
    author_role: ActorRole
    author_name: str | None
    body: str
    created_at: datetime


class RequestFilters(BaseModel):
    """Filters of `GET /v1/requests`; repeated parameters match any of their values."""

    status: list[RequestStatus] = Field(default_factory=list, description="Any of these statuses.")
    country: ISO3 | None = None
    region: RegionCode | None = Field(default=None, description="UNICEF programme region, e.g. ESARO.")
    capability: list[CapabilityNumber] = Field(
        default_factory=list, description="Requests asking for any of these MNR capabilities."
    )
    priority: list[Priority] = Field(default_factory=list, description="Any of these priorities.")
    created_after: UTCTimestamp | None = Field(
        default=None, description="Created at or after (UTC if no zone)."
    )
    created_before: UTCTimestamp | None = Field(default=None, description="Created before (UTC if no zone).")
    q: SearchText | None = Field(default=None, description="Text in the reference, title or description.")
    order: Literal["oldest", "newest"] = Field(
        default="oldest", description="By creation time: `oldest` first (default) or `newest` first."
    )


class StatsFilters(BaseModel):
    created_after: UTCTimestamp | None = Field(
        default=None, description="Created at or after (UTC if no zone)."
    )
    created_before: UTCTimestamp | None = Field(default=None, description="Created before (UTC if no zone).")


class StatusRegionCount(BaseModel):
    status: RequestStatus
    region: str | None = Field(description="null for countries outside the UNICEF programme regions.")
    count: int


class CapabilityCount(BaseModel):
    capability: int
    name: str
    requests: int = Field(description="Requests asking for this capability.")
    required: int = Field(description="… of which as a required capability.")


class RequestStats(BaseModel):
    """Counts for reporting: by status × region (non-zero cells) and for each of the 21 capabilities."""

    total: int
    by_status_and_region: list[StatusRegionCount]
    by_capability: list[CapabilityCount]
