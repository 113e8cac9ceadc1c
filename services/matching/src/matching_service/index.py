"""The in-memory expert index: one row per expert in columnar numpy arrays, kept current from the roster feed.

Rows are dense: row `r` of every column belongs to the same expert, and the live rows are
always `0 … len(index) - 1` (a delete moves the last row into the hole), so scoring works on
plain `[:n]` views without a liveness mask. Columns are stored attribute-major (`(22, capacity)`
for capabilities) so that one capability or one language over all experts is a contiguous
run of bytes; the documented `(n, k)` views are transposes of those.

Calendars live in flat tables sorted by owner row, never as per-expert Python objects (so a
large index adds next to nothing for the garbage collector to walk):

- `busy`: per expert, the union of unavailability and live bookings merged into disjoint
  intervals (owner row, first day, last day, and the `weekdays_before` counts of the first day
  and of the day after the last), so a window's busy working days for every expert are one
  vectorised pass with no double counting;
- `bookings`: the live bookings themselves (owner, first day, last day, request key,
  confirmed), so a ranking can leave out the booking held for the very request being ranked
  and count recent confirmed assignments for tie-breaks;
- the declared unavailability periods, from which, with `bookings`, `calendar(row)` rebuilds
  one expert's calendar when a ranking must recount them without its own booking.

Days are integers counted from 1970-01-01 (`day_number`). The feed is applied in `seq` order;
items at or below the index's `seq` are ignored, so re-reading an overlapping page is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
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

_CEFR_RANK: Final = {level: rank for rank, level in enumerate(CEFR_LEVELS, start=1)}
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MIN_CAPACITY: Final = 64
_MIN_LANGUAGES: Final = 16


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


def country_byte_and_mask(iso3: str) -> tuple[int, int] | None:
    """Where a country sits in a 32-byte country bitset: (byte number, bit mask), or None."""
    bit = country_bits().get(iso3.upper())
    return None if bit is None else (bit >> 3, 1 << (bit & 7))


def day_number(value: date | str) -> int:
    """Days since 1970-01-01 of a date or an ISO `YYYY-MM-DD` string."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return day.toordinal() - _EPOCH_ORDINAL


def day_of(number: int) -> date:
    """The date of a day number (inverse of `day_number`)."""
    return date.fromordinal(number + _EPOCH_ORDINAL)


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


def canonical_id(value: str | uuid.UUID) -> str:
    """The canonical lower-case form of a UUID; ids are compared and ordered in this form."""
    return _parse_id(value)[0]


def _parse_id(value: str | uuid.UUID) -> tuple[str, int]:
    """(canonical string, 128-bit value) of a UUID; the fast path skips `uuid.UUID` for canonical input."""
    if isinstance(value, str) and _canonical_shape(value):
        try:
            return value, int(value.replace("-", ""), 16)
        except ValueError:
            pass  # not hex: let uuid.UUID say so
    parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return str(parsed), parsed.int


def _canonical_shape(value: str) -> bool:
    return (
        len(value) == 36 and value[8] == value[13] == value[18] == value[23] == "-" and value == value.lower()
    )


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
    start: int
    end: int
    request_key: int
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Calendar:
    """One expert's calendar as day numbers: declared unavailability and live bookings."""

    unavailability: tuple[tuple[int, int], ...]
    bookings: tuple[Booking, ...]


_NO_CALENDAR: Final = Calendar((), ())


@dataclass(slots=True)
class _Parsed:
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
    calendar: Calendar
    busy: list[tuple[int, int]]


class _Intervals:
    """Flat interval columns (`owner` first), kept sorted by owner row."""

    def __init__(self, dtypes: Mapping[str, type[np.generic]]) -> None:
        self.columns: dict[str, NDArray[Any]] = {
            "owner": np.empty(0, np.int32),
            **{name: np.empty(0, dtype) for name, dtype in dtypes.items()},
        }

    def __len__(self) -> int:
        return len(self.columns["owner"])

    @property
    def nbytes(self) -> int:
        return sum(column.nbytes for column in self.columns.values())

    def of_owner(self, row: int) -> dict[str, NDArray[Any]]:
        """The intervals of one owner row (a slice: the table is sorted by owner)."""
        lo, hi = np.searchsorted(self.columns["owner"], [row, row + 1]).tolist()
        return {name: column[lo:hi] for name, column in self.columns.items()}

    def replace(
        self, *, remap: NDArray[np.int64] | None, touched: NDArray[np.bool_], new: Mapping[str, NDArray[Any]]
    ) -> None:
        """Renumber owners (`remap[old] = new row or -1`), drop rows in `touched`, add `new`."""
        owner = self.columns["owner"].astype(np.int64)
        if remap is not None:
            owner = remap[owner]
        keep = owner >= 0
        keep[keep] = ~touched[owner[keep]]
        merged = {
            name: np.concatenate([owner[keep] if name == "owner" else column[keep], new[name]]).astype(
                column.dtype
            )
            for name, column in self.columns.items()
        }
        # Each owner's intervals come wholly from one side (kept or new), in the order they had
        # there, so a stable sort on owner alone keeps busy spans in (owner, start) order.
        order = np.argsort(merged["owner"], kind="stable")
        self.columns = {name: column[order] for name, column in merged.items()}


class ExpertIndex:
    """Every expert of the roster as columns; `apply` feed items to keep it current."""

    def __init__(self, *, capacity: int = _MIN_CAPACITY) -> None:
        self.seq = 0
        self._n = 0
        self._capacity = 0
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self._names: list[str | None] = []
        self._language_column: dict[str, int] = {}
        self._request_keys: dict[str, int] = {}
        self._cap = np.zeros((CAPABILITY_COLUMNS, 0), np.uint8)
        self._lang = np.zeros((_MIN_LANGUAGES, 0), np.uint8)
        self._active = np.zeros(0, np.bool_)
        self._modality = np.zeros(0, np.uint8)
        self._experience = np.zeros((COUNTRY_BYTES, 0), np.uint8)
        self._nationality = np.zeros((COUNTRY_BYTES, 0), np.uint8)
        self._experience_regions = np.zeros(0, np.uint8)
        self._home_regions = np.zeros(0, np.uint8)
        self._id_hi = np.zeros(0, np.uint64)
        self._id_lo = np.zeros(0, np.uint64)
        self._busy = _Intervals(
            {"start": np.int32, "end": np.int32, "weekdays_start": np.int32, "weekdays_end": np.int32}
        )
        self._bookings = _Intervals(
            {"start": np.int32, "end": np.int32, "request": np.int32, "confirmed": np.bool_}
        )
        self._unavailability = _Intervals({"start": np.int32, "end": np.int32})
        self._grow(max(capacity, 1))

    @classmethod
    def from_items(cls, items: Iterable[Mapping[str, Any]]) -> ExpertIndex:
        """An index built in bulk from feed items (e.g. a whole feed read from the start)."""
        items = list(items)
        index = cls(capacity=max(len(items), 1))
        index.apply(items)
        return index

    # --- size -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __contains__(self, expert_id: object) -> bool:
        return isinstance(expert_id, str | uuid.UUID) and self.row_of(expert_id) is not None

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def nbytes(self) -> int:
        """Bytes held by the numeric arrays (allocated capacity included; names and ids not)."""
        arrays = (
            self._cap,
            self._lang,
            self._active,
            self._modality,
            self._experience,
            self._nationality,
            self._experience_regions,
            self._home_regions,
            self._id_hi,
            self._id_lo,
        )
        tables = (self._busy, self._bookings, self._unavailability)
        return sum(a.nbytes for a in arrays) + sum(table.nbytes for table in tables)

    # --- rows -------------------------------------------------------------------------------

    def row_of(self, expert_id: str | uuid.UUID) -> int | None:
        try:
            return self._row.get(canonical_id(expert_id))
        except ValueError:
            return None

    def expert_id(self, row: int) -> str:
        return self._ids[row]

    def full_name(self, row: int) -> str | None:
        return self._names[row]

    def calendar(self, row: int) -> Calendar:
        """One expert's calendar, rebuilt from the flat tables (for the rare per-expert recount)."""
        periods = self._unavailability.of_owner(row)
        booked = self._bookings.of_owner(row)
        return Calendar(
            tuple(zip(periods["start"].tolist(), periods["end"].tolist(), strict=True)),
            tuple(
                Booking(start, end, request, confirmed)
                for start, end, request, confirmed in zip(
                    booked["start"].tolist(),
                    booked["end"].tolist(),
                    booked["request"].tolist(),
                    booked["confirmed"].tolist(),
                    strict=True,
                )
            ),
        )

    @property
    def ids(self) -> Sequence[str]:
        """Expert id by row."""
        return self._ids

    @property
    def names(self) -> Sequence[str | None]:
        """Display name by row."""
        return self._names

    # --- columns (views over the live rows) -------------------------------------------------

    def capability(self, number: int) -> NDArray[np.uint8]:
        """Level 0–4 of one capability for every expert (0 = not held); contiguous."""
        return self._cap[number, : self._n]

    @property
    def capability_levels(self) -> NDArray[np.uint8]:
        """`uint8[n, 22]`: column = capability number."""
        return self._cap[:, : self._n].T

    @property
    def languages(self) -> tuple[str, ...]:
        """Base language subtags in column order of `language_levels`."""
        return tuple(self._language_column)

    def language(self, base: str) -> NDArray[np.uint8] | None:
        """Best CEFR rank 0–6 in one base language for every expert, or None if nobody has it."""
        column = self._language_column.get(base)
        return None if column is None else self._lang[column, : self._n]

    @property
    def language_levels(self) -> NDArray[np.uint8]:
        """`uint8[n, L]`: CEFR rank per base language (column order as `languages`)."""
        return self._lang[: len(self._language_column), : self._n].T

    @property
    def active(self) -> NDArray[np.bool_]:
        return self._active[: self._n]

    @property
    def modality(self) -> NDArray[np.uint8]:
        """Bit 1 remote, bit 2 in country (`either` has both), as in `MODALITY_CODES`."""
        return self._modality[: self._n]

    @property
    def experience_bytes(self) -> NDArray[np.uint8]:
        """`uint8[32, n]`: the country-experience bitset, byte-major (see `country_byte_and_mask`)."""
        return self._experience[:, : self._n]

    @property
    def nationality_bytes(self) -> NDArray[np.uint8]:
        return self._nationality[:, : self._n]

    @property
    def country_experience(self) -> NDArray[np.uint8]:
        """`uint8[n, 32]`: each row the 256-bit set of countries the expert has worked in."""
        return self._experience[:, : self._n].T

    @property
    def nationalities(self) -> NDArray[np.uint8]:
        return self._nationality[:, : self._n].T

    @property
    def experience_regions(self) -> NDArray[np.uint8]:
        """Region mask (`region_mask`) of the countries the expert has worked in."""
        return self._experience_regions[: self._n]

    @property
    def home_regions(self) -> NDArray[np.uint8]:
        """Region mask of the expert's residence and nationalities."""
        return self._home_regions[: self._n]

    @property
    def id_hi(self) -> NDArray[np.uint64]:
        """High 64 bits of each UUID; (id_hi, id_lo) order is the canonical id string order."""
        return self._id_hi[: self._n]

    @property
    def id_lo(self) -> NDArray[np.uint64]:
        return self._id_lo[: self._n]

    @property
    def busy(self) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        """(owner row, first day, last day): per expert, disjoint spans of unavailability ∪ bookings."""
        c = self._busy.columns
        return c["owner"], c["start"], c["end"]

    @property
    def busy_weekdays(self) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32]]:
        """(owner row, weekdays_before(first day), weekdays_before(last day + 1)) of the `busy` spans."""
        c = self._busy.columns
        return c["owner"], c["weekdays_start"], c["weekdays_end"]

    @property
    def bookings(
        self,
    ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]]:
        """(owner row, first day, last day, request key, confirmed) of every live booking."""
        c = self._bookings.columns
        return c["owner"], c["start"], c["end"], c["request"], c["confirmed"]

    def request_key(self, request_id: str | uuid.UUID | None) -> int | None:
        """The integer key of a request id in the bookings table, or None if no booking names it."""
        if request_id is None:
            return None
        return self._request_keys.get(canonical_request_id(str(request_id)))

    # --- feed -------------------------------------------------------------------------------

    def apply(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Apply feed items in order; returns how many were newer than `seq` (the rest are skipped).

        Within a batch only each expert's last item matters; a batch is parsed before anything
        changes, so a malformed projection raises and leaves the index as it was.
        """
        final: dict[str, tuple[int, Mapping[str, Any] | None]] = {}
        last_seq = self.seq
        applied = 0
        for item in items:
            seq = int(item["seq"])
            if seq <= self.seq:
                continue
            applied += 1
            last_seq = max(last_seq, seq)
            key, id_int = _parse_id(item["expert_id"])
            final.pop(key, None)  # keep dict order = order of each expert's last change
            if item["kind"] == "delete":
                final[key] = (id_int, None)
            elif item["kind"] == "upsert":
                final[key] = (id_int, item["expert"])
            else:
                raise ValueError(f"feed item {seq}: unknown kind {item['kind']!r}")
        parsed = [self._parse(key, id_int, p) for key, (id_int, p) in final.items() if p is not None]
        deletes = [key for key, (_, p) in final.items() if p is None and key in self._row]
        if parsed or deletes:
            self._write(parsed, deletes)
        self.seq = last_seq
        return applied

    def _parse(self, key: str, id_int: int, p: Mapping[str, Any]) -> _Parsed:
        if p["id"] != key and _parse_id(p["id"])[0] != key:
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
                    self._key_of_request(str(b["request_id"])),
                    b["status"] == "confirmed",
                )
                for b in booked or ()
            )
            calendar = Calendar(unavailability, bookings)
            busy = merge_spans([*unavailability, *((b.start, b.end) for b in bookings)])
        return _Parsed(
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
            calendar,
            busy,
        )

    def _key_of_request(self, request_id: str) -> int:
        # Keys only grow; a released booking's key lingers harmlessly (bounded by requests).
        return self._request_keys.setdefault(canonical_request_id(request_id), len(self._request_keys))

    def _write(self, parsed: list[_Parsed], deletes: list[str]) -> None:
        remap = self._swap_remove(deletes) if deletes else None
        rows = np.empty(len(parsed), np.int64)
        new = 0
        for i, item in enumerate(parsed):
            row = self._row.get(item.key)
            if row is None:
                row = self._n + new
                new += 1
            rows[i] = row
        touched = np.zeros(self._n + new, np.bool_)
        touched[rows] = True  # existing rows among them lose their old intervals
        self._grow(self._n + new)
        for i, item in enumerate(parsed):
            row = int(rows[i])
            if row >= self._n:
                self._ids.append(item.key)
                self._names.append(item.full_name)
                self._row[item.key] = row
            else:
                self._names[row] = item.full_name
        self._n += new
        self._write_columns(parsed, rows)
        busy_owner = [rows[i] for i, item in enumerate(parsed) for _ in item.busy]
        busy_start = np.array([s for item in parsed for s, _ in item.busy], np.int64)
        busy_end = np.array([e for item in parsed for _, e in item.busy], np.int64)
        self._busy.replace(
            remap=remap,
            touched=touched,
            new={
                "owner": np.array(busy_owner, np.int64),
                "start": busy_start,
                "end": busy_end,
                "weekdays_start": weekdays_before(busy_start),
                "weekdays_end": weekdays_before(busy_end + 1),
            },
        )
        periods = [(rows[i], span) for i, item in enumerate(parsed) for span in item.calendar.unavailability]
        self._unavailability.replace(
            remap=remap,
            touched=touched,
            new={
                "owner": np.array([r for r, _ in periods], np.int64),
                "start": np.array([start for _, (start, _) in periods], np.int32),
                "end": np.array([end for _, (_, end) in periods], np.int32),
            },
        )
        booked = [(rows[i], b) for i, item in enumerate(parsed) for b in item.calendar.bookings]
        self._bookings.replace(
            remap=remap,
            touched=touched,
            new={
                "owner": np.array([r for r, _ in booked], np.int64),
                "start": np.array([b.start for _, b in booked], np.int32),
                "end": np.array([b.end for _, b in booked], np.int32),
                "request": np.array([b.request_key for _, b in booked], np.int32),
                "confirmed": np.array([b.confirmed for _, b in booked], np.bool_),
            },
        )

    def _write_columns(self, parsed: list[_Parsed], rows: NDArray[np.int64]) -> None:
        if not parsed:
            return
        k = len(parsed)
        self._cap[:, rows] = (
            np.frombuffer(b"".join(p.capabilities for p in parsed), np.uint8).reshape(k, -1).T
        )
        self._active[rows] = [p.active for p in parsed]
        self._modality[rows] = [p.modality for p in parsed]
        self._experience[:, rows] = _bitsets(p.experience for p in parsed).T
        self._nationality[:, rows] = _bitsets(p.nationality for p in parsed).T
        self._experience_regions[rows] = [p.experience_regions for p in parsed]
        self._home_regions[rows] = [p.home_regions for p in parsed]
        self._id_hi[rows] = np.array([p.id_int >> 64 for p in parsed], np.uint64)
        self._id_lo[rows] = np.array([p.id_int & 0xFFFF_FFFF_FFFF_FFFF for p in parsed], np.uint64)
        # Languages: clear the rows, then set each (row, base language) once at its best level.
        entry_rows: list[int] = []
        entry_columns: list[int] = []
        entry_levels: list[int] = []
        for i, p in enumerate(parsed):
            for base, rank in p.languages.items():
                entry_rows.append(int(rows[i]))
                entry_columns.append(self._column_of_language(base))
                entry_levels.append(rank)
        self._lang[:, rows] = 0
        self._lang[entry_columns, entry_rows] = entry_levels

    def _column_of_language(self, base: str) -> int:
        column = self._language_column.get(base)
        if column is None:
            column = len(self._language_column)
            if column == self._lang.shape[0]:
                grown = np.zeros((2 * column, self._capacity), np.uint8)
                grown[:column] = self._lang
                self._lang = grown
            self._language_column[base] = column
        return column

    def _swap_remove(self, deletes: list[str]) -> NDArray[np.int64]:
        """Remove rows by moving the last row into each hole; returns old row → new row (-1 gone)."""
        old_n = self._n
        original = np.arange(old_n, dtype=np.int64)  # original[current row] = row before the batch
        for key in deletes:
            row = self._row.pop(key)
            last = self._n - 1
            if row != last:
                for column in self._row_columns():
                    column[..., row] = column[..., last]
                moved = self._ids[last]
                self._ids[row] = moved
                self._names[row] = self._names[last]
                self._row[moved] = row
                original[row] = original[last]
            self._ids.pop()
            self._names.pop()
            self._n = last
        remap = np.full(old_n, -1, np.int64)
        remap[original[: self._n]] = np.arange(self._n)
        return remap

    def _row_columns(self) -> tuple[NDArray[Any], ...]:
        return (
            self._cap,
            self._lang,
            self._active,
            self._modality,
            self._experience,
            self._nationality,
            self._experience_regions,
            self._home_regions,
            self._id_hi,
            self._id_lo,
        )

    def _grow(self, needed: int) -> None:
        """Make room for `needed` rows, doubling so appends stay amortised O(1)."""
        if needed <= self._capacity:
            return
        capacity = max(needed, 2 * self._capacity, _MIN_CAPACITY)
        (
            self._cap,
            self._lang,
            self._active,
            self._modality,
            self._experience,
            self._nationality,
            self._experience_regions,
            self._home_regions,
            self._id_hi,
            self._id_lo,
        ) = (_resized(column, capacity, self._n) for column in self._row_columns())
        self._capacity = capacity


def region_masks_of(codes: Iterable[str]) -> int:
    mask = 0
    for code in codes:
        mask |= region_mask(code)
    return mask


def canonical_request_id(request_id: str | uuid.UUID) -> str:
    """Request ids as bookings are keyed: canonical UUID form, or the stripped string if not a UUID."""
    if isinstance(request_id, uuid.UUID):
        return str(request_id)
    try:
        return canonical_id(request_id)
    except ValueError:
        return request_id.strip()


def _bitsets(masks: Iterable[int]) -> NDArray[np.uint8]:
    """Python-int country masks → `uint8[k, 32]` little-endian bitsets."""
    raw = b"".join(m.to_bytes(COUNTRY_BYTES, "little") for m in masks)
    return np.frombuffer(raw, np.uint8).reshape(-1, COUNTRY_BYTES)


def _resized(column: NDArray[Any], capacity: int, used: int) -> NDArray[Any]:
    grown = np.zeros((*column.shape[:-1], capacity), column.dtype)
    grown[..., :used] = column[..., :used]
    return grown
