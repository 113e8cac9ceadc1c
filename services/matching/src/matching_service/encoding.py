"""Encoders shared by the index and the scorer: days, working days, languages, CEFR levels, countries, ids.

Everything the index stores and a ranking compares is first turned into small integers here:
days are counted from 1970-01-01 (`day_number`), working days by `weekdays_before`, languages
are reduced to their base subtag (`base_language`), CEFR levels to ranks 1–6 (`cefr_rank`),
countries to bits of a 256-bit set and UNICEF regions to bits of a `uint8` mask, and UUIDs to
their canonical lower-case form (`canonical_id`). Busy days of calendars are counted on those
encodings (`busy_days` for every expert at once, `calendar_busy_days` for one), and
`encode_projection` turns one roster feed projection into the values of the index's columns
(the vetting expiry `vetting_valid_until` as a day number, `NOT_VETTED` when there is none).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from mnr_shared.reference import countries, normalize_language, region_of, regions

CAPABILITY_COLUMNS: Final = 22  # column = capability number 1–21; column 0 stays empty
MODALITY_CODES: Final = {"remote": 0b01, "in_country": 0b10, "either": 0b11}
CEFR_LEVELS: Final = ("A1", "A2", "B1", "B2", "C1", "C2")  # rank = position + 1
COUNTRY_BYTES: Final = 32  # a 256-bit set over the ISO3 vocabulary (ISO 3166-1 plus XKX)
NOT_VETTED: Final = -(2**31)  # the `vetting_valid_until` day number of an expert with no valid check

_CEFR_RANK: Final = {level: rank for rank, level in enumerate(CEFR_LEVELS, start=1)}
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


# --- countries and regions ---------------------------------------------------------------------


@cache
def country_bits() -> dict[str, int]:
    """ISO3 → bit number in the country bitsets (sorted codes, so the numbering is stable)."""
    codes = sorted(countries())
    if len(codes) > COUNTRY_BYTES * 8:
        raise RuntimeError(f"{len(codes)} countries do not fit a {COUNTRY_BYTES * 8}-bit set")
    return {code: bit for bit, code in enumerate(codes)}


@cache
def region_bits() -> dict[str, int]:
    """UNICEF region code → bit number in the `uint8` region masks."""
    return {region.code: bit for bit, region in enumerate(regions())}


def region_mask(region: str | None) -> int:
    """The region-mask bit of a region code (0 for none or an unknown code)."""
    bit = region_bits().get(region or "")
    return 0 if bit is None else 1 << bit


def region_masks_of(codes: Iterable[str]) -> int:
    """The region mask of several region codes (unknown codes add nothing)."""
    mask = 0
    for code in codes:
        mask |= region_mask(code)
    return mask


def country_byte_and_mask(iso3: str) -> tuple[int, int] | None:
    """Where a country sits in a 32-byte country bitset: (byte number, bit mask), or None."""
    bit = country_bits().get(iso3.upper())
    return None if bit is None else (bit >> 3, 1 << (bit & 7))


def country_bitsets(masks: Iterable[int]) -> NDArray[np.uint8]:
    """Python-int country masks → `uint8[k, 32]` little-endian bitsets."""
    raw = b"".join(m.to_bytes(COUNTRY_BYTES, "little") for m in masks)
    return np.frombuffer(raw, np.uint8).reshape(-1, COUNTRY_BYTES)


# --- days and calendars ------------------------------------------------------------------------


def day_number(value: date | str) -> int:
    """Days since 1970-01-01 of a date or an ISO `YYYY-MM-DD` string."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return day.toordinal() - _EPOCH_ORDINAL


def day_of(number: int) -> date:
    """The date of a day number (inverse of `day_number`)."""
    return date.fromordinal(number + _EPOCH_ORDINAL)


def as_date(value: date | str) -> date:
    """A date as given, or parsed from an ISO `YYYY-MM-DD` string."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def weekdays_before(day: NDArray[np.int64]) -> NDArray[np.int64]:
    """Monday–Friday days from a fixed Monday up to (excluding) each day number.

    Day 0 (1970-01-01) is a Thursday, so `day + 3` counts from Monday 1969-12-29. The count is
    non-decreasing in the day, so the working days of [a, b] are `wb(b + 1) - wb(a)`, and
    clipping a span to a window can be done on these counts: wb(max(a, w)) = max(wb(a), wb(w)).
    """
    weeks, rest = np.divmod(day + 3, 7)
    return weeks * 5 + np.minimum(rest, 5)


def working_days(first: int, last: int) -> int:
    """Monday–Friday days in [first, last] (day numbers, both included); 0 when last < first."""
    if last < first:
        return 0
    after_last, at_first = weekdays_before(np.array([last + 1, first], np.int64)).tolist()
    return int(after_last - at_first)


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Disjoint, sorted inclusive day spans covering the same days (touching spans join)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True, slots=True)
class Booking:
    """A live booking in a calendar: its days, the key of the request it holds, whether confirmed."""

    start: int
    end: int
    request_key: int
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Calendar:
    """One expert's calendar as day numbers: declared unavailability and live bookings."""

    unavailability: tuple[tuple[int, int], ...]
    bookings: tuple[Booking, ...]


def busy_days(
    owner: NDArray[np.int32],
    weekdays_start: NDArray[np.int32],
    weekdays_end: NDArray[np.int32],
    *,
    first: int,
    last: int,
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Busy Mon–Fri days in [first, last] from spans sorted by owner and disjoint per owner.

    Spans come as `weekdays_before` counts of their first day and of the day after their last;
    clipping to the window is then a max/min on those counts. Returns (owners, busy days) for
    the owners with any busy working day there — sparse, as most experts have none in a window.
    """
    window_start, window_end = weekdays_before(np.array([first, last + 1], np.int64)).tolist()
    days = np.minimum(weekdays_end, window_end)
    days -= np.maximum(weekdays_start, window_start)
    hit = np.flatnonzero(days > 0)
    owners = owner[hit]
    if len(owners) == 0:
        return owners, days[hit]
    # Sorted by owner, so each owner's spans are one run: sum the runs (by a running total,
    # which beats `reduceat` when most runs hold a single span).
    last_of_run = np.flatnonzero(np.concatenate((owners[1:] != owners[:-1], [True])))
    running = np.cumsum(days[hit])[last_of_run]
    return owners[last_of_run], np.diff(running, prepend=running.dtype.type(0))


def calendar_busy_days(calendar: Calendar, *, first: int, last: int, except_request: int | None) -> int:
    """Busy Mon–Fri days in [first, last] of one calendar, leaving out one request's bookings."""
    spans = [*calendar.unavailability]
    spans += [(b.start, b.end) for b in calendar.bookings if b.request_key != except_request]
    total = 0
    for start, end in merge_spans(spans):
        if start <= last and end >= first:
            total += working_days(max(start, first), min(end, last))
    return total


# --- languages and ids -------------------------------------------------------------------------


@cache
def base_language(tag: str) -> str:
    """The base language subtag of a BCP 47 tag (`en-GB` → `en`, `eng` → `en`)."""
    try:
        tag = normalize_language(tag)
    except ValueError:
        # The roster validates tags on the way in; an odd one here still matches itself.
        tag = tag.strip()
    return tag.split("-", 1)[0].lower()


def cefr_rank(level: str) -> int:
    """CEFR level → 1 (A1) … 6 (C2)."""
    return CEFR_LEVELS.index(level.strip().upper()) + 1


def cefr_name(rank: int) -> str | None:
    """CEFR rank → level name; None for 0 (the language is not spoken)."""
    return CEFR_LEVELS[rank - 1] if rank else None


def canonical_id(value: str | uuid.UUID) -> str:
    """The canonical lower-case form of a UUID; ids are compared and ordered in this form."""
    return parse_id(value)[0]


def parse_id(value: str | uuid.UUID) -> tuple[str, int]:
    """(canonical string, 128-bit value) of a UUID; the fast path skips `uuid.UUID` for canonical input."""
    if isinstance(value, str) and _canonical_shape(value):
        try:
            return value, int(value.replace("-", ""), 16)
        except ValueError:
            pass  # not hex: let uuid.UUID say so
    parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return str(parsed), parsed.int


def canonical_request_id(request_id: str | uuid.UUID) -> str:
    """Request ids as bookings are keyed: canonical UUID form, or the stripped string if not a UUID."""
    if isinstance(request_id, uuid.UUID):
        return str(request_id)
    try:
        return canonical_id(request_id)
    except ValueError:
        return request_id.strip()


def _canonical_shape(value: str) -> bool:
    return (
        len(value) == 36 and value[8] == value[13] == value[18] == value[23] == "-" and value == value.lower()
    )


# --- feed projections --------------------------------------------------------------------------


@cache
def _country_entry(iso3: str) -> tuple[int, int]:
    """(bit in the country bitset or 0, region mask) of a country, as one int mask each."""
    bit = country_bits().get(iso3)
    return (0 if bit is None else 1 << bit), region_mask(region_of(iso3))


@lru_cache(maxsize=1 << 16)
def _day_of_text(text: str) -> int:
    return day_number(text)


def _day(value: date | str) -> int:
    # Feed dates repeat a lot (the same weeks across experts); parsing each text once saves most.
    return _day_of_text(value) if isinstance(value, str) else day_number(value)


_NO_CALENDAR: Final = Calendar((), ())


@dataclass(slots=True)
class EncodedExpert:
    """One feed projection turned into column values (still per expert, before the bulk write)."""

    key: str
    id_int: int
    full_name: str | None
    active: bool
    modality: int
    capabilities: bytes
    languages: dict[str, int]
    experience: int
    nationality: int
    experience_regions: int
    home_regions: int
    vetted_until: int  # day number of `vetting_valid_until`, NOT_VETTED without one
    calendar: Calendar
    busy: list[tuple[int, int]]


def encode_projection(
    key: str, id_int: int, p: Mapping[str, Any], key_of_request: Callable[[str], int]
) -> EncodedExpert:
    """One feed projection (expert `key`, UUID value `id_int`) as column values.

    `key_of_request` gives the integer key under which the index files a booking's request id.
    A projection without `vetting_valid_until` (or with null) has no valid safeguarding check.
    Raises ValueError (or KeyError) on a malformed projection.
    """
    if p["id"] != key and parse_id(p["id"])[0] != key:
        raise ValueError(f"feed item for {key} carries the projection of {p['id']}")
    caps = bytearray(CAPABILITY_COLUMNS)
    for entry in p.get("capabilities") or ():
        number, level = entry["capability"], entry["level"]
        if not (0 < number < CAPABILITY_COLUMNS and 0 < level < 5):
            raise ValueError(f"expert {key}: capability {number} at level {level} is out of range")
        if level > caps[number]:
            caps[number] = level
    languages: dict[str, int] = {}
    for entry in p.get("languages") or ():
        base = base_language(entry["tag"])
        rank = _CEFR_RANK.get(entry["level"]) or cefr_rank(entry["level"])
        if rank > languages.get(base, 0):
            languages[base] = rank
    experience = nationality = 0
    declared = p.get("regions")
    experience_regions = region_masks_of(declared) if declared else 0
    for iso3 in p.get("country_experience") or ():
        bit, region = _country_entry(iso3)
        experience |= bit
        experience_regions |= region
    residence = p.get("residence_country")
    home_regions = _country_entry(residence)[1] if residence else 0
    for iso3 in p.get("nationalities") or ():
        bit, region = _country_entry(iso3)
        nationality |= bit
        home_regions |= region
    periods, booked = p.get("unavailability"), p.get("bookings")
    calendar, busy = _NO_CALENDAR, []
    if periods or booked:  # most experts have neither: skip the span work for them
        unavailability = tuple((_day(u["start"]), _day(u["end"])) for u in periods or ())
        bookings = tuple(
            Booking(
                _day(b["start"]),
                _day(b["end"]),
                key_of_request(str(b["request_id"])),
                b["status"] == "confirmed",
            )
            for b in booked or ()
        )
        calendar = Calendar(unavailability, bookings)
        busy = merge_spans([*unavailability, *((b.start, b.end) for b in bookings)])
    vetted = p.get("vetting_valid_until")
    return EncodedExpert(
        key,
        id_int,
        p.get("full_name"),
        p["status"] == "active",
        MODALITY_CODES[p["modality"]],
        bytes(caps),
        languages,
        experience,
        nationality,
        experience_regions,
        home_regions,
        _day(vetted) if vetted else NOT_VETTED,
        calendar,
        busy,
    )
