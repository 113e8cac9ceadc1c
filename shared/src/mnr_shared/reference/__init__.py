"""Reference data: MNR capabilities, UNICEF programme regions, countries, languages, CEFR levels.

The CSV files beside this module are copies of the programme's reference tables, versioned
with the package; nothing here reads outside the package.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated

import langcodes
import pycountry
from pydantic import AfterValidator, BeforeValidator, Field

FRAMEWORK_VERSION = "MNR-2016"
KOSOVO = "XKX"  # user-assigned code used by UNICEF; not in ISO 3166-1


class CEFR(StrEnum):
    """Language level; C2 also stands for mother tongue."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"

    @property
    def rank(self) -> int:
        return list(CEFR).index(self) + 1


EXPERTISE_LEVELS = {1: "working knowledge", 2: "practitioner", 3: "advanced", 4: "leading expert"}


@dataclass(frozen=True)
class Capability:
    number: int
    name: str
    domain_code: str
    domain: str


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    countries: tuple[str, ...]


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def capabilities() -> tuple[Capability, ...]:
    """The 21 MNR capabilities in their 6 domains, ordered by number."""
    return tuple(
        Capability(int(r["number"]), r["capability"], r["domain_code"], r["domain"])
        for r in _rows("mnr_capabilities.csv")
    )


@cache
def regions() -> tuple[Region, ...]:
    """The 7 UNICEF programme regions with their ISO3 members."""
    members: dict[str, list[str]] = {}
    for row in _rows("unicef_programme_regions.csv"):
        members.setdefault(row["region_code"], []).append(row["iso3"])
    return tuple(
        Region(r["region_code"], r["name"], tuple(sorted(members.get(r["region_code"], []))))
        for r in _rows("unicef_regions.csv")
    )


@cache
def region_by_country() -> dict[str, str]:
    return {iso3: region.code for region in regions() for iso3 in region.countries}


def region_of(iso3: str) -> str | None:
    """The UNICEF programme region of a country, or None for countries outside the programme."""
    return region_by_country().get(iso3.upper())


@cache
def countries() -> dict[str, str]:
    """ISO 3166-1 alpha-3 code → name, plus Kosovo as XKX."""
    table = {c.alpha_3: c.name for c in pycountry.countries}
    table[KOSOVO] = "Kosovo"
    return table


def validate_country(value: str) -> str:
    code = value.strip().upper()
    if code not in countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-3 country code (or XKX)")
    return code


def normalize_language(value: str) -> str:
    """A valid BCP 47 tag in its standard form (`EN-gb` → `en-GB`, `eng` → `en`)."""
    try:
        tag = langcodes.standardize_tag(value.strip())
        language = langcodes.Language.get(tag)
    except (ValueError, LookupError) as exc:
        raise ValueError(f"{value!r} is not a valid BCP 47 language tag") from exc
    if not language.language or not language.is_valid():
        raise ValueError(f"{value!r} is not a valid BCP 47 language tag")
    return tag


def language_name(tag: str) -> str:
    return str(langcodes.Language.get(tag).display_name("en"))


# Languages the programme works in most; any valid BCP 47 tag is still accepted everywhere.
COMMON_LANGUAGES = (
    "en",
    "fr",
    "es",
    "ar",
    "ru",
    "pt",
    "zh",
    "sw",
    "hi",
    "bn",
    "ur",
    "fa",
    "ps",
    "tr",
    "id",
    "ms",
    "th",
    "vi",
    "km",
    "lo",
    "my",
    "fil",
    "ne",
    "si",
    "ta",
    "am",
    "so",
    "ha",
    "yo",
    "ig",
    "zu",
    "af",
    "rw",
    "mg",
    "uk",
    "ka",
    "hy",
    "az",
    "kk",
    "uz",
    "ky",
    "tg",
    "sq",
    "sr",
    "mk",
    "ro",
    "bg",
    "el",
    "mn",
    "ti",
    "om",
    "wo",
    "ln",
    "ht",
)


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


ISO3 = Annotated[
    str,
    BeforeValidator(_upper),
    AfterValidator(validate_country),
    Field(examples=["KEN"], description="ISO 3166-1 alpha-3 (XKX for Kosovo)"),
]
LanguageTag = Annotated[
    str,
    AfterValidator(normalize_language),
    Field(max_length=35, examples=["fr"], description="BCP 47 language tag"),
]
CapabilityNumber = Annotated[int, Field(ge=1, le=21, description="MNR capability number (1–21)")]
ExpertiseLevel = Annotated[int, Field(ge=1, le=4, description="1 working knowledge … 4 leading expert")]
RegionCode = Annotated[
    str, BeforeValidator(_upper), Field(pattern="^(EAPRO|ECARO|ESARO|LACRO|MENARO|ROSA|WCARO)$")
]
