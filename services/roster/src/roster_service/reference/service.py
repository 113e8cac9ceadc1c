"""The reference catalogues every caller may read: MNR capabilities, UNICEF regions, languages."""

from __future__ import annotations

from functools import cache

from mnr_shared import reference
from roster_service.schemas import (
    CapabilityCatalogue,
    CapabilityRead,
    CEFRLevelRead,
    CountryRead,
    DomainRead,
    LanguageCatalogue,
    LanguageRead,
    LevelRead,
    RegionCatalogue,
    RegionRead,
)


@cache
def capability_catalogue() -> CapabilityCatalogue:
    """The 21 MNR capabilities, grouped into their 6 domains in framework order."""
    caps = reference.capabilities()
    domains: dict[str, DomainRead] = {}
    for cap in caps:
        domain = domains.setdefault(
            cap.domain_code, DomainRead(code=cap.domain_code, name=cap.domain, capabilities=[])
        )
        domain.capabilities.append(cap.number)
    return CapabilityCatalogue(
        framework_version=reference.FRAMEWORK_VERSION,
        items=[
            CapabilityRead(number=c.number, name=c.name, domain_code=c.domain_code, domain=c.domain)
            for c in caps
        ],
        domains=list(domains.values()),
        levels=[LevelRead(level=k, description=v) for k, v in reference.EXPERTISE_LEVELS.items()],
    )


@cache
def region_catalogue() -> RegionCatalogue:
    """The 7 UNICEF programme regions with their member countries."""
    names = reference.countries()
    return RegionCatalogue(
        items=[
            RegionRead(
                code=r.code,
                name=r.name,
                countries=[CountryRead(iso3=c, name=names.get(c, c)) for c in r.countries],
            )
            for r in reference.regions()
        ]
    )


@cache
def language_catalogue() -> LanguageCatalogue:
    """Common programme languages with English names, and the CEFR levels."""
    return LanguageCatalogue(
        items=[LanguageRead(tag=t, name=reference.language_name(t)) for t in reference.COMMON_LANGUAGES],
        levels=[CEFRLevelRead(code=level.value, rank=level.rank) for level in reference.CEFR],
    )
