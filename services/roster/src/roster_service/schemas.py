"""Request and response shapes of the roster service."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
