"""HTTP routes of spreadsheets: the import template, import and export (thin: parse, call the
service, return).

The assembler in `roster_service.router` registers these before the experts' routes: routes
match in registration order, and `GET /v1/experts/export` must not be taken by
`GET /v1/experts/{expert_id}` (which would answer 422 for a non-UUID id).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from mnr_shared.api import ReadSessionDep, SessionDep, respond
from mnr_shared.problems import problem_responses
from roster_service.dependencies import Searcher, SearchFilters, Vetter
from roster_service.spreadsheets import service, sheets
from roster_service.spreadsheets.rows import ImportReport

router = APIRouter(prefix="/v1", tags=["spreadsheets"], responses=problem_responses(401, 403, 422))

SheetFormatQuery = Annotated[
    sheets.SheetFormat, Query(alias="format", description="`csv` (UTF-8) or `xlsx`.")
]
UploadedSheet = Annotated[sheets.Upload, Depends(sheets.read_upload)]
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The spreadsheet, as an attachment",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            sheets.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "full_name,email,capabilities,languages\n"
            "Amina Odhiambo,amina.odhiambo@example.org,3:4; 5:3,en:C2; sw:C2\n",
        },
        sheets.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}


@router.get(
    "/experts/import/template",
    response_class=Response,
    summary="Download the import template",
    description="PD and admin: the header row of the import layout and one example row.\n\n" + sheets.LAYOUT,
    responses=_DOWNLOAD,
)
async def import_template(_: Vetter, fmt: SheetFormatQuery = sheets.SheetFormat.CSV) -> Response:
    file = service.import_template(fmt)
    return Response(file.content, media_type=file.media_type, headers=file.headers)


@router.post(
    "/experts/import",
    summary="Import experts from a CSV or XLSX file",
    description=sheets.IMPORT_DESCRIPTION,
    responses=problem_responses(413),
    openapi_extra={"requestBody": _UPLOAD_BODY},
    max_body_size=sheets.MAX_IMPORT_BODY_BYTES,
)
async def import_experts(
    who: Vetter,
    upload: UploadedSheet,
    session: SessionDep,
    response: Response,
    dry_run: Annotated[bool, Query(description="Validate and report only; write nothing.")] = False,
) -> ImportReport:
    imported = await service.import_experts(session=session, by=who, upload=upload, dry_run=dry_run)
    return respond(response, imported)


@router.get(
    "/experts/export",
    response_class=Response,
    summary="Export experts as CSV or XLSX",
    responses=_DOWNLOAD,
)
async def export_experts(
    who: Searcher,
    session: ReadSessionDep,
    filters: SearchFilters,
    fmt: SheetFormatQuery = sheets.SheetFormat.CSV,
) -> Response:
    """Takes the filters of `GET /v1/experts`. PD, admin and `roster:read` services get every
    matching expert in the import layout (an export re-imports as updates); a country office gets
    the public columns (full_name, summary, status, capabilities, languages, regions) of active
    experts only; experts are refused."""
    file = await service.export_experts(session=session, by=who, filters=filters, fmt=fmt)
    return Response(file.content, media_type=file.media_type, headers=file.headers)
