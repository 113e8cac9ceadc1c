"""What a ranking takes and gives: the policy's weights, the request parsed for it, the explained results.

`RankRequest` is built once per ranking, from a typed request (the requests service's answer or
a what-if body, `from_request`) or from a plain mapping (`from_mapping`, for tests and
synthetic data); both parse and check the same way. The rules that turn these into scores are
in `scoring`.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Protocol

from matching_service.encoding import (
    CAPABILITY_COLUMNS,
    CEFR_LEVELS,
    MODALITY_CODES,
    as_date,
    base_language,
    canonical_request_id,
    cefr_rank,
    country_bits,
    day_number,
)
from mnr_shared.bounds import check_date
from mnr_shared.reference import normalize_language

COMPONENTS: Final = ("expertise", "language", "region", "availability")
REQUIRED_WEIGHT: Final = 2.0
DESIRED_WEIGHT: Final = 1.0
NATIONALITY_PREFERENCES: Final = ("any", "national", "international")


# --- policy ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """Weights of the four components; each in [0, 1], summing to 1 (within 1e-9)."""

    expertise: float = 0.5
    language: float = 0.2
    region: float = 0.2
    availability: float = 0.1

    def __post_init__(self) -> None:
        for name, weight in self.weights().items():
            if not (isinstance(weight, int | float) and math.isfinite(weight) and 0.0 <= weight <= 1.0):
                raise ValueError(f"weight {name}={weight!r} is not a number in [0, 1]")
        total = math.fsum(self.weights().values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"weights sum to {total}, not 1")

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float]) -> Policy:
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components: {sorted(unknown)}")
        return cls(**{name: float(weights[name]) for name in COMPONENTS if name in weights})

    def weights(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in COMPONENTS}


DEFAULT_POLICY: Final = Policy()


@dataclass(frozen=True, slots=True)
class CapabilityNeed:
    capability: int
    min_level: int
    required: bool

    @property
    def weight(self) -> float:
        return REQUIRED_WEIGHT if self.required else DESIRED_WEIGHT


@dataclass(frozen=True, slots=True)
class LanguageNeed:
    tag: str  # as asked (normalised BCP 47)
    base: str  # base language subtag the index matches on
    min_level: int  # CEFR rank 1 (A1) … 6 (C2)
    required: bool

    @property
    def level_name(self) -> str:
        return CEFR_LEVELS[self.min_level - 1]


# --- request -----------------------------------------------------------------------------------


class AskedCapability(Protocol):
    """A capability need as a typed request states it."""

    @property
    def capability(self) -> int: ...
    @property
    def min_level(self) -> int: ...
    @property
    def importance(self) -> str | None: ...


class AskedLanguage(Protocol):
    """A language need as a typed request states it (`min_level` a CEFR name)."""

    @property
    def tag(self) -> str: ...
    @property
    def min_level(self) -> str: ...
    @property
    def importance(self) -> str | None: ...


class AskedRequest(Protocol):
    """What a ranking reads of a typed request: a saved one (`UpstreamRequest`) or a what-if body."""

    @property
    def country(self) -> str: ...
    @property
    def capabilities(self) -> Sequence[AskedCapability]: ...
    @property
    def languages(self) -> Sequence[AskedLanguage]: ...
    @property
    def modality(self) -> str: ...
    @property
    def start_date(self) -> date: ...
    @property
    def end_date(self) -> date: ...
    @property
    def effort_days(self) -> int: ...
    @property
    def nationality_preference(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RankRequest:
    """What a ranking needs of an assistance request (saved or ad hoc), parsed and checked."""

    country: str
    capabilities: tuple[CapabilityNeed, ...]
    languages: tuple[LanguageNeed, ...]
    modality: str
    start_date: date
    end_date: date
    effort_days: int
    nationality_preference: str = "any"
    id: str | None = None

    def __post_init__(self) -> None:
        if self.country not in country_bits():
            raise ValueError(f"unknown country {self.country!r}")
        if self.modality not in MODALITY_CODES:
            raise ValueError(f"unknown modality {self.modality!r}")
        if self.nationality_preference not in NATIONALITY_PREFERENCES:
            raise ValueError(f"unknown nationality_preference {self.nationality_preference!r}")
        for name in ("start_date", "end_date"):
            try:
                check_date(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name} {exc}") from exc
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.effort_days < 1:
            raise ValueError("effort_days must be at least 1")
        if self.id is not None:
            # Bookings are matched on this form, so every spelling of the id finds them.
            object.__setattr__(self, "id", canonical_request_id(self.id))

    @classmethod
    def from_request(cls, request: AskedRequest, *, request_id: str | uuid.UUID | None = None) -> RankRequest:
        """Parse a typed request; `request_id` is the saved request's id (None for a what-if body).

        A capability or base language listed twice is merged into its strictest form.
        """
        capabilities = _capability_needs(
            (c.capability, c.min_level, c.importance) for c in request.capabilities
        )
        languages = _language_needs((lang.tag, lang.min_level, lang.importance) for lang in request.languages)
        return cls(
            country=str(request.country).strip().upper(),
            capabilities=capabilities,
            languages=languages,
            modality=str(request.modality),
            start_date=request.start_date,
            end_date=request.end_date,
            effort_days=int(request.effort_days),
            nationality_preference=str(request.nationality_preference or "any"),
            id=None if request_id is None else str(request_id),
        )

    @classmethod
    def from_mapping(cls, body: Mapping[str, Any]) -> RankRequest:
        """Parse a request given as a plain mapping, e.g. JSON or synthetic data (extra keys ignored).

        A capability or base language listed twice is merged into its strictest form.
        """
        capabilities = _capability_needs(
            (entry["capability"], entry["min_level"], entry.get("importance"))
            for entry in body.get("capabilities") or ()
        )
        languages = _language_needs(
            (entry["tag"], entry["min_level"], entry.get("importance"))
            for entry in body.get("languages") or ()
        )
        request_id = body.get("id")
        return cls(
            country=str(body["country"]).strip().upper(),
            capabilities=capabilities,
            languages=languages,
            modality=str(body["modality"]),
            start_date=as_date(body["start_date"]),
            end_date=as_date(body["end_date"]),
            effort_days=int(body["effort_days"]),
            nationality_preference=str(body.get("nationality_preference") or "any"),
            id=None if request_id is None else str(request_id),
        )

    @property
    def first_day(self) -> int:
        return day_number(self.start_date)

    @property
    def last_day(self) -> int:
        return day_number(self.end_date)


def _capability_needs(entries: Iterable[tuple[Any, Any, Any]]) -> tuple[CapabilityNeed, ...]:
    """(capability, min_level, importance) entries, checked; a repeated capability keeps the strictest."""
    capabilities: dict[int, CapabilityNeed] = {}
    for capability, min_level, importance in entries:
        number, level = int(capability), int(min_level)
        if not 1 <= number < CAPABILITY_COLUMNS or not 1 <= level <= 4:
            raise ValueError(f"capability {number} at min_level {level} is out of range")
        need = CapabilityNeed(number, level, _required(importance))
        if (seen := capabilities.get(number)) is not None:
            need = CapabilityNeed(number, max(level, seen.min_level), need.required or seen.required)
        capabilities[number] = need
    return tuple(capabilities.values())


def _language_needs(entries: Iterable[tuple[Any, Any, Any]]) -> tuple[LanguageNeed, ...]:
    """(tag, min_level, importance) entries, checked; a repeated base language keeps the strictest."""
    languages: dict[str, LanguageNeed] = {}
    for asked_tag, min_level, importance in entries:
        tag = normalize_language(str(asked_tag))
        lang = LanguageNeed(tag, base_language(tag), cefr_rank(str(min_level)), _required(importance))
        if (seen := languages.get(lang.base)) is not None:
            lang = LanguageNeed(
                seen.tag, lang.base, max(lang.min_level, seen.min_level), lang.required or seen.required
            )
        languages[lang.base] = lang
    return tuple(languages.values())


def _required(importance: object) -> bool:
    importance = str(importance or "required")
    if importance not in ("required", "desired"):
        raise ValueError(f"unknown importance {importance!r}")
    return importance == "required"


# --- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ComponentScore:
    value: float
    weight: float
    contribution: float


@dataclass(slots=True)
class CapabilityMatch:
    capability: int
    required_level: int
    level: int  # the expert's level; 0 when not held


@dataclass(slots=True)
class LanguageMatch:
    tag: str  # as the request asks for it
    required_level: str
    level: str | None  # the expert's best level in that base language; None when not spoken


@dataclass(slots=True)
class RankedExpert:
    expert_id: str
    full_name: str | None
    score: float
    components: dict[str, ComponentScore]
    matched_capabilities: list[CapabilityMatch]
    missing_capabilities: list[CapabilityMatch]
    matched_languages: list[LanguageMatch]
    missing_languages: list[LanguageMatch]
    region_reason: str
    free_days: int
    recent_assignments: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Ranking:
    total: int  # experts in the index
    eligible: int  # experts passing every hard filter
    excluded: dict[str, int]  # per reason in REASONS order; total = eligible + Σ excluded
    items: list[RankedExpert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Assessment:
    """One expert against a request: the reason they are excluded (None if eligible) and the breakdown."""

    excluded_reason: str | None
    item: RankedExpert
