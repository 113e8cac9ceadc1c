"""Roster at its edges: cursors and sequence numbers past 64 bits, dates past any calendar,
spreadsheets built to exhaust memory, and a start outside dev mode with a placeholder secret.

Every one of these is a 4xx problem+json naming what is wrong (or a refusal to start), never a
500, and none of them may cost the service more than a bounded amount of memory.
"""

from __future__ import annotations

import base64
import csv
import io
import tracemalloc
import zipfile
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from mnr_shared.auth import AuthSettings, PlaceholderSecretError
from mnr_shared.testing import Databases, RoutingTransport
from roster_service import models as roster_models
from roster_service.config import Settings
from roster_service.main import create_app

INT64_MAX = 2**63 - 1
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MiB = 1024 * 1024


def raw_cursor(text: str) -> str:
    """A cursor spelled by hand, packed as the services pack theirs (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def error_locs(body: dict[str, Any]) -> list[list[Any]]:
    return [error["loc"] for error in body.get("errors", [])]


# --- integer cursors and the change feed ------------------------------------------------------

BAD_INT_CURSORS = [
    "[9223372036854775808]",
    "[-9223372036854775809]",
    "[99999999999999999999]",
    "[-1]",
    "[true]",
]


@pytest.mark.parametrize("text", BAD_INT_CURSORS)
async def test_history_cursor_outside_the_bigint_range_is_422_naming_the_cursor(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, text: str
) -> None:
    expert = await make_expert(status="applicant")

    response = await roster.get(
        f"/v1/experts/{expert['id']}/history", params={"cursor": raw_cursor(text)}, headers=pd
    )

    assert ["query", "cursor"] in error_locs(problem(response, 422))


async def test_history_cursor_at_the_largest_bigint_is_an_empty_page(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert(status="applicant")
    first = await roster.get(f"/v1/experts/{expert['id']}/history", headers=pd)
    assert first.status_code == 200, first.text
    assert first.json()["items"]

    response = await roster.get(
        f"/v1/experts/{expert['id']}/history",
        params={"cursor": raw_cursor(f"[{INT64_MAX}]")},
        headers=pd,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("after", [str(INT64_MAX + 1), "99999999999999999999"])
async def test_changes_after_past_the_largest_bigint_is_422_naming_after(
    roster: httpx.AsyncClient, admin: dict[str, str], after: str
) -> None:
    response = await roster.get("/v1/changes", params={"after": after}, headers=admin)

    assert ["query", "after"] in error_locs(problem(response, 422))


@pytest.mark.parametrize("after", [2**31, INT64_MAX])
async def test_changes_after_a_sequence_past_the_column_range_is_an_empty_page(
    roster: httpx.AsyncClient, admin: dict[str, str], make_expert: Any, after: int
) -> None:
    await make_expert(status="applicant")

    response = await roster.get("/v1/changes", params={"after": after}, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_after": after}


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_expert_list_cursor_whose_time_overflows_utc_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str], at: str
) -> None:
    cursor = raw_cursor(f'["{at}","0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f"]')

    response = await roster.get("/v1/experts", params={"cursor": cursor}, headers=pd)

    assert ["query", "cursor"] in error_locs(problem(response, 422))


# --- dates ------------------------------------------------------------------------------------

OUT_OF_RANGE_DATES = ["9999-12-31", "0001-01-01", "1899-12-31", "2201-01-01"]


@pytest.mark.parametrize("day", OUT_OF_RANGE_DATES)
@pytest.mark.parametrize("param", ["from", "to"])
async def test_calendar_date_outside_1900_to_2200_is_422_naming_it(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, param: str, day: str
) -> None:
    expert = await make_expert(status="applicant")

    response = await roster.get(f"/v1/experts/{expert['id']}/calendar", params={param: day}, headers=pd)

    assert ["query", param] in error_locs(problem(response, 422))


async def test_calendar_from_the_last_accepted_day_ends_there(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert(status="applicant")

    response = await roster.get(
        f"/v1/experts/{expert['id']}/calendar", params={"from": "2200-12-31"}, headers=pd
    )

    assert response.status_code == 200, response.text
    assert (response.json()["from"], response.json()["to"]) == ("2200-12-31", "2200-12-31")


@pytest.mark.parametrize(
    ("field", "start", "end"), [("end", "2027-01-01", "9999-12-31"), ("start", "0001-01-01", "0001-01-02")]
)
@pytest.mark.parametrize("kind", ["unavailability", "bookings"])
async def test_calendar_writes_outside_1900_to_2200_are_422_naming_the_field(
    roster: httpx.AsyncClient,
    pd: dict[str, str],
    make_expert: Any,
    booking_body: Any,
    kind: str,
    field: str,
    start: str,
    end: str,
) -> None:
    expert = await make_expert(status="applicant")
    body = booking_body(start, end) if kind == "bookings" else {"start": start, "end": end}

    response = await roster.post(f"/v1/experts/{expert['id']}/{kind}", json=body, headers=pd)

    assert ["body", field] in error_locs(problem(response, 422))


@pytest.mark.parametrize("param", ["available_from", "available_to"])
async def test_search_availability_outside_1900_to_2200_is_422_naming_it(
    roster: httpx.AsyncClient, pd: dict[str, str], param: str
) -> None:
    response = await roster.get("/v1/experts", params={param: "9999-12-31"}, headers=pd)

    assert ["query", param] in error_locs(problem(response, 422))


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31"])
async def test_vetting_date_before_1900_is_422_naming_it(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any, day: str
) -> None:
    body = expert_body(vetting={"references_checked_on": day})

    response = await roster.post("/v1/experts", json=body, headers=pd)

    assert ["body", "vetting", "references_checked_on"] in error_locs(problem(response, 422))


# --- spreadsheets built to exhaust the service --------------------------------------------------


def xlsx_from_xml(rows_xml: str, shared: Sequence[str] = ()) -> bytes:
    """A minimal XLSX workbook written as its zip of XML parts, so a test can place any cell
    anywhere (column XFD) and any shared string (1 MiB) without building it in a spreadsheet
    library first."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="experts" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/sharedStrings.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{len(shared)}" uniqueCount="{len(shared)}">'
            + "".join(f"<si><t>{escape(text)}</t></si>" for text in shared)
            + "</sst>"
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{rows_xml}</sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return out.getvalue()


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def shared_ref(ref: str, index: int) -> str:
    return f'<c r="{ref}" t="s"><v>{index}</v></c>'


async def import_measured(
    roster: httpx.AsyncClient, headers: dict[str, str], content: bytes, content_type: str
) -> tuple[httpx.Response, int]:
    """The import's answer and the peak of memory allocated while the service handled it (and
    the test client received the answer)."""
    tracemalloc.start()
    try:
        response = await roster.post(
            "/v1/experts/import",
            content=content,
            params={"dry_run": "true"},
            headers={**headers, "Content-Type": content_type},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


async def test_xlsx_whose_one_mib_shared_string_fills_500_rows_stays_small(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    # One 1 MiB string, stored once, referenced by the name and email of 500 rows.
    rows = [f'<row r="1">{inline("A1", "full_name")}{inline("B1", "email")}</row>']
    rows += [f'<row r="{n}">{shared_ref(f"A{n}", 0)}{shared_ref(f"B{n}", 0)}</row>' for n in range(2, 502)]
    content = xlsx_from_xml("".join(rows), shared=["x" * MiB])
    assert len(content) < 64 * 1024

    response, peak = await import_measured(roster, pd, content, XLSX)

    assert response.status_code == 200, response.text[:2000]
    assert len(response.content) < MiB
    assert peak < 200 * MiB, f"{peak / MiB:.0f} MiB"
    report = response.json()
    assert report["summary"] == {"created": 0, "updated": 0, "rejected": 500}
    first = report["rows"][0]
    assert {error["field"] for error in first["errors"]} >= {"full_name", "email"}
    assert all("4,000" in error["msg"] for error in first["errors"]), first


async def test_xlsx_whose_shared_strings_unpack_past_16_mib_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    header = f'<row r="1">{inline("A1", "full_name")}{inline("B1", "email")}</row>'
    content = xlsx_from_xml(header, shared=["x" * MiB] * 17)
    assert len(content) < 5 * MiB

    response = await roster.post(
        "/v1/experts/import",
        content=content,
        params={"dry_run": "true"},
        headers={**pd, "Content-Type": XLSX},
    )

    assert "16 MiB" in problem(response, 422)["detail"]


async def test_xlsx_with_a_cell_in_column_xfd_on_5000_rows_stays_small(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    rows = [f'<row r="1">{inline("A1", "full_name")}{inline("B1", "email")}</row>']
    rows += [
        f'<row r="{n}">{inline(f"A{n}", f"P {n}")}{inline(f"B{n}", f"p{n}@example.org")}'
        f'<c r="XFD{n}"><v>1</v></c></row>'
        for n in range(2, 5002)
    ]
    content = xlsx_from_xml("".join(rows))

    response, peak = await import_measured(roster, pd, content, XLSX)

    assert response.status_code == 200, response.text[:2000]
    assert peak < 200 * MiB, f"{peak / MiB:.0f} MiB"
    assert response.json()["summary"]["created"] == 5000


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


async def import_csv(roster: httpx.AsyncClient, headers: dict[str, str], content: bytes) -> httpx.Response:
    return await roster.post(
        "/v1/experts/import",
        content=content,
        params={"dry_run": "true"},
        headers={**headers, "Content-Type": "text/csv"},
    )


async def test_cell_over_4000_characters_rejects_its_row_without_echoing_it(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    content = csv_bytes(
        ["full_name", "email", "summary"],
        [["A Person", "a@example.org", "y" * 4001], ["B Person", "b@example.org", "z" * 4000]],
    )

    response = await import_csv(roster, pd, content)

    assert response.status_code == 200, response.text[:2000]
    first, second = response.json()["rows"]
    assert first["outcome"] == "rejected"
    assert first["errors"] == [
        {"field": "summary", "msg": "has 4,001 characters; a cell holds at most 4,000"}
    ]
    assert second["outcome"] == "created", second


async def test_values_echoed_in_the_report_are_cut_to_200_characters(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    long_email = "e" * 3000 + "@example.org"
    long_date = "2" * 3000
    content = csv_bytes(
        ["full_name", "email", "references_checked_on"], [["A Person", long_email, long_date]]
    )

    response = await import_csv(roster, pd, content)

    assert response.status_code == 200, response.text[:2000]
    (row,) = response.json()["rows"]
    assert row["outcome"] == "rejected"
    assert row["email"] == long_email[:199] + "…"
    assert {error["field"] for error in row["errors"]} == {"email", "references_checked_on"}
    assert all(len(error["msg"]) <= 300 for error in row["errors"]), row["errors"]


async def test_columns_past_the_last_read_column_are_ignored(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    header = ["full_name", "email"]
    near = ["A Person", "a@example.org", "", "stray"]
    far = ["B Person", "b@example.org", *([""] * 100), "far away"]
    content = csv_bytes(header, [near, far])

    response = await import_csv(roster, pd, content)

    assert response.status_code == 200, response.text[:2000]
    first, second = response.json()["rows"]
    assert first["errors"] == [{"field": "row", "msg": "has values to the right of the last named column"}]
    assert second["outcome"] == "created", second


async def test_a_row_reports_at_most_ten_errors(roster: httpx.AsyncClient, pd: dict[str, str]) -> None:
    countries = "; ".join(["XX"] * 60)
    content = csv_bytes(
        ["full_name", "email", "country_experience"], [["A Person", "a@example.org", countries]]
    )

    response = await import_csv(roster, pd, content)

    assert response.status_code == 200, response.text[:2000]
    (row,) = response.json()["rows"]
    assert len(row["errors"]) == 10
    assert row["errors"][-1] == {"field": "row", "msg": "and 51 more errors"}


# --- fail fast outside dev mode ---------------------------------------------------------------


async def _url(databases: Databases) -> str:
    return await databases.url("roster", roster_models.metadata)


@pytest.mark.parametrize("secret", [None, "dev-secret-roster-service", "dev-secret-anything"])
async def test_outside_dev_mode_roster_refuses_to_start_with_a_placeholder_secret(
    databases: Databases, transport: RoutingTransport, monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.delenv("ROSTER_CLIENT_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("ROSTER_CLIENT_SECRET", secret)
    settings = Settings(database_url=await _url(databases))
    auth = AuthSettings(issuer="http://identity.test", dev_mode=False)

    with pytest.raises(PlaceholderSecretError, match="ROSTER_CLIENT_SECRET"):
        create_app(settings, auth=auth, transport=transport)


async def test_outside_dev_mode_roster_starts_with_a_real_secret(
    databases: Databases, transport: RoutingTransport
) -> None:
    settings = Settings(database_url=await _url(databases), client_secret="a-real-secret-0f3c9e")
    auth = AuthSettings(issuer="http://identity.test", dev_mode=False)

    app = create_app(settings, auth=auth, transport=transport)

    assert app.state.settings.client_secret == "a-real-secret-0f3c9e"


async def test_in_dev_mode_roster_starts_with_the_dev_secret(
    databases: Databases, transport: RoutingTransport
) -> None:
    settings = Settings(database_url=await _url(databases))
    auth = AuthSettings(issuer="http://identity.test", dev_mode=True)

    assert create_app(settings, auth=auth, transport=transport).state.settings.client_secret.startswith(
        "dev-secret-"
    )
