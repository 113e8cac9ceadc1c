"""The tables the demo data is drawn from, read once from the TOML files next to this module.

Each file is checked when it is read, against the services' own types: statuses, modalities,
priorities and nationality preferences are their enums, countries ISO 3166 alpha-3, languages
BCP 47 tags in their standard form, levels CEFR or MNR 1–4. A misspelt key is an error.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from mnr_shared.reference import CEFR, ISO3, CapabilityNumber, LanguageTag, capabilities, region_of, regions
from requests_service.models import Modality as RequestModality
from requests_service.models import NationalityPreference, Priority, RequestStatus
from roster_service.models import ExpertStatus
from roster_service.models import Modality as ExpertModality

INTERNATIONAL = "international"

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
Weight = Annotated[float, Field(ge=0)]
Chance = Annotated[float, Field(ge=0, le=1)]
Tier = Literal["primary", "secondary", "other"]


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpertMix(Table):
    groups: dict[str, Weight]
    statuses: dict[ExpertStatus, Weight]
    modalities: dict[ExpertModality, Weight]

    @model_validator(mode="after")
    def _known_groups(self) -> ExpertMix:
        known = {region.code for region in regions()} | {INTERNATIONAL}
        if unknown := set(self.groups) - known:
            raise ValueError(f"groups must be region codes or {INTERNATIONAL!r}, not {sorted(unknown)}")
        return self


class Extra(Table):
    chance: Chance
    levels: tuple[CEFR, ...] = Field(min_length=1)


class Culture(Table):
    """People who share a name pool and languages, with the countries they live in."""

    weight: Weight
    female: tuple[str, ...] = Field(min_length=1)
    male: tuple[str, ...] = Field(min_length=1)
    # "Karimov/Karimova" gives the male and female form of a surname.
    surnames: tuple[str, ...] = Field(min_length=2)
    # ISO3 → possible mother tongues, most common first.
    homes: dict[ISO3, tuple[LanguageTag, ...]] = Field(min_length=1)
    # Further languages: the chance of speaking each and the levels to draw from.
    extras: dict[LanguageTag, Extra] = Field(default_factory=dict)
    family_first: bool = False
    double_surname: Chance = 0.0


class Expertise(Table):
    closings: tuple[str, ...] = Field(min_length=1)
    domains: dict[str, Weight]
    levels: dict[Tier, tuple[Weight, Weight, Weight, Weight]]
    roles: dict[str, tuple[str, ...]]
    focus: dict[CapabilityNumber, str]

    @model_validator(mode="after")
    def _complete(self) -> Expertise:
        catalogue = capabilities()
        _same_keys("domains", self.domains, {c.domain_code for c in catalogue})
        _same_keys("roles", self.roles, {c.domain_code for c in catalogue})
        _same_keys("focus", self.focus, {c.number for c in catalogue})
        _same_keys("levels", self.levels, {"primary", "secondary", "other"})
        return self


class Assignment(Table):
    """A kind of technical assistance a country office asks for."""

    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    required: tuple[CapabilityNumber, ...] = Field(min_length=1)
    desired: tuple[CapabilityNumber, ...] = ()
    deliverables: str = Field(min_length=1)


class Assignments(Table):
    assignments: tuple[Assignment, ...] = Field(min_length=1)


class RequestCountry(Table):
    working: LanguageTag
    local: tuple[LanguageTag, ...] = ()


class RequestMix(Table):
    countries: dict[ISO3, RequestCountry] = Field(min_length=1)
    statuses: dict[RequestStatus, Weight] = Field(min_length=1)
    priorities: dict[Priority, Weight]
    modalities: dict[RequestModality, Weight]
    nationality_preferences: dict[NationalityPreference, Weight]

    @model_validator(mode="after")
    def _programme_countries(self) -> RequestMix:
        if outside := sorted(iso3 for iso3 in self.countries if region_of(iso3) is None):
            raise ValueError(f"countries must be in a UNICEF region: {outside}")
        _same_keys("priorities", self.priorities, set(Priority))
        return self


def pick(rng: random.Random, weights: Mapping[K, float]) -> K:
    """One key of a weight table, drawn in proportion to its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _same_keys(table: str, got: dict[Any, Any], wanted: set[Any]) -> None:
    if set(got) != wanted:
        raise ValueError(f"[{table}] must have exactly the keys {sorted(wanted)}, not {sorted(got)}")


def _load(name: str, shape: type[T]) -> T:
    path = Path(__file__).with_name(name)
    try:
        with path.open("rb") as file:
            return TypeAdapter(shape).validate_python(tomllib.load(file))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        exc.add_note(f"in {path}")
        raise


def load_expert_mix() -> ExpertMix:
    """experts.toml: the share of experts per group (region or international), roster statuses
    and modalities."""
    return _load("experts.toml", ExpertMix)


def load_cultures() -> dict[str, dict[str, Culture]]:
    """cultures.toml: per group and culture, the name pools, home countries with their mother
    tongues, and further languages with the chance of speaking them."""
    return _load("cultures.toml", dict[str, dict[str, Culture]])


def load_expertise() -> Expertise:
    """expertise.toml: domain weights, level weights by tier, and the words of summaries
    (roles by domain, focus by capability, closing sentences)."""
    return _load("expertise.toml", Expertise)


def load_assignments() -> tuple[Assignment, ...]:
    """assignments.toml: the kinds of assistance requested, with the capabilities each needs."""
    return _load("assignments.toml", Assignments).assignments


def load_request_mix() -> RequestMix:
    """requests.toml: the countries that file requests with their languages, and the weights of
    request statuses, priorities, modalities and nationality preferences."""
    return _load("requests.toml", RequestMix)


EXPERT_MIX = load_expert_mix()
CULTURES = load_cultures()
EXPERTISE = load_expertise()
ASSIGNMENTS = load_assignments()
REQUEST_MIX = load_request_mix()
_same_keys("groups (experts.toml and cultures.toml)", CULTURES, set(EXPERT_MIX.groups))
