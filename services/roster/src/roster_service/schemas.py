"""Request and response shapes of the roster service."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mnr_shared.bounds import BoundedDate, IsoDate, check_date
from mnr_shared.reference import CEFR, ISO3, CapabilityNumber, ExpertiseLevel, LanguageTag
from roster_service.models import BookingStatus, ExpertStatus, Modality


class CapabilityRead(BaseModel):
    number: int = Field(examples=[4])
    name: str = Field(examples=["Dedicated Law Enforcement"])
    domain_code: str = Field(examples=["criminal_justice"])
    domain: str = Field(examples=["Criminal Justice"])


class DomainRead(BaseModel):
    code: str = Field(examples=["criminal_justice"])
    name: str = Field(examples=["Criminal Justice"])
    capabilities: list[int] = Field(examples=[[4, 5, 6, 7]])


class LevelRead(BaseModel):
    level: int = Field(examples=[2])
    description: str = Field(examples=["practitioner"])


class CapabilityCatalogue(BaseModel):
    framework_version: str = Field(examples=["MNR-2016"])
    items: list[CapabilityRead]
    domains: list[DomainRead]
    levels: list[LevelRead]


class CountryRead(BaseModel):
    iso3: str = Field(examples=["KEN"])
    name: str = Field(examples=["Kenya"])


class RegionRead(BaseModel):
    code: str = Field(examples=["ESARO"])
    name: str = Field(examples=["Eastern and Southern Africa"])
    countries: list[CountryRead]


class RegionCatalogue(BaseModel):
    items: list[RegionRead]


class LanguageRead(BaseModel):
    tag: str = Field(examples=["fr"])
    name: str = Field(examples=["French"])


class CEFRLevelRead(BaseModel):
    code: str = Field(examples=["B2"])
    rank: int = Field(examples=[4])


class LanguageCatalogue(BaseModel):
    items: list[LanguageRead] = Field(
        description="Languages the programme works in most; any valid BCP 47 tag is accepted."
    )
    levels: list[CEFRLevelRead]


# --- experts ----------------------------------------------------------------------------------

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()\-]{5,24}$")]


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat")
    return values


def _lower_email(value: str) -> str:
    return value.lower()


def _currency(value: str) -> str:
    code = value.strip().upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


def _not_future(value: date | None) -> date | None:
    if value is not None and value > datetime.now(UTC).date():
        raise ValueError("a check cannot be dated in the future")
    return value if value is None else check_date(value)


Email = Annotated[EmailStr, AfterValidator(_lower_email)]
PastDate = Annotated[IsoDate | None, AfterValidator(_not_future)]
# A calendar day the roster accepts: 1900-01-01 to 2200-12-31 (`mnr_shared.bounds`).
CalendarDate = BoundedDate


# A list whose items may not repeat (the validators refuse repeats; the schema says so too).
UNIQUE: dict[str, Any] = {"uniqueItems": True}


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class DailyRate(Strict):
    amount: Decimal = Field(ge=0, le=100000, max_digits=12, decimal_places=2, examples=["450.00"])
    currency: Annotated[str, AfterValidator(_currency)] = Field(examples=["USD"])


class CapabilityLevel(Strict):
    capability: CapabilityNumber = Field(examples=[4])
    level: ExpertiseLevel = Field(examples=[3])


class LanguageLevel(Strict):
    tag: LanguageTag = Field(examples=["fr"])
    level: CEFR = Field(examples=["C1"])


class Vetting(Strict):
    references_checked_on: PastDate = None
    safeguarding_check_on: PastDate = None
    bsafe_completed_on: PastDate = None


class ExpertFields(Strict):
    """Validation shared by create and update: every list unique, every code real."""

    @field_validator("nationalities", "country_experience", check_fields=False)
    @classmethod
    def _unique_countries(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique(value, "countries")

    @field_validator("capabilities", check_fields=False)
    @classmethod
    def _unique_capabilities(cls, value: list[CapabilityLevel] | None) -> list[CapabilityLevel] | None:
        if value is not None:
            _unique([c.capability for c in value], "capability numbers")
        return value

    @field_validator("languages", check_fields=False)
    @classmethod
    def _unique_languages(cls, value: list[LanguageLevel] | None) -> list[LanguageLevel] | None:
        if value is not None:
            _unique([lang.tag for lang in value], "language tags")
        return value


EXPERT_EXAMPLE: dict[str, Any] = {
    "full_name": "Amina Odhiambo",
    "email": "amina.odhiambo@example.org",
    "phone": "+254 700 123456",
    "nationalities": ["KEN"],
    "residence_country": "KEN",
    "summary": "Former prosecutor; drafted Kenya's cybercrime provisions on OCSEA.",
    "years_experience": 14,
    "daily_rate": {"amount": "450.00", "currency": "USD"},
    "modality": "either",
    "capabilities": [{"capability": 3, "level": 4}, {"capability": 5, "level": 3}],
    "languages": [{"tag": "en", "level": "C2"}, {"tag": "sw", "level": "C2"}],
    "country_experience": ["KEN", "UGA", "TZA"],
}


class ExpertCreate(ExpertFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXPERT_EXAMPLE]})

    full_name: Name
    email: Email
    phone: Phone | None = None
    nationalities: list[ISO3] = Field(default_factory=list, max_length=5, json_schema_extra=UNIQUE)
    residence_country: ISO3 | None = None
    gender: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] | None = None
    years_experience: int | None = Field(default=None, ge=0, le=70)
    daily_rate: DailyRate | None = None
    modality: Modality = Modality.EITHER
    status: ExpertStatus | None = Field(
        default=None, description="PD/admin only; self-registration is always `applicant`."
    )
    capabilities: list[CapabilityLevel] = Field(default_factory=list, max_length=21)
    languages: list[LanguageLevel] = Field(default_factory=list, max_length=20)
    country_experience: list[ISO3] = Field(default_factory=list, max_length=100, json_schema_extra=UNIQUE)
    vetting: Vetting | None = None


class ExpertUpdate(ExpertFields):
    """PATCH: only the fields sent change; lists replace the whole list."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "summary": "Now also advising on hotline set-up.",
                    "languages": [{"tag": "en", "level": "C2"}, {"tag": "fr", "level": "B2"}],
                }
            ]
        },
    )

    # `X | SkipJsonSchema[None]`: leaving the field out keeps it, but null is refused, so the
    # published schema does not offer null (list bounds sit inside `X`, where they read as items).
    full_name: Name | SkipJsonSchema[None] = None
    email: Email | SkipJsonSchema[None] = None
    phone: Phone | None = None
    nationalities: (
        Annotated[list[ISO3], Field(max_length=5, json_schema_extra=UNIQUE)] | SkipJsonSchema[None]
    ) = None
    residence_country: ISO3 | None = None
    gender: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] | None = None
    years_experience: int | None = Field(default=None, ge=0, le=70)
    daily_rate: DailyRate | None = None
    modality: Modality | SkipJsonSchema[None] = None
    capabilities: Annotated[list[CapabilityLevel], Field(max_length=21)] | SkipJsonSchema[None] = None
    languages: Annotated[list[LanguageLevel], Field(max_length=20)] | SkipJsonSchema[None] = None
    country_experience: (
        Annotated[list[ISO3], Field(max_length=100, json_schema_extra=UNIQUE)] | SkipJsonSchema[None]
    ) = None
    vetting: Vetting | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> ExpertUpdate:
        for name in (
            "full_name",
            "email",
            "modality",
            "nationalities",
            "capabilities",
            "languages",
            "country_experience",
        ):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ExpertPublic(BaseModel):
    """What a country office may see of an active expert."""

    id: uuid.UUID
    full_name: str | None
    summary: str | None
    status: ExpertStatus
    capabilities: list[CapabilityLevel]
    languages: list[LanguageLevel]
    regions: list[str] = Field(examples=[["ESARO"]])


class ExpertShared(ExpertPublic):
    """What a client with `roster:read` alone sees: the public profile plus what matching
    needs (modality, country experience, and the nationalities and residence that its
    nationality preference and region score read); no contact data, rate, gender or vetting."""

    nationalities: list[str]
    residence_country: str | None
    modality: Modality
    country_experience: list[str]
    created_at: datetime
    updated_at: datetime
    version: int


class ExpertRead(ExpertShared):
    """The whole profile: PD, admin, the expert themself, clients with `roster:read` and
    `roster:pii`. An erased expert is an anonymous tombstone (`erased: true`, every personal
    field empty) that only PD and admin can read."""

    email: str | None
    phone: str | None
    gender: str | None
    years_experience: int | None
    daily_rate: DailyRate | None
    status_reason: str | None
    vetting: Vetting
    erased: bool = Field(default=False, description="The personal data was erased (a tombstone).")


class StatusChange(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "active", "reason": "References and safeguarding check complete."}]
        },
    )

    status: ExpertStatus
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


# --- calendar and bookings --------------------------------------------------------------------


class Period(Strict):
    start: CalendarDate = Field(examples=["2027-03-01"])
    end: CalendarDate = Field(examples=["2027-03-14"])

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start > self.end:
            raise ValueError("start must be on or before end")
        if (self.end - self.start).days > 730:
            raise ValueError("a period spans at most two years")
        return self


class UnavailabilityCreate(Period):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"start": "2027-03-01", "end": "2027-03-14", "reason": "Leave"}]},
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class UnavailabilityRead(BaseModel):
    id: uuid.UUID
    start: date
    end: date
    reason: str | None


class BookingCreate(Period):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": "2027-04-05",
                    "end": "2027-04-23",
                    "request_id": "7d0f5c1e-8a0b-4b8e-9a51-0c7a4d6c2f10",
                    "match_id": "1b9e6f0a-3c55-4d7e-8f7b-2a6c9d1e4f20",
                }
            ]
        },
    )

    request_id: uuid.UUID
    match_id: uuid.UUID


class BookingRead(BaseModel):
    id: uuid.UUID
    expert_id: uuid.UUID
    start: date
    end: date
    status: BookingStatus
    request_id: uuid.UUID
    match_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class CalendarRead(BaseModel):
    expert_id: uuid.UUID
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    unavailability: list[UnavailabilityRead]
    bookings: list[BookingRead]
    availability_confirmed_at: datetime | None = Field(
        default=None,
        description="When the expert last confirmed their availability or changed their unavailability.",
    )

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class AvailabilityConfirmed(BaseModel):
    expert_id: uuid.UUID
    availability_confirmed_at: datetime


# --- feed and history -------------------------------------------------------------------------


class ChangeItem(BaseModel):
    seq: int
    expert_id: uuid.UUID
    kind: str = Field(examples=["upsert"], description="`upsert` or `delete`")
    expert: dict[str, Any] | None = Field(
        description="The expert's matching projection after the change; null for `delete`."
    )


class ChangesPage(BaseModel):
    items: list[ChangeItem]
    next_after: int = Field(description="Pass as `after` to continue from here.")


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor_sub: str
    actor_role: str
    action: str
    changed_fields: list[str]
    reason: str | None
