"""FastAPI dependencies the domain routers share: who may call a route, and the expert search query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from mnr_shared.auth import Principal, Role, require, require_roles
from mnr_shared.bounds import BoundedDate
from mnr_shared.reference import CEFR, ISO3, CapabilityNumber, ExpertiseLevel, LanguageTag, RegionCode
from roster_service.experts.service import ExpertFilters
from roster_service.models import ExpertStatus
from roster_service.profiles import READ_SCOPE, WRITE_SCOPE, VettingRules

PD, ADMIN, EXPERT, OFFICE = (
    Role.PROGRAMME_DIVISION.value,
    Role.ADMIN.value,
    Role.EXPERT.value,
    Role.COUNTRY_OFFICE.value,
)
# Who may call each route; the service then narrows what each caller sees or may change.
AnyReader = Annotated[Principal, Depends(require(roles=(PD, ADMIN, EXPERT, OFFICE), scopes=(READ_SCOPE,)))]
Searcher = Annotated[Principal, Depends(require(roles=(PD, ADMIN, OFFICE), scopes=(READ_SCOPE,)))]
ProfileWriter = Annotated[Principal, Depends(require_roles(PD, ADMIN, EXPERT))]
ExpertCaller = Annotated[Principal, Depends(require_roles(EXPERT))]
CalendarReader = Annotated[Principal, Depends(require(roles=(PD, ADMIN, EXPERT), scopes=(READ_SCOPE,)))]
Vetter = Annotated[Principal, Depends(require_roles(PD, ADMIN))]
Admin = Annotated[Principal, Depends(require_roles(ADMIN))]
Booker = Annotated[Principal, Depends(require(roles=(PD, ADMIN), scopes=(WRITE_SCOPE,)))]
BookingReader = Annotated[Principal, Depends(require(roles=(PD, ADMIN), scopes=(READ_SCOPE,)))]
FeedReader = Annotated[Principal, Depends(require(roles=(ADMIN,), scopes=(READ_SCOPE,)))]


async def _search_filters(
    capability: Annotated[
        list[CapabilityNumber], Query(description="Repeatable; the expert must have every one (AND).")
    ] = [],  # noqa: B006
    min_level: Annotated[
        ExpertiseLevel, Query(description="Minimum level for every `capability` given.")
    ] = 1,
    language: Annotated[LanguageTag | None, Query(description="BCP 47; `en` matches `en-GB`.")] = None,
    min_language_level: Annotated[CEFR | None, Query()] = None,
    region: Annotated[RegionCode | None, Query(description="UNICEF region of country experience.")] = None,
    country: Annotated[ISO3 | None, Query(description="Country experience (ISO3).")] = None,
    status: Annotated[list[ExpertStatus], Query(description="Repeatable.")] = [],  # noqa: B006
    available_from: Annotated[BoundedDate | None, Query(description="Free for the whole window.")] = None,
    available_to: Annotated[BoundedDate | None, Query()] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Text in name or summary.")
    ] = None,
) -> ExpertFilters:
    """The filters of `GET /v1/experts`, for routes that take the same query."""
    return ExpertFilters(
        capability=capability,
        min_level=min_level,
        language=language,
        min_language_level=min_language_level,
        region=region,
        country=country,
        status=status,
        available_from=available_from or available_to,
        available_to=available_to or available_from,
        q=q,
    )


SearchFilters = Annotated[ExpertFilters, Depends(_search_filters)]


async def _vetting_rules(request: Request) -> VettingRules:
    """The vetting gate as this app's settings configure it (`ROSTER_VETTING_VALID_MONTHS`)."""
    return VettingRules(valid_months=int(request.app.state.settings.vetting_valid_months))


VettingRulesDep = Annotated[VettingRules, Depends(_vetting_rules)]
