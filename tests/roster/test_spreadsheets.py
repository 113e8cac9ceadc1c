"""Spreadsheet import and export of experts: per-row reports, reruns, dry runs, visibility, limits."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from mnr_shared.db import create_engine
from mnr_shared.testing import Databases, bearer
from roster_service.models import Expert, ExpertStatus, Modality

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The documented layout (DESIGN §4 fields, in the order the template and a full export use).
HEADER = [
    "full_name",
    "email",
    "phone",
    "nationalities",
    "residence_country",
    "gender",
    "summary",
    "years_experience",
    "daily_rate_amount",
    "daily_rate_currency",
    "modality",
    "status",
    "capabilities",
    "languages",
    "country_experience",
    "references_checked_on",
    "safeguarding_check_on",
    "bsafe_completed_on",
]
PUBLIC_HEADER = ["full_name", "summary", "status", "capabilities", "languages", "regions"]


def _row(n: int, **overrides: Any) -> list[Any]:
    """A valid data row for expert number `n`, in HEADER order."""
    values: dict[str, Any] = {
        "full_name": f"Imported Expert {n}",
        "email": f"imported{n}@example.org",
        "phone": "+254 700 000001",
        "nationalities": "KEN",
        "residence_country": "KEN",
        "gender": None,
        "summary": "Investigator of online child sexual exploitation cases.",
        "years_experience": 5 + n % 20,
        "daily_rate_amount": 350,
        "daily_rate_currency": "USD",
        "modality": "either",
        "status": "active",
        "capabilities": f"{1 + n % 21}:{1 + n % 4}; 5:2" if 1 + n % 21 != 5 else "5:3",
        "languages": "en:C2; fr:B1",
        "country_experience": "KEN; UGA",
        "references_checked_on": "2025-06-01",
        "safeguarding_check_on": None,
        "bsafe_completed_on": None,
    }
    values.update(overrides)
    return [values[name] for name in HEADER]


def _xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue().encode()


def _read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def _read_xlsx(content: bytes) -> list[list[Any]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


async def _import(
    roster: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    content_type: str,
    *,
    dry_run: bool = False,
) -> httpx.Response:
    return await roster.post(
        "/v1/experts/import",
        content=content,
        params={"dry_run": str(dry_run).lower()},
        headers={**headers, "Content-Type": content_type},
    )


async def _experts(roster: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every expert in the roster, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await roster.get("/v1/experts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _stable(expert: dict[str, Any]) -> dict[str, Any]:
    """An expert without the fields every write changes."""
    return {k: v for k, v in expert.items() if k not in {"version", "updated_at"}}


# --- the test: 1,000 rows, 10 bad ones, rerun ----------------------------------------

# Data row index → (column, bad value, the field the report must name).
FAULTS: dict[int, tuple[str, Any, str]] = {
    50: ("email", "not-an-email", "email"),
    150: ("nationalities", "KEN; XYZ", "nationalities"),
    250: ("capabilities", "22:3", "capabilities"),
    350: ("capabilities", "4:5", "capabilities"),
    450: ("languages", "en:D1", "languages"),
    550: ("email", "imported0@example.org", "email"),  # the email of data row 0
    650: ("years_experience", -3, "years_experience"),
    750: ("full_name", None, "full_name"),
    850: ("references_checked_on", "2025-02-30", "references_checked_on"),
    950: ("languages", "xx-!!:B2", "languages"),
}


async def test_xlsx_of_1000_rows_with_10_bad_writes_990_and_a_rerun_updates_them(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    rows = [_row(i, **{FAULTS[i][0]: FAULTS[i][1]}) if i in FAULTS else _row(i) for i in range(1000)]
    content = _xlsx(HEADER, rows)
    bad_rows = {i + 2: field for i, (_, _, field) in FAULTS.items()}  # the header is row 1

    first = await _import(roster, pd, content, XLSX)

    assert first.status_code == 200, first.text
    report = first.json()
    assert report["dry_run"] is False
    assert report["summary"] == {"created": 990, "updated": 0, "rejected": 10}
    assert [r["row"] for r in report["rows"]] == list(range(2, 1002))
    rejected = {r["row"]: r for r in report["rows"] if r["outcome"] == "rejected"}
    assert set(rejected) == set(bad_rows)
    for row, field in bad_rows.items():
        assert field in {e["field"] for e in rejected[row]["errors"]}, rejected[row]
        assert all(e["msg"] for e in rejected[row]["errors"])
        assert rejected[row]["expert_id"] is None
    assert "row 2" in rejected[552]["errors"][0]["msg"]  # the duplicate names the row it repeats
    created = {r["row"]: r["expert_id"] for r in report["rows"] if r["outcome"] == "created"}
    assert len(set(created.values())) == 990
    roster_now = await _experts(roster, pd)
    assert len(roster_now) == 990
    assert {e["id"] for e in roster_now} == set(created.values())

    second = await _import(roster, pd, content, XLSX)

    assert second.status_code == 200, second.text
    rerun = second.json()
    assert rerun["summary"] == {"created": 0, "updated": 990, "rejected": 10}
    updated = {r["row"]: r["expert_id"] for r in rerun["rows"] if r["outcome"] == "updated"}
    assert updated == created
    roster_after = await _experts(roster, pd)
    assert len(roster_after) == 990
    assert {e["version"] for e in roster_after} == {2}


async def test_imported_row_reads_back_as_written(roster: httpx.AsyncClient, pd: dict[str, str]) -> None:
    row = _row(
        7,
        phone="+41 22 909 5000",
        gender="female",
        nationalities="CHE; FRA",
        capabilities="3:4; 5:3",
        languages="EN:c2; fr-ch:B2",
        country_experience="KEN; XKX",
        daily_rate_amount="450.50",
        modality="remote",
        status="applicant",
        safeguarding_check_on="2025-07-01",
    )
    response = await _import(roster, pd, _csv(HEADER, [row]), "text/csv")

    assert response.status_code == 200, response.text
    [result] = response.json()["rows"]
    assert result["outcome"] == "created"
    expert = (await roster.get(f"/v1/experts/{result['expert_id']}", headers=pd)).json()
    assert expert["email"] == "imported7@example.org"
    assert expert["phone"] == "+41 22 909 5000"
    assert expert["gender"] == "female"
    assert expert["nationalities"] == ["CHE", "FRA"]
    assert expert["capabilities"] == [{"capability": 3, "level": 4}, {"capability": 5, "level": 3}]
    assert {(lang["tag"], lang["level"]) for lang in expert["languages"]} == {("en", "C2"), ("fr-CH", "B2")}
    assert expert["country_experience"] == ["KEN", "XKX"]
    assert expert["regions"] == ["ECARO", "ESARO"]
    assert expert["daily_rate"] == {"amount": "450.50", "currency": "USD"}
    assert expert["modality"] == "remote"
    assert expert["status"] == "applicant"
    assert expert["vetting"] == {
        "references_checked_on": "2025-06-01",
        "safeguarding_check_on": "2025-07-01",
        "bsafe_completed_on": None,
    }


# --- dry run and updates ---------------------------------------------------------------------


async def test_dry_run_reports_what_would_happen_and_writes_nothing(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    existing = await make_expert(email="known@example.org", summary="Before.")
    rows = [
        _row(1, email="known@example.org", summary="After."),
        _row(2),
        _row(3, capabilities="22:1"),
    ]

    response = await _import(roster, pd, _csv(HEADER, rows), "text/csv", dry_run=True)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True
    assert report["summary"] == {"created": 1, "updated": 1, "rejected": 1}
    outcomes = [(r["row"], r["outcome"], r["expert_id"]) for r in report["rows"]]
    assert outcomes == [(2, "updated", existing["id"]), (3, "created", None), (4, "rejected", None)]
    assert [e["id"] for e in await _experts(roster, pd)] == [existing["id"]]
    after = (await roster.get(f"/v1/experts/{existing['id']}", headers=pd)).json()
    assert after["summary"] == "Before."
    assert after["version"] == existing["version"]


async def test_update_replaces_columns_in_the_file_and_keeps_the_others(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    existing = await make_expert(email="Known@Example.org", phone="+254 700 111222")
    content = _csv(
        ["email", "full_name", "summary", "languages", "safeguarding_check_on", "modality"],
        [["known@example.org", "Renamed Person", "", "ar:B2", "2025-09-09", ""]],
    )

    response = await _import(roster, pd, content, "text/csv")

    assert response.status_code == 200, response.text
    assert response.json()["summary"] == {"created": 0, "updated": 1, "rejected": 0}
    after = (await roster.get(f"/v1/experts/{existing['id']}", headers=pd)).json()
    assert after["full_name"] == "Renamed Person"
    assert after["summary"] is None  # an empty cell clears
    assert after["languages"] == [{"tag": "ar", "level": "B2"}]
    assert after["vetting"]["safeguarding_check_on"] == "2025-09-09"
    # Absent columns, the other vetting dates and an empty modality cell keep what was stored.
    assert after["vetting"]["references_checked_on"] == existing["vetting"]["references_checked_on"]
    assert after["phone"] == "+254 700 111222"
    assert after["capabilities"] == existing["capabilities"]
    assert after["modality"] == existing["modality"]
    assert after["status"] == existing["status"]
    assert after["version"] == existing["version"] + 1


async def test_import_changes_status_only_along_vetting_moves(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    active = await make_expert(email="active@example.org", status="active")
    suspended = await make_expert(email="suspended@example.org", status="suspended")
    content = _csv(
        ["full_name", "email", "status"],
        [
            ["Active Person", "active@example.org", "inactive"],
            ["Suspended Person", "suspended@example.org", "active"],
        ],
    )

    response = await _import(roster, pd, content, "text/csv")

    assert response.status_code == 200, response.text
    moved, refused = response.json()["rows"]
    assert moved["outcome"] == "updated"
    assert refused["outcome"] == "rejected"
    assert refused["errors"][0]["field"] == "status"
    assert "suspended cannot become active" in refused["errors"][0]["msg"]
    assert (await roster.get(f"/v1/experts/{active['id']}", headers=pd)).json()["status"] == "inactive"
    untouched = (await roster.get(f"/v1/experts/{suspended['id']}", headers=pd)).json()
    assert untouched["full_name"] == suspended["full_name"]
    assert untouched["version"] == suspended["version"]
    history = (await roster.get(f"/v1/experts/{active['id']}/history", headers=pd)).json()["items"]
    assert "status" in history[-1]["changed_fields"]
    assert history[-1]["reason"] == "Spreadsheet import."
    assert history[-1]["actor_sub"] == "pd-1"


async def test_multipart_form_upload_is_imported(roster: httpx.AsyncClient, pd: dict[str, str]) -> None:
    response = await roster.post(
        "/v1/experts/import",
        files={"file": ("experts.xlsx", _xlsx(HEADER, [_row(1), _row(2)]), XLSX)},
        headers=pd,
    )

    assert response.status_code == 200, response.text
    assert response.json()["summary"] == {"created": 2, "updated": 0, "rejected": 0}


async def test_xlsx_cells_typed_as_excel_stores_them_are_read(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    # Excel keeps a lone "4:3" as the time 04:03, dates as dates and numbers as numbers.
    row = _row(
        1,
        capabilities=time(4, 3),
        references_checked_on=datetime(2025, 6, 1),
        phone=254700123456,
        years_experience=12.0,
        daily_rate_amount=410.5,
    )

    response = await _import(roster, pd, _xlsx(HEADER, [row]), XLSX)

    assert response.status_code == 200, response.text
    [result] = response.json()["rows"]
    assert result["outcome"] == "created", result
    expert = (await roster.get(f"/v1/experts/{result['expert_id']}", headers=pd)).json()
    assert expert["capabilities"] == [{"capability": 4, "level": 3}]
    assert expert["vetting"]["references_checked_on"] == "2025-06-01"
    assert expert["phone"] == "254700123456"
    assert expert["years_experience"] == 12
    assert expert["daily_rate"] == {"amount": "410.50", "currency": "USD"}


async def test_multipart_form_without_a_file_field_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    response = await roster.post(
        "/v1/experts/import",
        files={"upload": ("experts.csv", _csv(HEADER, [_row(1)]), "text/csv")},
        headers=pd,
    )

    assert "`file`" in _problem(response, 422)["detail"]


async def test_import_appends_one_feed_item_per_written_expert_and_none_for_a_dry_run(
    roster: httpx.AsyncClient, pd: dict[str, str], admin: dict[str, str]
) -> None:
    content = _csv(HEADER, [_row(1), _row(2, languages="en"), _row(3)])

    await _import(roster, pd, content, "text/csv", dry_run=True)
    after_dry_run = (await roster.get("/v1/changes", headers=admin)).json()["items"]
    report = (await _import(roster, pd, content, "text/csv")).json()

    assert after_dry_run == []
    written = {r["expert_id"] for r in report["rows"] if r["outcome"] == "created"}
    assert len(written) == 2
    items = (await roster.get("/v1/changes", headers=admin)).json()["items"]
    assert [item["kind"] for item in items] == ["upsert", "upsert"]
    assert {item["expert_id"] for item in items} == written
    assert all(item["expert"]["status"] == "active" for item in items)
    expert_id = next(iter(written))
    history = (await roster.get(f"/v1/experts/{expert_id}/history", headers=pd)).json()["items"]
    assert [(h["action"], h["reason"]) for h in history] == [("create", "Spreadsheet import.")]


async def test_openapi_documents_the_import_layout_and_upload_types(roster: httpx.AsyncClient) -> None:
    spec = (await roster.get("/openapi.json")).json()

    operation = spec["paths"]["/v1/experts/import"]["post"]
    assert all(f"`{column}`" in operation["description"] for column in HEADER)
    assert set(operation["requestBody"]["content"]) == {"text/csv", XLSX, "multipart/form-data"}
    assert {"413", "422"} <= set(operation["responses"])
    assert "format" in {p["name"] for p in spec["paths"]["/v1/experts/export"]["get"]["parameters"]}


# --- template and export ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_template_has_the_documented_header_and_a_valid_example_row(
    roster: httpx.AsyncClient, pd: dict[str, str], fmt: str
) -> None:
    response = await roster.get("/v1/experts/import/template", params={"format": fmt}, headers=pd)

    assert response.status_code == 200, response.text
    expected_type = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
    assert response.headers["content-type"] == expected_type
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="experts-import-template.{fmt}"'
    rows = _read_csv(response.content) if fmt == "csv" else _read_xlsx(response.content)
    assert rows[0] == HEADER
    assert len(rows) == 2
    dry = await _import(roster, pd, response.content, expected_type, dry_run=True)
    assert dry.json()["summary"] == {"created": 1, "updated": 0, "rejected": 0}, dry.text


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_as_pd_reimports_as_all_updates(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, fmt: str
) -> None:
    await make_expert(summary='=HYPERLINK("http://evil.example")', gender="male")
    await make_expert(status="applicant", daily_rate=None, languages=[], vetting=None)
    await make_expert(status="suspended", phone=None, capabilities=[{"capability": 21, "level": 4}])
    before = sorted((_stable(e) for e in await _experts(roster, pd)), key=lambda e: e["id"])

    export = await roster.get("/v1/experts/export", params={"format": fmt}, headers=pd)

    assert export.status_code == 200, export.text
    assert export.headers["content-disposition"].startswith('attachment; filename="experts-')
    rows = _read_csv(export.content) if fmt == "csv" else _read_xlsx(export.content)
    assert rows[0] == HEADER
    assert len(rows) == 4
    media = export.headers["content-type"]
    again = await _import(roster, pd, export.content, media)
    assert again.status_code == 200, again.text
    assert again.json()["summary"] == {"created": 0, "updated": 3, "rejected": 0}, again.text
    after = sorted((_stable(e) for e in await _experts(roster, pd)), key=lambda e: e["id"])
    assert after == before


async def test_export_keeps_formula_like_text_as_text(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    formula = '=HYPERLINK("http://evil.example","click")'
    await make_expert(summary=formula)

    as_csv = await roster.get("/v1/experts/export", params={"format": "csv"}, headers=pd)
    as_xlsx = await roster.get("/v1/experts/export", params={"format": "xlsx"}, headers=pd)

    summary_at = HEADER.index("summary")
    assert _read_csv(as_csv.content)[1][summary_at] == "'" + formula
    workbook = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))
    cell = workbook.worksheets[0].cell(row=2, column=summary_at + 1)
    assert cell.data_type == "s"
    assert cell.value == formula


async def test_export_as_country_office_has_public_columns_of_active_experts_only(
    roster: httpx.AsyncClient, office: dict[str, str], make_expert: Any
) -> None:
    active = await make_expert(status="active")
    await make_expert(status="applicant")
    await make_expert(status="inactive")

    response = await roster.get(
        "/v1/experts/export", params={"format": "csv", "status": "applicant"}, headers=office
    )

    assert response.status_code == 200, response.text
    rows = _read_csv(response.content)
    assert rows[0] == PUBLIC_HEADER
    assert "email" not in rows[0]
    assert [row[0] for row in rows[1:]] == [active["full_name"]]
    assert rows[1][PUBLIC_HEADER.index("regions")] == "ESARO"
    assert "@" not in response.text


async def test_export_applies_the_search_filters(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    wanted = await make_expert(capabilities=[{"capability": 12, "level": 4}])
    await make_expert(capabilities=[{"capability": 12, "level": 1}])
    await make_expert()

    response = await roster.get(
        "/v1/experts/export", params={"capability": 12, "min_level": 3, "format": "xlsx"}, headers=pd
    )

    assert response.status_code == 200, response.text
    rows = _read_xlsx(response.content)
    assert [row[HEADER.index("email")] for row in rows[1:]] == [wanted["email"]]


# --- who may call ----------------------------------------------------------------------------

CALLS = {
    "template": ("GET", "/v1/experts/import/template", None),
    "import": ("POST", "/v1/experts/import?dry_run=true", _csv(HEADER, [_row(1)])),
    "export": ("GET", "/v1/experts/export", None),
}
# Route → callers allowed (with 200); anyone else is 403, and anonymous is 401.
ALLOWED = {
    "template": {"programme_division", "admin"},
    "import": {"programme_division", "admin"},
    "export": {"programme_division", "admin", "country_office", "service_scoped"},
}
CALLERS = [
    "anonymous",
    "country_office",
    "programme_division",
    "admin",
    "expert",
    "service_scoped",
    "service_unscoped",
]


async def _headers_for(caller: str, token_for: Any, service_token: Any) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    if caller == "service_scoped":
        return bearer(await service_token("matching-service"))
    if caller == "service_unscoped":
        return bearer(await service_token("roster-service"))
    claims: dict[str, Any] = {"offices": ["KEN"]} if caller == "country_office" else {}
    return bearer(await token_for(caller, sub=f"{caller}-1", **claims))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(CALLS))
async def test_spreadsheet_routes_answer_each_caller_as_designed(
    roster: httpx.AsyncClient, token_for: Any, service_token: Any, route: str, caller: str
) -> None:
    method, url, content = CALLS[route]
    headers = await _headers_for(caller, token_for, service_token)
    if content is not None:
        headers["Content-Type"] = "text/csv"

    response = await roster.request(method, url, content=content, headers=headers)

    want = 401 if caller == "anonymous" else 200 if caller in ALLOWED[route] else 403
    assert response.status_code == want, f"{route} as {caller}: {response.text}"
    if want != 200:
        _problem(response, want)


# --- files that cannot be read ---------------------------------------------------------------

UNREADABLE = {
    "wrong header": (_csv(["name", "email"], [["A Person", "a@example.org"]]), "text/csv", "name"),
    "missing email column": (_csv(["full_name"], [["A Person"]]), "text/csv", "email"),
    "repeated column": (
        _csv(["full_name", "email", "email"], [["A", "a@example.org", "x"]]),
        "text/csv",
        "email",
    ),
    "semicolon separated": (b"full_name;email\nA Person;a@example.org\n", "text/csv", "commas"),
    "not utf-8": ("full_name,email\nJosé,j@example.org\n".encode("latin-1"), "text/csv", "UTF-8"),
    "zip that is no workbook": (b"PK\x03\x04" + b"\x00" * 200, XLSX, "XLSX"),
    "declared xlsx, is text": (b"full_name,email\n", XLSX, "XLSX"),
    "legacy xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200, "application/vnd.ms-excel", ".xls"),
    "json": (b'{"full_name": "A"}', "application/json", "application/json"),
    "empty": (b"", "text/csv", "empty"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
async def test_unreadable_file_is_422_problem_saying_why(
    roster: httpx.AsyncClient, pd: dict[str, str], case: str
) -> None:
    content, content_type, named = UNREADABLE[case]

    response = await _import(roster, pd, content, content_type)

    body = _problem(response, 422)
    assert named in response.text, body
    assert (await _experts(roster, pd)) == []


async def test_more_rows_than_the_limit_is_422(roster: httpx.AsyncClient, pd: dict[str, str]) -> None:
    content = _csv(["full_name", "email"], [[f"P {i}", f"p{i}@example.org"] for i in range(5001)])

    response = await _import(roster, pd, content, "text/csv", dry_run=True)

    assert "5,000" in _problem(response, 422)["detail"]


async def test_file_over_5_mib_is_413_problem(roster: httpx.AsyncClient, pd: dict[str, str]) -> None:
    content = _csv(HEADER, [_row(1)]) + b"x" * (5 * 1024 * 1024)

    raw = await _import(roster, pd, content, "text/csv")
    form = await roster.post(
        "/v1/experts/import", files={"file": ("big.csv", content, "text/csv")}, headers=pd
    )

    _problem(raw, 413)
    _problem(form, 413)
    assert (await _experts(roster, pd)) == []


async def test_file_over_the_json_body_limit_but_under_5_mib_is_imported(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    # 600 rows with long summaries: about 2.4 MiB, over the 1 MiB every JSON route accepts.
    rows = [_row(n, summary=f"Case {n}: " + "investigation and prosecution " * 130) for n in range(600)]
    content = _csv(HEADER, rows)
    assert 2 * 1024 * 1024 < len(content) < 5 * 1024 * 1024

    response = await _import(roster, pd, content, "text/csv", dry_run=True)

    assert response.status_code == 200, response.text[:500]
    assert response.json()["summary"]["created"] == 600


# --- concurrent writers ----------------------------------------------------------------------


async def test_concurrent_imports_of_the_same_experts_never_duplicate_them(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    content = _csv(HEADER, [_row(i) for i in range(60)])

    first, second = await asyncio.gather(
        _import(roster, pd, content, "text/csv"), _import(roster, pd, content, "text/csv")
    )

    summaries = [first.json()["summary"], second.json()["summary"]]
    assert sorted(s["created"] for s in summaries) == [0, 60], summaries
    assert [s["created"] + s["updated"] for s in summaries] == [60, 60]
    assert len(await _experts(roster, pd)) == 60


async def test_email_created_by_another_writer_during_an_import_becomes_an_update(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, databases: Databases, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time: no writer can slip in")
    known = await make_expert(email="imported4@example.org", summary="Before.")
    rows = [_row(1), _row(2), _row(3), _row(4, summary="After.")]
    engine = create_engine(databases.used["roster"][0])
    try:
        async with AsyncSession(engine) as other:
            elsewhere = Expert(
                full_name="Made Elsewhere",
                email="imported2@example.org",
                modality=Modality.EITHER,
                status=ExpertStatus.ACTIVE,
            )
            other.add(elsewhere)
            await other.flush()  # its email is taken, but not yet committed
            elsewhere_id = str(elsewhere.id)
            task = asyncio.create_task(_import(roster, pd, _csv(HEADER, rows), "text/csv"))
            await asyncio.sleep(0.5)
            assert not task.done(), "the import should wait for the other writer's email"
            await other.commit()
            response = await task
    finally:
        await engine.dispose()

    assert response.status_code == 200, response.text
    outcomes = [(r["row"], r["outcome"]) for r in response.json()["rows"]]
    assert outcomes == [(2, "created"), (3, "updated"), (4, "created"), (5, "updated")]
    assert response.json()["rows"][1]["expert_id"] == elsewhere_id
    assert response.json()["rows"][3]["expert_id"] == known["id"]
    experts = {e["email"]: e for e in await _experts(roster, pd)}
    assert {email: e["full_name"] for email, e in experts.items()} == {
        f"imported{n}@example.org": f"Imported Expert {n}" for n in (1, 2, 3, 4)
    }
    assert experts["imported4@example.org"]["summary"] == "After."
    assert experts["imported4@example.org"]["version"] == known["version"] + 1
