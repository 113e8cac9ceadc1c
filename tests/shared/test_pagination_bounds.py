"""Cursors carry only what our own pages make: integer keys in the signed 64-bit range (never
negative), timestamps that convert to UTC. Anything else is a 422 naming the cursor, never a 500."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from mnr_shared.bounds import (
    INT64_MAX,
    MAX_DATE,
    MIN_DATE,
    BoundedDate,
    BoundedTimestamp,
    check_date,
    check_timestamp,
)
from mnr_shared.pagination import decode_int_cursor, decode_time_cursor, encode_cursor
from mnr_shared.problems import UnprocessableContent

KEY = "0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f"


def raw_cursor(text: str) -> str:
    """A cursor spelled by hand, as `encode_cursor` would pack it (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_raw_cursor_spells_what_encode_cursor_makes() -> None:
    assert raw_cursor("[42]") == encode_cursor(42)


@pytest.mark.parametrize(
    "text",
    [
        "[9223372036854775808]",  # 2**63: one past the largest BIGINT
        "[99999999999999999999]",
        "[-9223372036854775809]",
        "[-1]",  # ids and sequence numbers are never negative
        "[true]",  # JSON true is a Python int subclass
        "[1.5]",
        "[1e400]",
        '["12"]',
        "[null]",
        "[1, 2]",
    ],
)
def test_integer_cursor_outside_the_bigint_range_or_not_an_integer_is_422(text: str) -> None:
    with pytest.raises(UnprocessableContent) as refused:
        decode_int_cursor(raw_cursor(text))

    assert refused.value.extra["errors"] == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]


@pytest.mark.parametrize("key", [0, 1, 2**31, INT64_MAX])
def test_integer_cursor_within_the_range_round_trips(key: int) -> None:
    assert decode_int_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+14:00",  # the year 0 in UTC
        "9999-12-31T23:59:59-14:00",  # the year 10000 in UTC
    ],
)
def test_time_cursor_that_cannot_be_expressed_in_utc_is_422(at: str) -> None:
    with pytest.raises(UnprocessableContent):
        decode_time_cursor(encode_cursor(at, KEY))


def test_time_cursor_comes_back_in_utc() -> None:
    when, _ = decode_time_cursor(encode_cursor("2026-11-28T12:00:00+02:00", KEY))

    assert when.isoformat() == "2026-11-28T10:00:00+00:00"


# --- the date range every service accepts ------------------------------------------------------


@pytest.mark.parametrize("day", [MIN_DATE, date(2026, 11, 28), MAX_DATE])
def test_dates_within_the_range_pass(day: date) -> None:
    assert check_date(day) == day


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1899, 12, 31), date(2201, 1, 1), date(9999, 12, 31)])
def test_dates_outside_the_range_are_value_errors_naming_it(day: date) -> None:
    with pytest.raises(ValueError, match="1900-01-01") as refused:
        check_date(day)

    assert "2200-12-31" in str(refused.value)


@pytest.mark.parametrize(
    "when",
    [
        datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
        datetime.fromisoformat("9999-12-31T23:59:59-14:00"),
        datetime.fromisoformat("2201-01-01T00:00:00"),
    ],
)
def test_timestamps_outside_the_range_are_value_errors(when: datetime) -> None:
    with pytest.raises(ValueError, match="1900-01-01"):
        check_timestamp(when)


@pytest.mark.parametrize(
    "when",
    ["1900-01-01T00:00:00+14:00", "2200-12-31T23:59:59-14:00", "2026-11-28T10:00:00+00:00"],
)
def test_timestamps_within_the_range_pass_and_convert_to_utc_safely(when: str) -> None:
    value = datetime.fromisoformat(when)

    assert check_timestamp(value) == value
    assert check_timestamp(value).astimezone(UTC) == value


@pytest.mark.parametrize("value", [0, 0.5, "0", "-1.19e-63", "1700000000", " 12 ", True])
@pytest.mark.parametrize(
    "adapter",
    [TypeAdapter(BoundedDate), TypeAdapter(BoundedTimestamp), TypeAdapter(BoundedDate | None)],
    ids=["date", "timestamp", "optional-date"],
)
def test_numbers_are_not_read_as_unix_times(adapter: TypeAdapter[object], value: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        adapter.validate_python(value)


def test_iso_text_still_parses() -> None:
    assert TypeAdapter(BoundedDate).validate_python("2027-03-01") == date(2027, 3, 1)
    assert TypeAdapter(BoundedTimestamp).validate_python("2027-03-01T10:00:00Z") == datetime(
        2027, 3, 1, 10, tzinfo=UTC
    )
