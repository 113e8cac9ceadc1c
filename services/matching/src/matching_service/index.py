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

Values are encoded by `matching_service.encoding` (days are integers counted from 1970-01-01,
`day_number`). The feed is applied in `seq` order; items at or below the index's `seq` are
ignored, so re-reading an overlapping page is harmless. A `delete` (an erased expert) removes
the row with its name: nothing of the expert stays in the index.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from matching_service.encoding import (
    CAPABILITY_COLUMNS,
    COUNTRY_BYTES,
    NOT_VETTED,
    Booking,
    Calendar,
    EncodedExpert,
    canonical_id,
    canonical_request_id,
    country_bitsets,
    encode_projection,
    parse_id,
    weekdays_before,
)

_MIN_CAPACITY: Final = 64
_MIN_LANGUAGES: Final = 16


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
        self._vetted_until = np.full(0, NOT_VETTED, np.int32)
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
            self._vetted_until,
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
    def vetted_until(self) -> NDArray[np.int32]:
        """Day number of the last day each expert's safeguarding check is valid (`NOT_VETTED`: none)."""
        return self._vetted_until[: self._n]

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
            key, id_int = parse_id(item["expert_id"])
            final.pop(key, None)  # keep dict order = order of each expert's last change
            if item["kind"] == "delete":
                final[key] = (id_int, None)
            elif item["kind"] == "upsert":
                final[key] = (id_int, item["expert"])
            else:
                raise ValueError(f"feed item {seq}: unknown kind {item['kind']!r}")
        parsed = [
            encode_projection(key, id_int, p, self._key_of_request)
            for key, (id_int, p) in final.items()
            if p is not None
        ]
        deletes = [key for key, (_, p) in final.items() if p is None and key in self._row]
        if parsed or deletes:
            self._write(parsed, deletes)
        self.seq = last_seq
        return applied

    def _key_of_request(self, request_id: str) -> int:
        # Keys only grow; a released booking's key lingers harmlessly (bounded by requests).
        return self._request_keys.setdefault(canonical_request_id(request_id), len(self._request_keys))

    def _write(self, parsed: list[EncodedExpert], deletes: list[str]) -> None:
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

    def _write_columns(self, parsed: list[EncodedExpert], rows: NDArray[np.int64]) -> None:
        if not parsed:
            return
        k = len(parsed)
        self._cap[:, rows] = (
            np.frombuffer(b"".join(p.capabilities for p in parsed), np.uint8).reshape(k, -1).T
        )
        self._active[rows] = [p.active for p in parsed]
        self._modality[rows] = [p.modality for p in parsed]
        self._experience[:, rows] = country_bitsets(p.experience for p in parsed).T
        self._nationality[:, rows] = country_bitsets(p.nationality for p in parsed).T
        self._experience_regions[rows] = [p.experience_regions for p in parsed]
        self._home_regions[rows] = [p.home_regions for p in parsed]
        self._vetted_until[rows] = [p.vetted_until for p in parsed]
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
            self._vetted_until,
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
            self._vetted_until,
            self._id_hi,
            self._id_lo,
        ) = (_resized(column, capacity, self._n) for column in self._row_columns())
        self._capacity = capacity


def _resized(column: NDArray[Any], capacity: int, used: int) -> NDArray[Any]:
    grown = np.zeros((*column.shape[:-1], capacity), column.dtype)
    grown[..., :used] = column[..., :used]
    return grown
