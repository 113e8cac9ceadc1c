"""The ranges every service accepts for dates, timestamps and integer keys, so that no input can
overflow date arithmetic, a UTC conversion or a database column into a 500.

Dates (assignment windows, calendars, vetting checks, search windows) and timestamps (filters)
lie in [1900-01-01, 2200-12-31]: a year's arithmetic either side of the range stays far inside
what Python, NumPy and the databases represent. Integer keys (ids, feed sequence numbers,
cursors) lie in [0, 2**63 - 1], the range of a signed 64-bit column.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator

MIN_DATE: Final = date(1900, 1, 1)
MAX_DATE: Final = date(2200, 12, 31)
INT64_MAX: Final = 2**63 - 1

_RANGE = f"between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"
_NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*")


def iso_text(value: object) -> object:
    """`value` unless it is a number or a numeric string: pydantic's lax mode would read one as a
    Unix time (`to=0` as 1970-01-01), so dates and times come only as ISO 8601 text."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be ISO 8601 text (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ for a time)")
    return value


def check_date(value: date) -> date:
    """`value` when it lies in [MIN_DATE, MAX_DATE]; ValueError (a 422 in a schema) otherwise."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"must be a date {_RANGE}")
    return value


def check_timestamp(value: datetime) -> datetime:
    """`value` when its own calendar day lies in [MIN_DATE, MAX_DATE] (so converting it to UTC
    cannot overflow); ValueError otherwise."""
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise ValueError(f"must be a time {_RANGE}")
    return value


def clamp_date(value: date) -> date:
    """`value` moved into [MIN_DATE, MAX_DATE] (for defaults computed from a bounded date)."""
    return min(max(value, MIN_DATE), MAX_DATE)


def check_optional_date(value: date | None) -> date | None:
    """`check_date` for an optional field; as the validator of the whole `Annotated[date | …]`, its
    errors name the field rather than a member of a union."""
    return None if value is None else check_date(value)


# Inner `Annotated` so that `BoundedDate | None` keeps the number check on the date member.
IsoDate = Annotated[date, BeforeValidator(iso_text)]
IsoTimestamp = Annotated[datetime, BeforeValidator(iso_text)]
BoundedDate = Annotated[IsoDate, AfterValidator(check_date)]
BoundedTimestamp = Annotated[IsoTimestamp, AfterValidator(check_timestamp)]
