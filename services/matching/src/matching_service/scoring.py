"""Scoring experts against a request — hard filters, soft components, the ranking — as pure array functions.

Everything here reads an `ExpertIndex` and returns new values; nothing does I/O, and no
loop runs over all experts in Python (loops run over the request's few needs, or over the
`limit` items returned).

Hard filters, in this order; an excluded expert is counted under the first one it fails:

1. `not_active` — status is not `active`;
2. `vetting_expired` — no safeguarding check valid on `as_of` (the roster feed's
   `vetting_valid_until` is before it, or there is none);
3. `missing_required_capability` — below `min_level` in a required capability;
4. `missing_required_language` — below `min_level` in a required language (matched by base
   language: an expert's `en-GB` serves a request for `en` and vice versa);
5. `insufficient_availability` — `free_days < effort_days`, where `free_days` counts the
   Monday–Friday days in [start_date, end_date] not covered by the expert's unavailability
   or live bookings; a booking made for the very request being ranked does not count. Also
   when a live booking for another request overlaps the window at all: the approval holds
   the whole window, and two bookings of one expert never overlap (DESIGN §4), so the roster
   would refuse it. Declared unavailability inside the window only subtracts its days;
6. `modality_incompatible` — request `remote` needs an expert `remote`/`either`,
   `in_country` needs `in_country`/`either`, `either` takes anyone;
7. `nationality_preference` — `national` needs the request country among the expert's
   nationalities, `international` needs it absent, `any` takes anyone.

Soft components, each in [0, 1]:

- expertise = Σ wᵢ·s(levelᵢ, minᵢ) / Σ wᵢ over the requested capabilities, w = 2 for
  required and 1 for desired, with s(l, m) = 0 when the capability is not held (l = 0),
  0.5·l/m below the asked level (0 < l < m), and 0.85 + 0.05·(l − m) at or above it — meeting
  the level scores 0.85 and each level beyond adds 0.05 (`LEVEL_SCORE`). 1.0 when the request
  names no capability.
- language = (desired languages the expert has at ≥ min_level) / (desired languages);
  1.0 when no language is desired (required ones are already guaranteed by the filter).
- region = 1.0 with experience in the request country; else 0.6 with experience elsewhere in
  its UNICEF programme region; else 0.3 when residence or a nationality lies in that region;
  else 0. A country outside the seven regions scores 1.0 or 0.
- availability = min(1, free_days / (1.5·effort_days)): full marks once the window holds
  half as many free days again as the work needs.

score = w_expertise·expertise + w_language·language + w_region·region +
w_availability·availability, with the policy's weights (each in [0, 1], summing to 1), so the
score is in [0, 1] and each item's `components[name].contribution` add up to it.

Order: score descending, then fewer recent assignments (confirmed bookings ending within
`RECENT_DAYS` before `as_of` or later, the ranked request's own excepted), then expert id
ascending (UUID order, which is the canonical string order).

The request, the policy and the result types are in `ranking`. The dev kit's
`mnr_devkit.reference_scorer.reference_rank` (tests and benchmark only, never shipped) states
the same rules expert by expert in plain Python; the tests and the benchmark hold `rank` to it,
including exact float equality of scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
from numpy.typing import NDArray

from matching_service.encoding import (
    MODALITY_CODES,
    busy_days,
    calendar_busy_days,
    cefr_name,
    country_byte_and_mask,
    day_number,
    region_mask,
    working_days,
)
from matching_service.index import ExpertIndex
from matching_service.ranking import (
    COMPONENTS,
    DEFAULT_POLICY,
    Assessment,
    CapabilityMatch,
    CapabilityNeed,
    ComponentScore,
    LanguageMatch,
    LanguageNeed,
    Policy,
    RankedExpert,
    Ranking,
    RankRequest,
)
from mnr_shared.reference import region_of

REASONS: Final = (
    "not_active",
    "vetting_expired",
    "missing_required_capability",
    "missing_required_language",
    "insufficient_availability",
    "modality_incompatible",
    "nationality_preference",
)
REGION_REASONS: Final = ("country_experience", "region_experience", "residence_or_nationality", "none")
REGION_VALUES: Final = (1.0, 0.6, 0.3, 0.0)  # by REGION_REASONS

MEETS: Final = 0.85
PER_LEVEL_ABOVE: Final = 0.05
BELOW_SCALE: Final = 0.5
AVAILABILITY_HEADROOM: Final = 1.5
RECENT_DAYS: Final = 365


def _level_score(level: int, asked: int) -> float:
    if level == 0:
        return 0.0
    if level < asked:
        return BELOW_SCALE * level / asked
    return MEETS + PER_LEVEL_ABOVE * (level - asked)


# LEVEL_SCORE[asked][level]: the one table both the vectorised and the reference scorer read,
# so the two agree to the last bit.
LEVEL_SCORE: Final = tuple(
    tuple(_level_score(level, max(asked, 1)) for level in range(5)) for asked in range(5)
)
_REGION_VALUE_ARRAY: Final = np.array(REGION_VALUES)


# --- calendar arithmetic -----------------------------------------------------------------------


def free_days(index: ExpertIndex, request: RankRequest) -> NDArray[np.int32]:
    """Free Mon–Fri days of every expert in the request's window (its own booking not counted)."""
    first, last = request.first_day, request.last_day
    window = working_days(first, last)
    free = np.full(len(index), window, np.int32)
    busy_owners, busy = busy_days(*index.busy_weekdays, first=first, last=last)
    free[busy_owners] = window - busy  # each owner once: a plain assignment, no read-modify-write
    key = index.request_key(request.id)
    if key is not None:
        # Only the few experts holding this request's dates: recount them without that booking.
        b_owner, _, _, b_request, _ = index.bookings
        for row in np.unique(b_owner[b_request == key]).tolist():
            own_excepted = calendar_busy_days(index.calendar(row), first=first, last=last, except_request=key)
            free[row] = window - own_excepted
    return free


def booked_elsewhere(index: ExpertIndex, request: RankRequest) -> NDArray[np.bool_]:
    """Experts with a live booking for another request overlapping the window (by date)."""
    owner, start, end, booked_for, _ = index.bookings
    clash = (start <= request.last_day) & (end >= request.first_day)
    key = index.request_key(request.id)
    if key is not None:
        clash &= booked_for != key
    booked = np.zeros(len(index), np.bool_)
    booked[owner[clash]] = True
    return booked


def recent_assignment_owners(
    index: ExpertIndex, *, as_of: date, except_request: str | None
) -> NDArray[np.int32]:
    """Owner rows, sorted, one entry per confirmed booking ending on or after `as_of - RECENT_DAYS`.

    A booking for `except_request` does not count: it is the assignment being decided.
    """
    owner, _, end, request, confirmed = index.bookings
    chosen = confirmed & (end >= day_number(as_of - timedelta(days=RECENT_DAYS)))
    key = index.request_key(except_request)
    if key is not None:
        chosen &= request != key
    return owner[chosen]  # the bookings table is sorted by owner, so this is too


def count_in(sorted_owners: NDArray[np.int32], rows: NDArray[np.intp]) -> NDArray[np.int64]:
    """How often each of `rows` occurs in `sorted_owners` (two binary searches per row)."""
    counts: NDArray[np.int64] = np.searchsorted(sorted_owners, rows, side="right") - np.searchsorted(
        sorted_owners, rows, side="left"
    )
    return counts


def recent_assignments(
    index: ExpertIndex, rows: NDArray[np.intp], *, as_of: date, except_request: str | None
) -> NDArray[np.int64]:
    """Per row of `rows`: its recent confirmed assignments (see `recent_assignment_owners`)."""
    return count_in(recent_assignment_owners(index, as_of=as_of, except_request=except_request), rows)


# --- hard filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Per filter (REASONS order) who passes it; None means everyone does (the filter does not apply)."""

    n: int
    passes: tuple[NDArray[np.bool_] | None, ...]

    def eligible(self) -> tuple[NDArray[np.bool_], dict[str, int]]:
        """Who passes every filter, and how many are excluded under each first failing reason."""
        ok = np.ones(self.n, np.bool_)
        excluded: dict[str, int] = {}
        remaining = self.n
        for reason, mask in zip(REASONS, self.passes, strict=True):
            if mask is None:
                excluded[reason] = 0
                continue
            ok &= mask
            left = int(np.count_nonzero(ok))
            excluded[reason] = remaining - left
            remaining = left
        return ok, excluded

    def codes(self) -> NDArray[np.int8]:
        """0 for eligible experts, else 1 + the position of their first failing reason in REASONS."""
        codes = np.zeros(self.n, np.int8)
        for position in range(len(REASONS) - 1, -1, -1):
            mask = self.passes[position]
            if mask is not None:
                codes[~mask] = position + 1
        return codes


def _levels(index: ExpertIndex, need: CapabilityNeed | LanguageNeed) -> NDArray[np.uint8]:
    if isinstance(need, CapabilityNeed):
        return index.capability(need.capability)
    levels = index.language(need.base)
    return np.zeros(len(index), np.uint8) if levels is None else levels


def _all_meet(index: ExpertIndex, needs: Iterable[CapabilityNeed | LanguageNeed]) -> NDArray[np.bool_] | None:
    mask: NDArray[np.bool_] | None = None
    for need in needs:
        if need.required:
            meets = _levels(index, need) >= need.min_level
            mask = meets if mask is None else np.logical_and(mask, meets, out=mask)
    return mask


def modality_passes(modality: NDArray[np.uint8], requested: str) -> NDArray[np.bool_] | None:
    if requested == "either":
        return None
    passes: NDArray[np.bool_] = (modality & MODALITY_CODES[requested]) != 0
    return passes


def has_country(
    bitset_bytes: NDArray[np.uint8], iso3: str, rows: NDArray[np.intp] | None = None
) -> NDArray[np.bool_]:
    """Membership of one country in a byte-major country bitset (`uint8[32, n]`), for `rows` or all."""
    size = bitset_bytes.shape[1] if rows is None else len(rows)
    where = country_byte_and_mask(iso3)
    if where is None:
        return np.zeros(size, np.bool_)
    byte, mask = where
    column = bitset_bytes[byte] if rows is None else bitset_bytes[byte][rows]  # one byte per expert
    member: NDArray[np.bool_] = (column & mask) != 0
    return member


def hard_filters(
    index: ExpertIndex, request: RankRequest, free: NDArray[np.int32], *, as_of: date | None = None
) -> Filters:
    """The seven filters of the module docstring over every expert, given their free days;
    `as_of` (default today) is the day a safeguarding check must still be valid."""
    nationality: NDArray[np.bool_] | None = None
    if request.nationality_preference != "any":
        national = has_country(index.nationality_bytes, request.country)
        nationality = national if request.nationality_preference == "national" else ~national
    return Filters(
        n=len(index),
        passes=(
            index.active,
            index.vetted_until >= day_number(as_of or date.today()),
            _all_meet(index, request.capabilities),
            _all_meet(index, request.languages),
            (free >= request.effort_days) & ~booked_elsewhere(index, request),
            modality_passes(index.modality, request.modality),
            nationality,
        ),
    )


# --- soft components ---------------------------------------------------------------------------


def expertise_scores(
    levels: Sequence[NDArray[np.uint8]], needs: Sequence[CapabilityNeed], size: int
) -> NDArray[np.float64]:
    """Expertise component from each need's level column (same order as `needs`)."""
    if not needs:
        return np.ones(size)
    total = np.zeros(size)
    weights = 0.0
    for need, column in zip(needs, levels, strict=True):
        # w·s(l, m) looked up in one table per need: the same products the reference computes.
        total += np.take(np.array([need.weight * s for s in LEVEL_SCORE[need.min_level]]), column)
        weights += need.weight
    total /= weights
    return total


def language_scores(
    levels: Sequence[NDArray[np.uint8]], desired: Sequence[LanguageNeed], size: int
) -> NDArray[np.float64]:
    """Language component: share of the `desired` languages met (levels in the same order)."""
    if not desired:
        return np.ones(size)
    met = np.zeros(size, np.int64)
    for need, column in zip(desired, levels, strict=True):
        met += column >= need.min_level
    return met / len(desired)


def region_codes(
    in_country: NDArray[np.bool_], in_region: NDArray[np.bool_], home_in_region: NDArray[np.bool_]
) -> NDArray[np.int8]:
    """Position in REGION_REASONS of each expert's best region tie."""
    codes = np.full(len(in_country), 3, np.int8)
    codes[home_in_region] = 2
    codes[in_region] = 1
    codes[in_country] = 0
    return codes


def availability_scores(free: NDArray[np.int32], effort_days: int) -> NDArray[np.float64]:
    return np.minimum(1.0, free / (AVAILABILITY_HEADROOM * effort_days))


def combine(
    policy: Policy,
    expertise: NDArray[np.float64],
    language: NDArray[np.float64],
    region: NDArray[np.float64],
    availability: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Σ weight·component, added in COMPONENTS order (the reference adds in the same order)."""
    score = policy.expertise * expertise
    score += policy.language * language
    score += policy.region * region
    score += policy.availability * availability
    return score


@dataclass(frozen=True)
class Components:
    """The soft components of a set of rows (`rows[i]` ↔ element i of each array)."""

    rows: NDArray[np.intp]
    expertise: NDArray[np.float64]
    language: NDArray[np.float64]
    region: NDArray[np.float64]
    region_code: NDArray[np.int8]
    availability: NDArray[np.float64]


def components(
    index: ExpertIndex, request: RankRequest, rows: NDArray[np.intp], free: NDArray[np.int32]
) -> Components:
    """The four soft components for `rows` only (the eligible ones, in a ranking), given free days."""
    size = len(rows)
    expertise = expertise_scores(
        [index.capability(need.capability)[rows] for need in request.capabilities], request.capabilities, size
    )
    desired = [need for need in request.languages if not need.required]
    language = language_scores([_levels(index, need)[rows] for need in desired], desired, size)
    area = region_mask(region_of(request.country))
    codes = region_codes(
        has_country(index.experience_bytes, request.country, rows),
        (index.experience_regions[rows] & area) != 0,
        (index.home_regions[rows] & area) != 0,
    )
    return Components(
        rows=rows,
        expertise=expertise,
        language=language,
        region=_REGION_VALUE_ARRAY[codes],
        region_code=codes,
        availability=availability_scores(free[rows], request.effort_days),
    )


# --- ranking -----------------------------------------------------------------------------------


RecentOf = Callable[[NDArray[np.intp]], NDArray[np.int64]]


def top_k(
    score: NDArray[np.float64],
    rows: NDArray[np.intp],
    recent_of: RecentOf,
    id_hi: NDArray[np.uint64],
    id_lo: NDArray[np.uint64],
    k: int,
) -> NDArray[np.intp]:
    """Positions into `score` of the best k: score desc, then recent assignments asc, then id asc.

    `rows[i]` is the index row scored in `score[i]`; `recent_of(rows)` counts recent assignments
    and `id_hi`/`id_lo` are indexed by row. Only candidates that can reach the top k are
    sorted: those scoring at least the k-th best and, when very many tie at that score, the
    ones a coarse (recent, id) key lets through.
    """
    if k <= 0 or len(score) == 0:
        return np.empty(0, np.intp)
    candidates: NDArray[np.intp] = np.arange(len(score))
    if len(score) > k:
        threshold = score[np.argpartition(score, len(score) - k)[len(score) - k]]
        above = np.flatnonzero(score > threshold)
        tied = np.flatnonzero(score == threshold)
        wanted = k - len(above)
        if len(tied) > 4 * wanted + 64:
            # Many equal scores: keep the `wanted` smallest (recent, id) by a key that preserves
            # that order (recent capped, then the id's high 48 bits), ties of the key included.
            tied_rows = rows[tied]
            coarse = (np.minimum(recent_of(tied_rows), 0xFFFF).astype(np.uint64) << np.uint64(48)) | (
                id_hi[tied_rows] >> np.uint64(16)
            )
            cut = coarse[np.argpartition(coarse, wanted - 1)[wanted - 1]]
            tied = tied[coarse <= cut]
        candidates = np.concatenate([above, tied])
    chosen = rows[candidates]
    order = np.lexsort((id_lo[chosen], id_hi[chosen], recent_of(chosen), -score[candidates]))
    return candidates[order[:k]]


def rank(
    index: ExpertIndex,
    request: RankRequest,
    policy: Policy = DEFAULT_POLICY,
    limit: int = 50,
    *,
    as_of: date | None = None,
) -> Ranking:
    """Every expert in the index against `request`: counts per exclusion reason and the best `limit`.

    `as_of` (default today) is the day safeguarding checks must be valid on and dates the
    recent-assignment count used to break ties.
    """
    as_of = as_of or date.today()
    free = free_days(index, request)
    eligible_mask, excluded = hard_filters(index, request, free, as_of=as_of).eligible()
    rows = np.flatnonzero(eligible_mask)
    parts = components(index, request, rows, free)
    score = combine(policy, parts.expertise, parts.language, parts.region, parts.availability)

    recent_owners = recent_assignment_owners(index, as_of=as_of, except_request=request.id)

    def recent_of(some: NDArray[np.intp]) -> NDArray[np.int64]:
        return count_in(recent_owners, some)

    best = top_k(score, rows, recent_of, index.id_hi, index.id_lo, limit)
    items = _items(index, request, policy, parts, best, score, free, recent_of(rows[best]))
    return Ranking(total=len(index), eligible=len(rows), excluded=excluded, items=items)


def assess(
    index: ExpertIndex,
    request: RankRequest,
    expert_id: str,
    policy: Policy = DEFAULT_POLICY,
    *,
    as_of: date | None = None,
) -> Assessment | None:
    """One expert's exclusion reason (None if eligible) and full breakdown; None if not in the index.

    For recording a match's score at approval, whether or not the expert made the shortlist.
    """
    row = index.row_of(expert_id)
    if row is None:
        return None
    as_of = as_of or date.today()
    free = free_days(index, request)
    code = int(hard_filters(index, request, free, as_of=as_of).codes()[row])
    rows = np.array([row], np.intp)
    parts = components(index, request, rows, free)
    score = combine(policy, parts.expertise, parts.language, parts.region, parts.availability)
    recent = recent_assignments(index, rows, as_of=as_of, except_request=request.id)
    [item] = _items(index, request, policy, parts, np.zeros(1, np.intp), score, free, recent)
    return Assessment(excluded_reason=None if code == 0 else REASONS[code - 1], item=item)


def _items(
    index: ExpertIndex,
    request: RankRequest,
    policy: Policy,
    parts: Components,
    positions: NDArray[np.intp],
    score: NDArray[np.float64],
    free: NDArray[np.int32],
    recent: NDArray[np.int64],
) -> list[RankedExpert]:
    """The explained items for `positions` (into `parts`), gathering each column once for all of them."""
    rows = parts.rows[positions]
    ids, names = index.ids, index.names
    caps = [(need, index.capability(need.capability)[rows].tolist()) for need in request.capabilities]
    langs = [(need, _levels(index, need)[rows].tolist()) for need in request.languages]
    w_e, w_l, w_r, w_a = policy.expertise, policy.language, policy.region, policy.availability
    # Values and weight·value per component, as lists; numpy's products are the same IEEE
    # products the reference takes one by one.
    e, lang, reg, a = (getattr(parts, name)[positions] for name in COMPONENTS)
    e_v, l_v, r_v, a_v = e.tolist(), lang.tolist(), reg.tolist(), a.tolist()
    e_c, l_c, r_c, a_c = (w_e * e).tolist(), (w_l * lang).tolist(), (w_r * reg).tolist(), (w_a * a).tolist()
    regions = parts.region_code[positions].tolist()
    items = []
    for j, (row, total, days, count) in enumerate(
        zip(rows.tolist(), score[positions].tolist(), free[rows].tolist(), recent.tolist(), strict=True)
    ):
        matched_caps: list[CapabilityMatch] = []
        missing_caps: list[CapabilityMatch] = []
        for need, levels in caps:
            match = CapabilityMatch(need.capability, need.min_level, levels[j])
            (matched_caps if levels[j] >= need.min_level else missing_caps).append(match)
        matched_langs: list[LanguageMatch] = []
        missing_langs: list[LanguageMatch] = []
        for lang_need, levels in langs:
            match_lang = LanguageMatch(lang_need.tag, lang_need.level_name, cefr_name(levels[j]))
            (matched_langs if levels[j] >= lang_need.min_level else missing_langs).append(match_lang)
        items.append(
            RankedExpert(
                ids[row],
                names[row],
                total,
                {
                    "expertise": ComponentScore(e_v[j], w_e, e_c[j]),
                    "language": ComponentScore(l_v[j], w_l, l_c[j]),
                    "region": ComponentScore(r_v[j], w_r, r_c[j]),
                    "availability": ComponentScore(a_v[j], w_a, a_c[j]),
                },
                matched_caps,
                missing_caps,
                matched_langs,
                missing_langs,
                REGION_REASONS[regions[j]],
                days,
                count,
            )
        )
    return items
