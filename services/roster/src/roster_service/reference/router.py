"""HTTP routes of the reference catalogues (`/v1/reference/*`): any authenticated caller."""

from __future__ import annotations

from fastapi import APIRouter

from mnr_shared.auth import CurrentPrincipal
from mnr_shared.problems import problem_responses
from roster_service.reference import service
from roster_service.schemas import CapabilityCatalogue, LanguageCatalogue, RegionCatalogue

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))


@router.get("/reference/capabilities", tags=["reference"], summary="MNR capabilities in their domains")
async def list_capabilities(_: CurrentPrincipal) -> CapabilityCatalogue:
    """Any authenticated caller: the 21 MNR-2016 capabilities and the expertise levels 1–4."""
    return service.capability_catalogue()


@router.get("/reference/regions", tags=["reference"], summary="UNICEF programme regions and their countries")
async def list_regions(_: CurrentPrincipal) -> RegionCatalogue:
    """Any authenticated caller: the 7 regions with their ISO3 member countries."""
    return service.region_catalogue()


@router.get("/reference/languages", tags=["reference"], summary="Common languages and CEFR levels")
async def list_languages(_: CurrentPrincipal) -> LanguageCatalogue:
    """Any authenticated caller: programme languages (BCP 47) and the CEFR levels A1–C2."""
    return service.language_catalogue()
