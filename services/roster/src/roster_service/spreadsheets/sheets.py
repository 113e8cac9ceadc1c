"""Spreadsheets as bytes: the import layout and its limits, reading CSV/XLSX uploads into cells,
rendering experts as CSV/XLSX, and the import template.

Pure functions over bytes and schemas; `rows.py` turns cells into experts, `service.py` reads
and writes the roster.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

import openpyxl  # type: ignore[import-untyped]
from fastapi import Request
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from roster_service.errors import ContentTooLarge, ProblemError, UnprocessableContent
from roster_service.models import ExpertStatus
from roster_service.schemas import (
    EXPERT_EXAMPLE,
    CapabilityLevel,
    ExpertCreate,
    ExpertPublic,
    ExpertRead,
    LanguageLevel,
    Vetting,
)

# --- the layout -------------------------------------------------------------------------------

COLUMNS: tuple[str, ...] = (
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
)
PUBLIC_COLUMNS: tuple[str, ...] = ("full_name", "summary", "status", "capabilities", "languages", "regions")
REQUIRED_COLUMNS = ("full_name", "email")
DATE_COLUMNS = ("references_checked_on", "safeguarding_check_on", "bsafe_completed_on")
SEPARATOR = "; "

MiB = 1024 * 1024
MAX_UPLOAD_BYTES = 5 * MiB
MAX_ROWS = 5000
# Columns read from each row: the layout's, and a few more so that a stray value just to their
# right is reported. Anything further right is never read (a cell in column XFD costs nothing).
MAX_COLUMNS = len(COLUMNS) + 6
# Longer cells are not read as values: their row is rejected, naming the column and the length.
MAX_CELL_CHARS = 4000
# The import report stays small whatever the file holds: at most this many errors per row, and
# values quoted from the file cut to ECHO_CHARS (each message to MESSAGE_CHARS).
MAX_ROW_ERRORS = 10
ECHO_CHARS = 200
MESSAGE_CHARS = 300
# Room for the multipart framing around a file of MAX_UPLOAD_BYTES.
_MULTIPART_OVERHEAD = 64 * 1024
# The largest request body the import route reads at all (the shared guard refuses more, unread).
MAX_IMPORT_BODY_BYTES = MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD
# An XLSX is a zip: refuse one that would unpack into far more than any real roster (a "zip bomb").
# The parts other than the worksheet (the shared-strings table above all) are held in memory whole
# while the sheet is read, so each part has its own cap as well.
_MAX_UNPACKED_BYTES = 32 * MiB
_MAX_PART_BYTES = 16 * MiB

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What browsers and tools send for a .csv file (Windows says "Excel" even for CSV).
_CSV_TYPES = frozenset(
    {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream", ""}
)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy binary .xls
# A cell starting with one of these is run as a formula by spreadsheet apps (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | Decimal | date | time | bool | None


class SheetFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        return CSV_MEDIA_TYPE if self is SheetFormat.CSV else XLSX_MEDIA_TYPE


LAYOUT = f"""\
**Layout** (the template from `GET /v1/experts/import/template?format=csv|xlsx` has it, with one
example row to delete): row 1 is the header, then one expert per row. Columns may come in any
order and any may be left out except `full_name` and `email`; an unknown or repeated column name
makes the whole file unreadable (422). CSV is UTF-8 (a byte-order mark is fine) and
comma-separated; XLSX is read from its first worksheet. Blank rows are skipped. A list cell holds
its items separated by `;` (`,` also works). An apostrophe before a leading `=`, `+`, `-` or `@`
(what a CSV export writes so that spreadsheet apps do not run the text as a formula) is dropped.

| column | content | example |
|---|---|---|
| `full_name` | required | Amina Odhiambo |
| `email` | required; matches an existing expert | amina.odhiambo@example.org |
| `phone` | digits, spaces, `()-`, optional leading `+` | +254 700 123456 |
| `nationalities` | ISO 3166-1 alpha-3 codes (`XKX` for Kosovo), at most 5 | KEN |
| `residence_country` | one ISO3 code | KEN |
| `gender` | free text | |
| `summary` | free text, up to 4,000 characters | Former prosecutor… |
| `years_experience` | whole number 0–70 | 14 |
| `daily_rate_amount` | 0–100,000, two decimals; give the currency too | 450.00 |
| `daily_rate_currency` | ISO 4217 code | USD |
| `modality` | `remote`, `in_country` or `either` (empty: `either`) | either |
| `status` | `applicant`, `active`, `inactive`, `suspended` (empty: `applicant`) | applicant |
| `capabilities` | `capability:level`, MNR capability 1–21, level 1–4 | 4:3; 5:2 |
| `languages` | `tag:level`, BCP 47 tag, CEFR level A1–C2 | en:C2; fr:B2 |
| `country_experience` | ISO3 codes | KEN; UGA |
| `references_checked_on` | date `YYYY-MM-DD`, 1900 or later, not in the future | 2025-11-04 |
| `safeguarding_check_on` | date `YYYY-MM-DD`, 1900 or later, not in the future | 2025-11-20 |
| `bsafe_completed_on` | date `YYYY-MM-DD`, 1900 or later, not in the future | 2025-10-01 |

Limits: {MAX_UPLOAD_BYTES // MiB} MiB per file (413); {MAX_ROWS:,} data rows (422); an XLSX may
unpack to at most {_MAX_UNPACKED_BYTES // MiB} MiB, and each of its parts (the sheet, the shared
strings) to {_MAX_PART_BYTES // MiB} MiB (422). Only the first {MAX_COLUMNS} columns \
(A–{get_column_letter(MAX_COLUMNS)}) are read; anything to their right is ignored. A cell over
{MAX_CELL_CHARS:,} characters rejects its row. In the report each row lists at most
{MAX_ROW_ERRORS} errors, and values quoted from the file are cut to {ECHO_CHARS} characters.
"""

IMPORT_DESCRIPTION = f"""\
PD and admin. Send the spreadsheet as the raw request body (`Content-Type: text/csv` or
`{XLSX_MEDIA_TYPE}`), or as the `file` field of a `multipart/form-data` form. An XLSX file is
also recognised by its content whatever the declared type.

{LAYOUT}
**Each row** is validated like `POST /v1/experts`. A row whose email is new creates an expert
(in the row's `status`, `applicant` when empty). A row whose email belongs to an expert updates
them: each column present in the file replaces the stored value, an empty cell clears it (an
empty list cell empties the list), columns absent from the file are left as they are, and an
empty `modality` or `status` cell leaves those unchanged. On update `status` changes only along
the vetting moves (`applicant → active`, `active ↔ inactive`, any → `suspended`), recorded with
the reason "Spreadsheet import."; any other change of status rejects the row. A row that
fails validation, or repeats the email of an earlier row of the file, is rejected with reasons
naming its column.

Rows are written in batches, each in a savepoint; if the database refuses a batch (say another
user created one of its emails a moment ago), the batch is rolled back and its rows are written
again one savepoint each, their experts re-read first. So a bad row never blocks the others and
never leaves half an expert, and every written row is committed together at the end with its
change-feed item and audit entry (reason "Spreadsheet import."). `dry_run=true` validates,
reports what would happen (`created` / `updated` / `rejected`) and writes nothing.

The answer (200) lists every data row by its spreadsheet row number (the header is row 1). A file
that cannot be read as a whole (not CSV or XLSX, not UTF-8, a wrong header, too many rows) is
422 problem+json saying what is wrong.
"""


@dataclass(frozen=True)
class Download:
    """A rendered spreadsheet and the name a browser should save it under (`stem.csv|xlsx`)."""

    content: bytes
    fmt: SheetFormat
    stem: str

    @property
    def media_type(self) -> str:
        return self.fmt.media_type

    @property
    def headers(self) -> dict[str, str]:
        """Headers that make a browser save the file as `stem.csv` / `stem.xlsx`."""
        return {"Content-Disposition": f'attachment; filename="{self.stem}.{self.fmt.value}"'}


# --- uploads ----------------------------------------------------------------------------------


def _too_large() -> ContentTooLarge:
    return ContentTooLarge(
        f"The file is larger than {MAX_UPLOAD_BYTES // MiB} MiB; split it into smaller files.",
        title="Content Too Large",
        slug="file-too-large",
    )


def _unreadable(detail: str, errors: Sequence[dict[str, Any]] = ()) -> UnprocessableContent:
    extra = {"errors": list(errors)} if errors else None
    return UnprocessableContent(detail, slug="unreadable-spreadsheet", extra=extra)


@dataclass(frozen=True)
class Upload:
    """A spreadsheet as received: its bytes, declared media type and (from a form) file name."""

    content: bytes
    media_type: str
    filename: str | None = None


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def read_upload(request: Request) -> Upload:
    """The uploaded spreadsheet (raw body, or a form's `file` part); 413 past the size limit,
    checked before the body is held in memory."""
    media_type = _media_type(request.headers.get("content-type"))
    multipart = media_type == "multipart/form-data"
    limit = MAX_UPLOAD_BYTES + (_MULTIPART_OVERHEAD if multipart else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large()
    upload = await _form_file(request, bytes(body)) if multipart else Upload(bytes(body), media_type)
    if len(upload.content) > MAX_UPLOAD_BYTES:
        raise _too_large()
    if not upload.content:
        raise _unreadable("The file is empty.")
    return upload


async def _form_file(request: Request, body: bytes) -> Upload:
    async def once() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, once(), max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise _unreadable(f"The multipart form cannot be read: {exc.message}") from exc
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise _unreadable("Send the spreadsheet in a form field named `file`.")
        return Upload(await part.read(), _media_type(part.content_type), part.filename)
    finally:
        await form.close()


def detect_format(upload: Upload) -> SheetFormat:
    """XLSX by its zip signature or declared type, else CSV for text-like types; 422 otherwise."""
    name = (upload.filename or "").lower()
    if upload.content.startswith(_ZIP_MAGIC):
        return SheetFormat.XLSX
    if upload.content.startswith(_OLE_MAGIC):
        raise _unreadable("This is a legacy Excel (.xls) file; save it as .xlsx or as CSV UTF-8.")
    if upload.media_type == XLSX_MEDIA_TYPE or name.endswith(".xlsx"):
        return SheetFormat.XLSX
    if upload.media_type in _CSV_TYPES or name.endswith(".csv"):
        return SheetFormat.CSV
    raise _unreadable(f"Send CSV (text/csv) or XLSX ({XLSX_MEDIA_TYPE}), not {upload.media_type}.")


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetRow:
    number: int  # as a spreadsheet app shows it: the header is row 1
    cells: dict[str, Cell]  # a cell over MAX_CELL_CHARS is None here, and its length in `oversized`
    stray: bool  # values to the right of the last named column
    oversized: dict[str, int] = field(default_factory=dict)  # column → length, cells not read


@dataclass(frozen=True)
class Sheet:
    columns: tuple[str, ...]
    rows: list[SheetRow]


def read_sheet(upload: Upload) -> Sheet:
    """The header and the non-blank data rows of a CSV or XLSX upload; 422 naming what is wrong
    when the file cannot be read as a whole."""
    if detect_format(upload) is SheetFormat.XLSX:
        header, data = _xlsx_records(upload.content)
    else:
        header, data = _csv_records(upload.content)
    columns = _columns(header)
    return Sheet(columns=columns, rows=[_sheet_row(number, values, columns) for number, values in data])


def _sheet_row(number: int, values: Sequence[Cell], columns: tuple[str, ...]) -> SheetRow:
    cells: dict[str, Cell] = {}
    oversized: dict[str, int] = {}
    for i, name in enumerate(columns):
        value = values[i] if i < len(values) else None
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            oversized[name], value = len(value), None
        cells[name] = value
    stray = any(not blank(v) for v in values[len(columns) :])
    return SheetRow(number=number, cells=cells, stray=stray, oversized=oversized)


Records = tuple[Sequence[Cell], list[tuple[int, Sequence[Cell]]]]


def _collect(rows: Iterable[Sequence[Cell]]) -> Records:
    """The header and the non-blank data rows, each cut to its first MAX_COLUMNS cells."""
    header: Sequence[Cell] | None = None
    data: list[tuple[int, Sequence[Cell]]] = []
    for number, row in enumerate(rows, start=1):
        values = tuple(row[:MAX_COLUMNS])
        if header is None:
            header = values
        elif not all(blank(v) for v in values):
            if len(data) == MAX_ROWS:
                raise _unreadable(f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.")
            data.append((number, values))
    if header is None:
        raise _unreadable("The file is empty: row 1 must be the header.")
    return header, data


def _csv_records(content: bytes) -> Records:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _unreadable("The CSV file is not UTF-8 text; save it as 'CSV UTF-8' or send XLSX.") from exc
    try:
        return _collect(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _unreadable(f"The CSV file cannot be read: {exc}.") from exc


def _xlsx_records(content: bytes) -> Records:
    not_a_workbook = "The file is not a readable XLSX workbook."
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            # Declared sizes bind: zipfile stops at a member's declared size and fails it if longer.
            sizes = [info.file_size for info in archive.infolist()]
            unpacked, largest = sum(sizes), max(sizes, default=0)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _unreadable(not_a_workbook) from exc
    if unpacked > _MAX_UNPACKED_BYTES:
        raise _unreadable(
            f"The workbook unpacks to more than {_MAX_UNPACKED_BYTES // MiB} MiB; "
            "split it into smaller files."
        )
    if largest > _MAX_PART_BYTES:
        raise _unreadable(
            f"A part of the workbook unpacks to more than {_MAX_PART_BYTES // MiB} MiB; "
            "split it into smaller files."
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl reports malformed workbooks with many exception types
        raise _unreadable(not_a_workbook) from exc
    try:
        if not workbook.worksheets:
            raise _unreadable("The workbook has no worksheet.")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions; read what is there
        # max_col: rows are built MAX_COLUMNS wide, never as wide as their last cell (XFD).
        return _collect(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True))
    except ProblemError:
        raise
    except Exception as exc:  # as above, while reading the cells
        raise _unreadable(not_a_workbook) from exc
    finally:
        workbook.close()


def _columns(header: Sequence[Cell]) -> tuple[str, ...]:
    names = [clip(text) if (text := cell_text(cell)) is not None else None for cell in header]
    while names and names[-1] is None:
        names.pop()
    if len(names) == 1 and names[0] and ";" in names[0]:
        raise _unreadable("The header is a single cell with semicolons: separate the columns with commas.")
    errors: list[dict[str, Any]] = []
    columns: list[str] = []
    for position, name in enumerate(names, start=1):
        key = (name or "").lower().replace(" ", "_")
        columns.append(key)
        if not key:
            errors.append({"loc": ["header", position], "msg": "column has no name"})
        elif key not in COLUMNS:
            errors.append({"loc": ["header", name], "msg": "unknown column"})
        elif columns.count(key) == 2:
            errors.append({"loc": ["header", key], "msg": "column appears more than once"})
    errors += [
        {"loc": ["header", name], "msg": "required column is missing"}
        for name in REQUIRED_COLUMNS
        if name not in columns
    ]
    if errors:
        raise _unreadable(
            f"Row 1 must be the header of the import layout ({', '.join(COLUMNS)}); see errors.", errors
        )
    return tuple(columns)


# --- cells ------------------------------------------------------------------------------------


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` cut to `limit` characters, the last an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blank(value: Cell) -> bool:
    """An empty or whitespace-only cell."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: Cell) -> str | None:
    """A cell as trimmed text (None when empty), undoing the apostrophe an export puts before a
    formula-like value."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, datetime):
        text = value.date().isoformat() if value.time() == time() else value.isoformat()
    elif isinstance(value, date | time):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(_FORMULA_START):
        text = text[1:]
    return text or None


# --- writing ----------------------------------------------------------------------------------


def _join(values: Iterable[str]) -> str | None:
    return SEPARATOR.join(values) or None


def _capabilities(items: Sequence[CapabilityLevel]) -> str | None:
    return _join(f"{c.capability}:{c.level}" for c in items)


def _languages(items: Sequence[LanguageLevel]) -> str | None:
    return _join(f"{lang.tag}:{lang.level.value}" for lang in items)


def full_row(expert: ExpertRead | ExpertCreate) -> list[Cell]:
    """An expert in the import layout (`COLUMNS`), so that an export re-imports as it is."""
    rate = expert.daily_rate
    vetting = expert.vetting or Vetting()
    status: ExpertStatus | None = expert.status
    values: dict[str, Cell] = {
        "full_name": expert.full_name,
        "email": expert.email,
        "phone": expert.phone,
        "nationalities": _join(expert.nationalities),
        "residence_country": expert.residence_country,
        "gender": expert.gender,
        "summary": expert.summary,
        "years_experience": expert.years_experience,
        "daily_rate_amount": rate.amount if rate else None,
        "daily_rate_currency": rate.currency if rate else None,
        "modality": expert.modality.value,
        "status": status.value if status else None,
        "capabilities": _capabilities(expert.capabilities),
        "languages": _languages(expert.languages),
        "country_experience": _join(expert.country_experience),
        **{name: getattr(vetting, name) for name in DATE_COLUMNS},
    }
    return [values[name] for name in COLUMNS]


def public_row(expert: ExpertPublic) -> list[Cell]:
    """What a country office may see of an expert (`PUBLIC_COLUMNS`)."""
    values: dict[str, Cell] = {
        "full_name": expert.full_name,
        "summary": expert.summary,
        "status": expert.status.value,
        "capabilities": _capabilities(expert.capabilities),
        "languages": _languages(expert.languages),
        "regions": _join(expert.regions),
    }
    return [values[name] for name in PUBLIC_COLUMNS]


def write_sheet(fmt: SheetFormat, columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A header row and the rows, as CSV (UTF-8 with a byte-order mark, for Excel) or XLSX."""
    return _write_csv(columns, rows) if fmt is SheetFormat.CSV else _write_xlsx(columns, rows)


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        return value.isoformat() if isinstance(value, date | time) else str(value)
    # The apostrophe keeps a formula-like value as text in spreadsheet apps; import removes it.
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _write_csv(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_csv_cell(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def _write_xlsx(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    # Write-only: rows stream to a temporary file instead of living as cell objects in memory.
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("experts")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_cell(sheet: Any, value: Cell) -> Any:
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not (text.startswith("=") or text in ERROR_CODES):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # shown as the text it is, never run as a formula
    return cell


def template(fmt: SheetFormat) -> bytes:
    """The import layout's header with one example row."""
    example = ExpertCreate.model_validate(
        {
            **EXPERT_EXAMPLE,
            "status": "applicant",
            "vetting": {
                "references_checked_on": "2025-11-04",
                "safeguarding_check_on": "2025-11-20",
                "bsafe_completed_on": "2025-10-01",
            },
        }
    )
    return write_sheet(fmt, COLUMNS, [full_row(example)])
