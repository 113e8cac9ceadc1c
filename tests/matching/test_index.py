"""The expert index: built from feed items, kept current by upserts and deletes, calendars and bitsets."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching_service.encoding import (
    MODALITY_CODES,
    country_byte_and_mask,
    day_number,
    region_mask,
    weekdays_before,
    working_days,
)
from matching_service.index import ExpertIndex
from matching_service.ranking import RankRequest
from matching_service.scoring import free_days, has_country, rank
from mnr_devkit.reference_scorer import ReferenceExpert, reference_rank
from mnr_devkit.synthetic import (
    delete_item,
    expert_uuid,
    projection,
    request_body,
    upsert_item,
)

AS_OF = date(2027, 2, 1)
WINDOW_DAYS = 20  # Mon–Fri days of request_body()'s window, 2027-03-01 … 2027-03-26
HELD_REQUEST = "aaaaaaaa-0000-4000-8000-000000000001"


def _index(*experts: dict[str, object]) -> ExpertIndex:
    return ExpertIndex.from_items(upsert_item(seq, e) for seq, e in enumerate(experts, start=1))


def _free(index: ExpertIndex, number: int, **request: object) -> int:
    row = index.row_of(expert_uuid(number))
    assert row is not None
    return int(free_days(index, RankRequest.from_mapping(request_body(**request)))[row])


def test_from_items_builds_one_row_per_expert_with_its_columns() -> None:
    index = _index(
        projection(1, capabilities=[{"capability": 3, "level": 4}, {"capability": 21, "level": 1}]),
        projection(2, status="applicant", modality="remote", capabilities=[]),
    )

    assert len(index) == 2
    assert index.seq == 2
    first, second = index.row_of(expert_uuid(1)), index.row_of(expert_uuid(2))
    assert first is not None
    assert second is not None
    assert index.capability_levels.shape == (2, 22)
    assert index.capability_levels[first, 3] == 4
    assert index.capability_levels[first, 21] == 1
    assert index.capability_levels[second].sum() == 0
    assert index.active[first]
    assert not index.active[second]
    assert index.modality[second] == MODALITY_CODES["remote"]
    assert index.full_name(first) == "Expert 1"
    assert expert_uuid(2) in index
    assert index.nbytes > 0


def test_upsert_replaces_the_row() -> None:
    index = _index(projection(1, capabilities=[{"capability": 3, "level": 2}]), projection(2))

    index.apply(
        [upsert_item(3, projection(1, status="inactive", capabilities=[{"capability": 5, "level": 4}]))]
    )

    row = index.row_of(expert_uuid(1))
    assert row is not None
    assert len(index) == 2
    assert index.capability(3)[row] == 0  # the old capability is gone, not merged
    assert index.capability(5)[row] == 4
    assert not index.active[row]
    assert index.seq == 3


def test_delete_removes_the_expert_and_leaves_the_others_intact() -> None:
    two_days = [{"start": "2027-03-01", "end": "2027-03-02"}]
    last_week = [{"start": "2027-03-22", "end": "2027-03-26"}]
    hold = {
        "id": "b3",
        "start": "2027-03-08",
        "end": "2027-03-12",
        "status": "hold",
        "request_id": HELD_REQUEST,
    }
    index = _index(
        projection(1, capabilities=[{"capability": 1, "level": 1}], unavailability=two_days),
        projection(2, capabilities=[{"capability": 2, "level": 2}]),
        projection(
            3, capabilities=[{"capability": 3, "level": 3}], unavailability=last_week, bookings=[hold]
        ),
    )

    index.apply([delete_item(4, expert_uuid(1))])

    assert len(index) == 2
    assert expert_uuid(1) not in index
    for number in (2, 3):
        row = index.row_of(expert_uuid(number))
        assert row is not None
        assert index.expert_id(row) == expert_uuid(number)
        assert index.capability(number)[row] == number
    # Expert 3 was moved into the freed row: its calendar (both copies) must have moved with it.
    assert _free(index, 3) == WINDOW_DAYS - 10
    assert _free(index, 3, id=HELD_REQUEST) == WINDOW_DAYS - 5
    assert _free(index, 2) == WINDOW_DAYS


def test_items_at_or_below_the_applied_seq_are_skipped() -> None:
    index = _index(projection(1), projection(2))

    applied = index.apply([delete_item(2, expert_uuid(1)), upsert_item(1, projection(3))])

    assert applied == 0
    assert len(index) == 2
    assert expert_uuid(1) in index


def test_last_item_of_an_expert_in_a_batch_wins() -> None:
    index = _index(projection(1), projection(2))

    index.apply(
        [
            upsert_item(3, projection(1, full_name="Renamed")),
            delete_item(4, expert_uuid(1)),
            delete_item(5, expert_uuid(2)),
            upsert_item(6, projection(2, full_name="Back")),
        ]
    )

    assert expert_uuid(1) not in index
    row = index.row_of(expert_uuid(2))
    assert row is not None
    assert index.full_name(row) == "Back"
    assert index.seq == 6


def test_malformed_item_leaves_the_index_unchanged() -> None:
    index = _index(projection(1))

    with pytest.raises(ValueError, match="out of range"):
        index.apply(
            [
                delete_item(2, expert_uuid(1)),
                upsert_item(3, projection(2, capabilities=[{"capability": 22, "level": 1}])),
            ]
        )

    assert expert_uuid(1) in index
    assert index.seq == 1


def test_new_unavailability_reduces_free_days() -> None:
    index = _index(projection(1))
    assert _free(index, 1) == WINDOW_DAYS

    # Thursday 2027-03-04 to Tuesday 2027-03-09: Thu, Fri, Mon, Tue are working days.
    period = {"start": "2027-03-04", "end": "2027-03-09"}
    index.apply([upsert_item(2, projection(1, unavailability=[period]))])

    assert _free(index, 1) == WINDOW_DAYS - 4


def test_new_booking_for_another_request_reduces_free_days() -> None:
    index = _index(projection(1))
    booking = {
        "id": "b1",
        "start": "2027-03-15",
        "end": "2027-03-19",
        "status": "hold",
        "request_id": HELD_REQUEST,
    }

    index.apply([upsert_item(2, projection(1, bookings=[booking]))])

    assert _free(index, 1) == WINDOW_DAYS - 5
    assert _free(index, 1, id=expert_uuid(999)) == WINDOW_DAYS - 5


def test_a_booking_for_another_request_in_the_window_excludes_however_many_days_are_free() -> None:
    # One day of overlap leaves 19 free days for 10 days of work, but the approval would hold
    # the whole window and the roster refuses overlapping bookings; unavailability only
    # subtracts its days.
    booking = {
        "id": "b1",
        "start": "2027-03-26",
        "end": "2027-04-02",
        "status": "hold",
        "request_id": HELD_REQUEST,
    }
    away = {"start": "2027-03-01", "end": "2027-03-05"}
    index = _index(projection(1, bookings=[booking]), projection(2, unavailability=[away]))
    request = RankRequest.from_mapping(request_body(effort_days=10))

    ranking = rank(index, request, as_of=AS_OF)

    assert _free(index, 1) == WINDOW_DAYS - 1
    assert [item.expert_id for item in ranking.items] == [expert_uuid(2)]
    assert ranking.excluded["insufficient_availability"] == 1
    own = rank(index, RankRequest.from_mapping(request_body(id=HELD_REQUEST, effort_days=10)), as_of=AS_OF)
    assert sorted(item.expert_id for item in own.items) == sorted([expert_uuid(1), expert_uuid(2)])


def test_booking_for_the_ranked_request_does_not_count_against_its_expert() -> None:
    hold = {
        "id": "b1",
        "start": "2027-03-01",
        "end": "2027-03-26",
        "status": "hold",
        "request_id": HELD_REQUEST,
    }
    away = {"start": "2027-03-22", "end": "2027-03-26"}
    index = _index(projection(1, bookings=[hold], unavailability=[away]))

    assert _free(index, 1, id=HELD_REQUEST) == WINDOW_DAYS - 5  # the unavailability still counts
    assert _free(index, 1, id=HELD_REQUEST.upper()) == WINDOW_DAYS - 5  # any spelling of the id
    assert _free(index, 1, id=None) == 0
    held = rank(index, RankRequest.from_mapping(request_body(id=HELD_REQUEST)), as_of=AS_OF)
    other = rank(index, RankRequest.from_mapping(request_body()), as_of=AS_OF)
    assert [item.expert_id for item in held.items] == [expert_uuid(1)]
    assert other.excluded["insufficient_availability"] == 1


def test_overlapping_unavailability_and_bookings_are_not_counted_twice() -> None:
    booking = {
        "id": "b1",
        "start": "2027-03-01",
        "end": "2027-03-12",
        "status": "confirmed",
        "request_id": "r",
    }
    periods = [{"start": "2027-03-08", "end": "2027-03-19"}, {"start": "2027-03-10", "end": "2027-03-11"}]
    index = _index(projection(1, bookings=[booking], unavailability=periods))

    assert _free(index, 1) == WINDOW_DAYS - 15  # 1 … 19 March: three weeks, counted once


def test_languages_match_on_the_base_language_keeping_the_best_level() -> None:
    languages = [
        {"tag": "en-GB", "level": "B1"},
        {"tag": "en-US", "level": "C2"},
        {"tag": "fr-CA", "level": "A2"},
    ]
    index = _index(
        projection(1, languages=languages), projection(2, languages=[{"tag": "sw", "level": "C2"}])
    )

    english, french = index.language("en"), index.language("fr")
    assert english is not None
    assert french is not None
    row = index.row_of(expert_uuid(1))
    assert row is not None
    assert english[row] == 6  # C2, the better of the two English spellings
    assert french[row] == 2
    assert index.language("de") is None
    asked = request_body(languages=[{"tag": "en-AU", "min_level": "C1", "importance": "required"}])
    ranking = rank(index, RankRequest.from_mapping(asked), as_of=AS_OF)
    assert [item.expert_id for item in ranking.items] == [expert_uuid(1)]
    assert ranking.excluded["missing_required_language"] == 1


def test_country_and_region_bitsets_hold_experience_nationality_and_residence() -> None:
    index = _index(
        projection(1, country_experience=["UGA", "XKX"], nationalities=["BRA"], residence_country="IND"),
        projection(2, country_experience=[], nationalities=["KEN", "FRA"], residence_country="FRA"),
    )
    one, two = index.row_of(expert_uuid(1)), index.row_of(expert_uuid(2))
    assert one is not None
    assert two is not None

    assert has_country(index.experience_bytes, "UGA")[one]
    assert has_country(index.experience_bytes, "XKX")[one]
    assert not has_country(index.experience_bytes, "KEN")[one]
    assert has_country(index.nationality_bytes, "KEN")[two]
    assert has_country(index.nationality_bytes, "FRA")[two]
    assert not has_country(index.nationality_bytes, "BRA")[two]
    assert index.experience_regions[one] == region_mask("ESARO") | region_mask("ECARO")
    assert index.experience_regions[two] == 0
    assert index.home_regions[one] == region_mask("LACRO") | region_mask("ROSA")
    assert index.home_regions[two] == region_mask("ESARO")  # France lies in no programme region
    where = country_byte_and_mask("UGA")
    assert where is not None
    assert index.country_experience[one, where[0]] & where[1]


def test_index_grows_beyond_its_initial_capacity_in_rows_and_languages() -> None:
    index = ExpertIndex(capacity=2)
    tags = [
        "en",
        "fr",
        "es",
        "ar",
        "ru",
        "pt",
        "zh",
        "sw",
        "hi",
        "bn",
        "ur",
        "fa",
        "tr",
        "id",
        "th",
        "vi",
        "km",
        "am",
    ]
    experts = [
        projection(
            n,
            capabilities=[{"capability": 1 + n % 21, "level": 1 + n % 4}],
            languages=[{"tag": tags[n % len(tags)], "level": "B2"}],
        )
        for n in range(1, 301)
    ]

    for start in range(0, 300, 37):
        index.apply(upsert_item(start + i + 1, e) for i, e in enumerate(experts[start : start + 37]))

    assert len(index) == 300
    assert index.capacity >= 300
    assert len(index.languages) == len(tags) > 16
    for n in (1, 150, 300):
        row = index.row_of(expert_uuid(n))
        assert row is not None
        assert index.capability(1 + n % 21)[row] == 1 + n % 4
        levels = index.language(tags[n % len(tags)])
        assert levels is not None
        assert levels[row] == 4


@settings(max_examples=100, deadline=None)
@given(first=st.dates(date(2000, 1, 1), date(2060, 1, 1)), length=st.integers(-3, 400))
def test_working_day_counts_agree_with_numpy_busday_count(first: date, length: int) -> None:
    last = first + timedelta(days=length)
    expected = int(np.busday_count(first, last + timedelta(days=1))) if length >= 0 else 0

    assert working_days(day_number(first), day_number(last)) == expected
    counts = weekdays_before(np.array([day_number(last) + 1, day_number(first)], np.int64))
    assert max(0, int(counts[0] - counts[1])) == expected


@st.composite
def _changes(draw: st.DrawFn) -> list[tuple[int, dict[str, Any] | None]]:
    """A run of feed changes over a few experts: (expert number, projection or None for delete)."""
    changes: list[tuple[int, dict[str, Any] | None]] = []
    for _ in range(draw(st.integers(1, 25))):
        number = draw(st.integers(1, 6))
        if draw(st.integers(0, 3)) == 0:
            changes.append((number, None))
            continue
        start = draw(st.integers(0, 30))
        hold = {
            "id": f"b{number}",
            "start": (date(2027, 3, 1) + timedelta(days=start)).isoformat(),
            "end": (date(2027, 3, 1) + timedelta(days=start + draw(st.integers(0, 15)))).isoformat(),
            "status": draw(st.sampled_from(["hold", "confirmed"])),
            "request_id": draw(st.sampled_from([HELD_REQUEST, "other"])),
        }
        changes.append(
            (
                number,
                projection(
                    number,
                    capabilities=[{"capability": 1, "level": draw(st.integers(1, 4))}],
                    languages=[{"tag": draw(st.sampled_from(["en", "en-GB", "fr"])), "level": "C1"}],
                    bookings=[hold] if draw(st.booleans()) else [],
                    unavailability=[
                        {"start": "2027-03-0" + str(draw(st.integers(1, 5))), "end": "2027-03-12"}
                    ]
                    if draw(st.booleans())
                    else [],
                    country_experience=draw(st.lists(st.sampled_from(["KEN", "UGA", "BRA"]), max_size=2)),
                ),
            )
        )
    return changes


@settings(max_examples=75, deadline=None)
@given(changes=_changes(), cuts=st.lists(st.integers(0, 25), max_size=4), capacity=st.integers(1, 4))
def test_any_run_of_upserts_and_deletes_ranks_like_the_final_roster(
    changes: list[tuple[int, dict[str, Any] | None]], cuts: list[int], capacity: int
) -> None:
    items = [
        upsert_item(seq, expert) if expert is not None else delete_item(seq, expert_uuid(number))
        for seq, (number, expert) in enumerate(changes, start=1)
    ]
    index = ExpertIndex(capacity=capacity)
    bounds = sorted({0, len(items), *(min(c, len(items)) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        index.apply(items[start:end])
    final: dict[int, dict[str, Any] | None] = dict(changes)
    roster = [ReferenceExpert.from_projection(e) for e in final.values() if e is not None]

    assert len(index) == len(roster)
    assert index.seq == len(items)
    for request_id in (HELD_REQUEST, None):
        request = RankRequest.from_mapping(request_body(id=request_id, effort_days=15))
        expected = reference_rank(roster, request, limit=10, as_of=AS_OF)
        assert rank(index, request, limit=10, as_of=AS_OF).to_dict() == expected.to_dict()
