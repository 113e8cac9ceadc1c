"""Spreadsheet rows as experts: cells to an `ExpertCreate` (or every reason a row is not one), the
change a row makes to an existing expert, and the import report.

Pure functions over cells and schemas; `sheets.py` reads the file, `service.py` writes the roster.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from roster_service.schemas import ExpertCreate, ExpertUpdate, Vetting
from roster_service.spreadsheets.sheets import (
    DATE_COLUMNS,
    MAX_CELL_CHARS,
    MAX_ROW_ERRORS,
    MESSAGE_CHARS,
    Cell,
    Sheet,
    SheetRow,
    blank,
    cell_text,
    clip,
)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ITEM_SPLIT = re.compile(r"[;,]")

# --- cells to an expert -----------------------------------------------------------------------


def _items(value: Cell) -> list[str]:
    text = cell_text(value)
    return [item.strip() for item in _ITEM_SPLIT.split(text)] if text else []


def _date(value: Cell) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value) or ""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{clip(text)!r} is not a date; write it as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date: {exc}") from exc


class RowError(BaseModel):
    field: str = Field(examples=["capabilities"], description="The column at fault (`row` for the row).")
    msg: str = Field(
        examples=["item 1 capability: Input should be less than or equal to 21"],
        description=f"At most {MESSAGE_CHARS} characters.",
    )

    @field_validator("msg")
    @classmethod
    def _short(cls, value: str) -> str:
        return clip(value, MESSAGE_CHARS)


@dataclass
class ParsedRow:
    number: int
    email: str | None
    body: ExpertCreate | None  # None when the row is rejected
    errors: list[RowError] = field(default_factory=list)  # the first MAX_ROW_ERRORS found
    filled: frozenset[str] = frozenset()  # columns with a value in this row
    more: int = 0  # errors found past the first MAX_ROW_ERRORS (counted, not kept)

    def add(self, errors: Iterable[RowError]) -> None:
        """Keep the first MAX_ROW_ERRORS errors, count the others."""
        for error in errors:
            if len(self.errors) < MAX_ROW_ERRORS:
                self.errors.append(error)
            else:
                self.more += 1


def _pairs(value: Cell, column: str) -> tuple[list[tuple[str, str]], RowError | None]:
    """`a:b; c:d` as [(a, b), (c, d)], or the error naming the items that are not pairs."""
    if isinstance(value, time) and not value.second:
        value = f"{value.hour}:{value.minute}"  # Excel stores a lone "4:3" typed in a cell as 04:03
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for item in _items(value):
        left, colon, right = item.partition(":")
        if not colon or not left.strip() or not right.strip():
            bad.append(item)
        else:
            pairs.append((left.strip(), right.strip()))
    if not bad:
        return pairs, None
    shape = "capability:level, e.g. 4:3" if column == "capabilities" else "tag:level, e.g. en:C2"
    listed = clip(", ".join(repr(b) for b in bad))
    return [], RowError(field=column, msg=f"write each item as {shape}, separated by ';' (not {listed})")


def _payload(cells: dict[str, Cell]) -> tuple[dict[str, Any], list[RowError]]:
    """The cells as an `ExpertCreate` body, and the errors found before validation."""
    data: dict[str, Any] = {}
    errors: list[RowError] = []
    for name in ("full_name", "email", "phone", "residence_country", "gender", "summary"):
        if (text := cell_text(cells.get(name))) is not None:
            data[name] = text
    for name in ("modality", "status"):
        if (text := cell_text(cells.get(name))) is not None:
            data[name] = text.lower()
    years = cells.get("years_experience")
    if not blank(years):
        data["years_experience"] = cell_text(years) if isinstance(years, str) else years
    for name in ("nationalities", "country_experience"):
        data[name] = [item.upper() for item in _items(cells.get(name))]
    for name in ("capabilities", "languages"):
        pairs, error = _pairs(cells.get(name), name)
        if error is not None:
            errors.append(error)
        elif name == "capabilities":
            data[name] = [{"capability": number, "level": level} for number, level in pairs]
        else:
            data[name] = [{"tag": tag, "level": level.upper()} for tag, level in pairs]
    amount, currency = cells.get("daily_rate_amount"), cell_text(cells.get("daily_rate_currency"))
    if not blank(amount) or currency is not None:
        rate: dict[str, Any] = {}
        if not blank(amount):
            rate["amount"] = cell_text(amount) if not isinstance(amount, float) else repr(amount)
        if currency is not None:
            rate["currency"] = currency
        data["daily_rate"] = rate
    vetting: dict[str, date] = {}
    for name in DATE_COLUMNS:
        value = cells.get(name)
        if blank(value):
            continue
        try:
            vetting[name] = _date(value)
        except ValueError as exc:
            errors.append(RowError(field=name, msg=str(exc)))
    if vetting:
        data["vetting"] = vetting
    return data, errors


def _row_error(error: ErrorDetails) -> RowError:
    """A pydantic error as the spreadsheet column it came from."""
    loc = error["loc"]
    msg = error["msg"].removeprefix("Value error, ")
    head, rest = (str(loc[0]), loc[1:]) if loc else ("row", ())
    if head == "daily_rate":
        return RowError(field=f"daily_rate_{rest[0]}" if rest else "daily_rate_amount", msg=msg)
    if head == "vetting" and rest:
        return RowError(field=str(rest[0]), msg=msg)
    if rest and isinstance(rest[0], int):
        where = " ".join([f"item {rest[0] + 1}", *(str(part) for part in rest[1:])])
        return RowError(field=head, msg=f"{where}: {msg}")
    return RowError(field=head, msg=msg)


def parse_row(row: SheetRow) -> ParsedRow:
    """One data row validated as an `ExpertCreate`, with every reason it is not one."""
    data, errors = _payload(row.cells)
    parsed = ParsedRow(
        number=row.number,
        email=None,
        body=None,
        filled=frozenset(name for name, value in row.cells.items() if not blank(value)),
    )
    parsed.add(
        RowError(field=name, msg=f"has {length:,} characters; a cell holds at most {MAX_CELL_CHARS:,}")
        for name, length in row.oversized.items()
    )
    parsed.add(errors)
    if row.stray:
        parsed.add([RowError(field="row", msg="has values to the right of the last named column")])
    try:
        candidate = ExpertCreate.model_validate(data)
    except ValidationError as exc:
        for detail in exc.errors(include_url=False, include_input=False):
            if len(parsed.errors) == MAX_ROW_ERRORS and not row.oversized:
                parsed.more += 1  # counted, not built: a row may carry hundreds
                continue
            # An oversized cell was not read: what validation says of it (say, missing) adds nothing.
            if (error := _row_error(detail)).field not in row.oversized:
                parsed.add([error])
    else:
        parsed.body = None if parsed.errors else candidate
    given = cell_text(row.cells.get("email"))
    parsed.email = parsed.body.email if parsed.body else (clip(given) if given is not None else None)
    return parsed


def parse_rows(sheet: Sheet) -> list[ParsedRow]:
    """Every data row parsed; a row repeating an earlier row's email is rejected (the file must
    say once what each expert is)."""
    rows = [parse_row(row) for row in sheet.rows]
    first: dict[str, int] = {}
    for row in rows:
        key = (row.email or "").lower()
        if not key:
            continue
        if key in first:
            row.body = None
            row.add([RowError(field="email", msg=f"repeats the email of row {first[key]}")])
        else:
            first[key] = row.number
    return rows


# Which `ExpertUpdate` field each column feeds (email is the key, status and vetting are special).
_UPDATE_SOURCES: dict[str, tuple[str, ...]] = {
    "full_name": ("full_name",),
    "phone": ("phone",),
    "nationalities": ("nationalities",),
    "residence_country": ("residence_country",),
    "gender": ("gender",),
    "summary": ("summary",),
    "years_experience": ("years_experience",),
    "daily_rate": ("daily_rate_amount", "daily_rate_currency"),
    "capabilities": ("capabilities",),
    "languages": ("languages",),
    "country_experience": ("country_experience",),
}


def update_for(row: ParsedRow, *, columns: frozenset[str], vetting: Vetting) -> ExpertUpdate:
    """The change a valid row makes to the existing expert with its email: columns in the file
    replace stored values (empty cells clear them), absent columns and an empty `modality` keep
    them, vetting dates merge with the stored `vetting`. Status is the caller's to apply."""
    body = row.body
    assert body is not None, "only valid rows update"
    values: dict[str, Any] = {
        name: getattr(body, name)
        for name, sources in _UPDATE_SOURCES.items()
        if columns.intersection(sources)
    }
    if "modality" in row.filled:
        values["modality"] = body.modality
    if columns.intersection(DATE_COLUMNS):
        given = body.vetting or Vetting()
        # Not validated again: the file's dates are, and stored ones stay as they were accepted.
        values["vetting"] = Vetting.model_construct(
            **{name: getattr(given if name in columns else vetting, name) for name in DATE_COLUMNS}
        )
    return ExpertUpdate.model_validate(values)


# --- the report -------------------------------------------------------------------------------


class ImportOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    REJECTED = "rejected"


class ImportRow(BaseModel):
    row: int = Field(examples=[2], description="Spreadsheet row number; the header is row 1.")
    email: str | None = Field(examples=["amina.odhiambo@example.org"])
    outcome: ImportOutcome
    expert_id: uuid.UUID | None = Field(description="The expert written (or, in a dry run, updated).")
    errors: list[RowError] = Field(default_factory=list)


class ImportSummary(BaseModel):
    created: int = 0
    updated: int = 0
    rejected: int = 0


class ImportReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": False,
                    "summary": {"created": 1, "updated": 0, "rejected": 1},
                    "rows": [
                        {
                            "row": 2,
                            "email": "amina.odhiambo@example.org",
                            "outcome": "created",
                            "expert_id": "0b7c9a52-2f0e-4a57-9d0c-3f4f1c2b8e11",
                            "errors": [],
                        },
                        {
                            "row": 3,
                            "email": "not-an-email",
                            "outcome": "rejected",
                            "expert_id": None,
                            "errors": [
                                {"field": "email", "msg": "value is not a valid email address"},
                                {"field": "capabilities", "msg": "item 1 capability: Input should be ≤ 21"},
                            ],
                        },
                    ],
                }
            ]
        }
    )

    dry_run: bool
    summary: ImportSummary
    rows: list[ImportRow]


def rejected(row: ParsedRow, *errors: RowError) -> ImportRow:
    """A rejected row's report line, listing at most MAX_ROW_ERRORS errors (the last one says how
    many more there are)."""
    found = [*row.errors, *errors]
    if len(found) + row.more > MAX_ROW_ERRORS:
        more = len(found) + row.more - MAX_ROW_ERRORS + 1
        found = [*found[: MAX_ROW_ERRORS - 1], RowError(field="row", msg=f"and {more} more errors")]
    return ImportRow(
        row=row.number,
        email=row.email,
        outcome=ImportOutcome.REJECTED,
        expert_id=None,
        errors=found,
    )


def report(*, dry_run: bool, rows: list[ImportRow]) -> ImportReport:
    summary = ImportSummary(
        created=sum(r.outcome is ImportOutcome.CREATED for r in rows),
        updated=sum(r.outcome is ImportOutcome.UPDATED for r in rows),
        rejected=sum(r.outcome is ImportOutcome.REJECTED for r in rows),
    )
    return ImportReport(dry_run=dry_run, summary=summary, rows=rows)
