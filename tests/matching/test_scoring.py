"""Scoring: the properties DESIGN §6 promises (hypothesis), the formulas on worked cases, the reference."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from matching_service.index import ExpertIndex
from matching_service.ranking import COMPONENTS, DEFAULT_POLICY, Policy, RankRequest
from matching_service.scoring import REASONS, assess, free_days, hard_filters, rank
from mnr_devkit.reference_scorer import ReferenceExpert, reference_rank
from mnr_devkit.synthetic import (
    expert_projections,
    expert_uuid,
    feed_items,
    projection,
    request_bodies,
    request_body,
)

BASE = date(2027, 3, 1)  # a Monday
AS_OF = BASE - timedelta(days=30)
COUNTRIES = ("KEN", "UGA", "TZA", "BRA", "MEX", "IND", "NPL", "FRA")  # ESARO, LACRO, ROSA, and outside
TAGS = ("en", "en-GB", "fr", "fr-CA", "sw", "es")
CEFR = ("A1", "A2", "B1", "B2", "C1", "C2")
REQUEST_IDS = ("aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002")
PROPERTY = settings(max_examples=75, deadline=None)


# --- strategies --------------------------------------------------------------------------------


def _day(offset: int) -> str:
    return (BASE + timedelta(days=offset)).isoformat()


@st.composite
def spans(draw: st.DrawFn, earliest: int = -10) -> tuple[str, str]:
    start = draw(st.integers(earliest, 60))
    return _day(start), _day(start + draw(st.integers(0, 20)))


@st.composite
def projections(draw: st.DrawFn, number: int) -> dict[str, Any]:
    capabilities = draw(st.dictionaries(st.integers(1, 5), st.integers(1, 4), max_size=5))
    languages = draw(st.lists(st.tuples(st.sampled_from(TAGS), st.sampled_from(CEFR)), max_size=3))
    bookings = [
        {
            "id": f"b{number}-{i}",
            "start": start,
            "end": end,
            "status": draw(st.sampled_from(["hold", "confirmed"])),
            "request_id": draw(st.sampled_from([*REQUEST_IDS, "bbbbbbbb-0000-4000-8000-000000000003"])),
        }
        for i, (start, end) in enumerate(draw(st.lists(spans(earliest=-400), max_size=2)))
    ]
    return projection(
        number,
        status=draw(st.sampled_from(["active", "active", "active", "inactive", "applicant"])),
        modality=draw(st.sampled_from(["remote", "in_country", "either"])),
        nationalities=draw(st.lists(st.sampled_from(COUNTRIES), max_size=2, unique=True)),
        residence_country=draw(st.none() | st.sampled_from(COUNTRIES)),
        country_experience=draw(st.lists(st.sampled_from(COUNTRIES), max_size=3, unique=True)),
        capabilities=[{"capability": c, "level": lv} for c, lv in capabilities.items()],
        languages=[{"tag": tag, "level": level} for tag, level in languages],
        unavailability=[{"start": s, "end": e} for s, e in draw(st.lists(spans(), max_size=2))],
        bookings=bookings,
    )


@st.composite
def rosters(draw: st.DrawFn, max_size: int = 10) -> list[dict[str, Any]]:
    numbers = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=max_size, unique=True))
    return [draw(projections(n)) for n in numbers]


@st.composite
def requests(draw: st.DrawFn) -> RankRequest:
    capabilities = draw(
        st.dictionaries(st.integers(1, 5), st.tuples(st.integers(1, 4), st.booleans()), max_size=3)
    )
    languages = draw(
        st.dictionaries(st.sampled_from(TAGS), st.tuples(st.sampled_from(CEFR), st.booleans()), max_size=2)
    )
    start = draw(st.integers(0, 20))
    return RankRequest.from_mapping(
        request_body(
            id=draw(st.none() | st.sampled_from(REQUEST_IDS)),
            country=draw(st.sampled_from(COUNTRIES)),
            capabilities=[
                {"capability": c, "min_level": lv, "importance": "required" if req else "desired"}
                for c, (lv, req) in capabilities.items()
            ],
            languages=[
                {"tag": tag, "min_level": lv, "importance": "required" if req else "desired"}
                for tag, (lv, req) in languages.items()
            ],
            modality=draw(st.sampled_from(["remote", "in_country", "either"])),
            start_date=_day(start),
            end_date=_day(start + draw(st.integers(0, 40))),
            effort_days=draw(st.integers(1, 20)),
            nationality_preference=draw(st.sampled_from(["any", "any", "national", "international"])),
        )
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    shares = draw(st.lists(st.integers(0, 10), min_size=4, max_size=4).filter(lambda xs: sum(xs) > 0))
    return Policy(*(share / sum(shares) for share in shares))


# --- helpers -----------------------------------------------------------------------------------


def _index(experts: list[dict[str, Any]]) -> ExpertIndex:
    return ExpertIndex.from_items(feed_items(experts))


def _failing(index: ExpertIndex, request: RankRequest, expert_id: str) -> set[str]:
    row = index.row_of(expert_id)
    assert row is not None
    filters = hard_filters(index, request, free_days(index, request))
    return {
        reason
        for reason, mask in zip(REASONS, filters.passes, strict=True)
        if mask is not None and not mask[row]
    }


def _score(
    experts: list[dict[str, Any]], request: RankRequest, expert_id: str, policy: Policy = DEFAULT_POLICY
) -> float:
    assessment = assess(_index(experts), request, expert_id, policy, as_of=AS_OF)
    assert assessment is not None
    return assessment.item.score


def _replace(experts: list[dict[str, Any]], position: int, **changes: Any) -> list[dict[str, Any]]:
    return [e | changes if i == position else e for i, e in enumerate(experts)]


# --- properties --------------------------------------------------------------------------------


@PROPERTY
@given(experts=rosters(), request=requests(), policy=policies(), limit=st.integers(1, 12))
def test_fast_ranking_equals_the_per_expert_reference(
    experts: list[dict[str, Any]], request: RankRequest, policy: Policy, limit: int
) -> None:
    fast = rank(_index(experts), request, policy, limit, as_of=AS_OF)
    slow = reference_rank(
        [ReferenceExpert.from_projection(e) for e in experts], request, policy, limit, as_of=AS_OF
    )

    assert fast.to_dict() == slow.to_dict()


@PROPERTY
@given(
    experts=rosters(),
    request=requests(),
    data=st.data(),
    capability=st.integers(1, 5),
)
def test_raising_a_capability_level_never_lowers_the_score_nor_adds_an_exclusion(
    experts: list[dict[str, Any]], request: RankRequest, data: st.DataObject, capability: int
) -> None:
    position = data.draw(st.integers(0, len(experts) - 1))
    expert = experts[position]
    levels = {c["capability"]: c["level"] for c in expert["capabilities"]}
    assume(levels.get(capability, 0) < 4)
    levels[capability] = data.draw(st.integers(levels.get(capability, 0) + 1, 4))
    raised = _replace(
        experts, position, capabilities=[{"capability": c, "level": lv} for c, lv in levels.items()]
    )

    assert _score(raised, request, expert["id"]) >= _score(experts, request, expert["id"])
    assert _failing(_index(raised), request, expert["id"]) <= _failing(_index(experts), request, expert["id"])


@PROPERTY
@given(experts=rosters(), request=requests(), data=st.data(), tag=st.sampled_from(TAGS))
def test_raising_a_language_level_never_lowers_the_score_nor_adds_an_exclusion(
    experts: list[dict[str, Any]], request: RankRequest, data: st.DataObject, tag: str
) -> None:
    position = data.draw(st.integers(0, len(experts) - 1))
    expert = experts[position]
    level = data.draw(st.sampled_from(CEFR))
    raised = _replace(experts, position, languages=[*expert["languages"], {"tag": tag, "level": level}])

    assert _score(raised, request, expert["id"]) >= _score(experts, request, expert["id"])
    assert _failing(_index(raised), request, expert["id"]) <= _failing(_index(experts), request, expert["id"])


@PROPERTY
@given(experts=rosters(), request=requests(), data=st.data())
def test_meeting_missing_required_capabilities_and_languages_only_removes_exclusions(
    experts: list[dict[str, Any]], request: RankRequest, data: st.DataObject
) -> None:
    index = _index(experts)
    lacking = [
        i
        for i, e in enumerate(experts)
        if _failing(index, request, e["id"]) & {"missing_required_capability", "missing_required_language"}
    ]
    assume(lacking)
    position = data.draw(st.sampled_from(lacking))
    expert = experts[position]
    before = _failing(index, request, expert["id"])
    levels = {c["capability"]: c["level"] for c in expert["capabilities"]}
    for need in request.capabilities:
        if need.required:
            levels[need.capability] = max(levels.get(need.capability, 0), need.min_level)
    spoken = [{"tag": lang.tag, "level": lang.level_name} for lang in request.languages if lang.required]
    met = _replace(
        experts,
        position,
        capabilities=[{"capability": c, "level": lv} for c, lv in levels.items()],
        languages=[*expert["languages"], *spoken],
    )

    after = _failing(_index(met), request, expert["id"])

    assert after <= before
    assert not after & {"missing_required_capability", "missing_required_language"}


@PROPERTY
@given(experts=rosters(), request=requests())
def test_a_hard_filtered_expert_never_appears_in_the_ranking(
    experts: list[dict[str, Any]], request: RankRequest
) -> None:
    index = _index(experts)
    codes = hard_filters(index, request, free_days(index, request)).codes()

    ranking = rank(index, request, limit=len(experts) + 1, as_of=AS_OF)

    ranked = {item.expert_id for item in ranking.items}
    assert ranked == {index.expert_id(row) for row in range(len(index)) if codes[row] == 0}
    assert not ranked & {index.expert_id(row) for row in range(len(index)) if codes[row] != 0}


@PROPERTY
@given(experts=rosters(), request=requests())
def test_excluded_counts_add_up_and_count_the_first_failing_reason(
    experts: list[dict[str, Any]], request: RankRequest
) -> None:
    index = _index(experts)
    ranking = rank(index, request, limit=3, as_of=AS_OF)

    assert ranking.total == len(experts)
    assert ranking.total == ranking.eligible + sum(ranking.excluded.values())
    assert list(ranking.excluded) == list(REASONS)
    first_failing = Counter(
        next((r for r in REASONS if r in _failing(index, request, e["id"])), "eligible") for e in experts
    )
    assert ranking.excluded == {reason: first_failing[reason] for reason in REASONS}
    assert ranking.eligible == first_failing["eligible"]


@PROPERTY
@given(experts=rosters(), request=requests(), policy=policies())
def test_score_is_the_weighted_sum_of_its_components(
    experts: list[dict[str, Any]], request: RankRequest, policy: Policy
) -> None:
    ranking = rank(_index(experts), request, policy, limit=len(experts), as_of=AS_OF)

    for item in ranking.items:
        assert set(item.components) == set(COMPONENTS)
        for name, part in item.components.items():
            assert 0.0 <= part.value <= 1.0
            assert part.weight == getattr(policy, name)
            assert part.contribution == part.weight * part.value
        assert math.isclose(item.score, sum(p.contribution for p in item.components.values()), abs_tol=1e-12)
        assert 0.0 <= item.score <= 1.0 + 1e-12
    scores = [item.score for item in ranking.items]
    assert scores == sorted(scores, reverse=True)


@PROPERTY
@given(experts=rosters(max_size=4), request=requests(), policy=policies(), data=st.data())
def test_moving_weight_to_a_component_where_the_expert_is_stronger_raises_the_score(
    experts: list[dict[str, Any]], request: RankRequest, policy: Policy, data: st.DataObject
) -> None:
    expert = experts[data.draw(st.integers(0, len(experts) - 1))]
    assessment = assess(_index(experts), request, expert["id"], policy, as_of=AS_OF)
    assert assessment is not None
    values = {name: part.value for name, part in assessment.item.components.items()}
    pairs = [
        (a, b) for a in COMPONENTS for b in COMPONENTS if values[a] > values[b] and getattr(policy, b) > 0
    ]
    assume(pairs)
    stronger, weaker = data.draw(st.sampled_from(pairs))
    moved = policy.weights() | {stronger: getattr(policy, stronger) + getattr(policy, weaker), weaker: 0.0}

    new_score = _score(experts, request, expert["id"], Policy.from_mapping(moved))

    assert new_score > assessment.item.score
    expected_gain = getattr(policy, weaker) * (values[stronger] - values[weaker])
    assert math.isclose(new_score - assessment.item.score, expected_gain, abs_tol=1e-12)


@PROPERTY
@given(recent=st.lists(st.integers(0, 3), min_size=2, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_equal_scores_order_by_fewer_recent_assignments_then_by_id(recent: list[int], seed: int) -> None:
    # Identical experts but for their id and their past confirmed assignments.
    experts = [
        projection(
            number,
            bookings=[
                {
                    "id": f"b{number}-{k}",
                    "start": _day(-200 - 30 * k),
                    "end": _day(-190 - 30 * k),
                    "status": "confirmed",
                    "request_id": f"past-{number}-{k}",
                }
                for k in range(count)
            ],
        )
        for number, count in enumerate(recent, start=1)
    ]
    random.Random(seed).shuffle(experts)  # the insertion order must not matter

    ranking = rank(_index(experts), RankRequest.from_mapping(request_body()), limit=len(experts), as_of=AS_OF)

    assert len({item.score for item in ranking.items}) == 1
    expected = sorted(range(1, len(recent) + 1), key=lambda number: (recent[number - 1], number))
    assert [item.expert_id for item in ranking.items] == [expert_uuid(n) for n in expected]
    assert [item.recent_assignments for item in ranking.items] == [recent[n - 1] for n in expected]


# --- worked cases ------------------------------------------------------------------------------


def test_many_ties_at_the_cut_still_pick_by_recent_assignments_then_id() -> None:
    # 300 equal scores for 5 places takes the coarse-key path of top_k.
    experts = [
        projection(
            n,
            bookings=[
                {
                    "id": f"b{n}",
                    "start": _day(-100),
                    "end": _day(-90),
                    "status": "confirmed",
                    "request_id": f"p{n}",
                }
            ]
            if n % 3
            else [],
        )
        for n in range(1, 301)
    ]
    request = RankRequest.from_mapping(request_body())

    ranking = rank(_index(list(reversed(experts))), request, limit=5, as_of=AS_OF)

    assert [item.expert_id for item in ranking.items] == [expert_uuid(n) for n in (3, 6, 9, 12, 15)]
    reference = reference_rank(
        [ReferenceExpert.from_projection(e) for e in experts], request, limit=5, as_of=AS_OF
    )
    assert ranking.to_dict() == reference.to_dict()


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ([(2, "required", 2)], 0.85),  # meets the asked level
        ([(2, "required", 4)], 0.95),  # two levels above: +0.05 each
        ([(1, "required", 4)], 1.0),
        ([(2, "desired", 0)], 0.0),  # a missing desired capability scores 0
        ([(4, "desired", 2)], 0.25),  # below the asked level: 0.5 · 2/4
        ([(2, "required", 2), (3, "desired", 0)], (2 * 0.85 + 0) / 3),  # required weighs twice desired
    ],
)
def test_expertise_component_follows_the_documented_formula(
    capabilities: list[tuple[int, str, int]], expected: float
) -> None:
    held = [{"capability": 10 + i, "level": lv} for i, (_, _, lv) in enumerate(capabilities) if lv]
    asked = [
        {"capability": 10 + i, "min_level": m, "importance": imp}
        for i, (m, imp, _) in enumerate(capabilities)
    ]
    expert = projection(1, capabilities=held)

    assessment = assess(
        _index([expert]), RankRequest.from_mapping(request_body(capabilities=asked)), expert["id"]
    )

    assert assessment is not None
    assert assessment.item.components["expertise"].value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("changes", "value", "reason"),
    [
        ({"country_experience": ["KEN", "BRA"]}, 1.0, "country_experience"),
        ({"country_experience": ["UGA"]}, 0.6, "region_experience"),
        ({"country_experience": ["BRA"], "nationalities": ["TZA"], "residence_country": "FRA"}, 0.3, "residence_or_nationality"),  # noqa: E501
        ({"country_experience": [], "nationalities": ["FRA"], "residence_country": "UGA"}, 0.3, "residence_or_nationality"),  # noqa: E501
        ({"country_experience": ["BRA"], "nationalities": ["IND"], "residence_country": None}, 0.0, "none"),
    ],
)  # fmt: skip
def test_region_component_and_reason(changes: dict[str, Any], value: float, reason: str) -> None:
    expert = projection(1, **changes)

    ranking = rank(_index([expert]), RankRequest.from_mapping(request_body(country="KEN")), as_of=AS_OF)

    [item] = ranking.items
    assert item.components["region"].value == value
    assert item.region_reason == reason


def test_language_component_is_the_share_of_desired_languages_met() -> None:
    expert = projection(1, languages=[{"tag": "en", "level": "C1"}, {"tag": "fr-CA", "level": "B2"}])
    languages = [
        {"tag": "en", "min_level": "B2", "importance": "required"},
        {"tag": "fr", "min_level": "B1", "importance": "desired"},
        {"tag": "sw", "min_level": "A2", "importance": "desired"},
    ]

    [item] = rank(
        _index([expert]), RankRequest.from_mapping(request_body(languages=languages)), as_of=AS_OF
    ).items

    assert item.components["language"].value == 0.5
    assert [(m.tag, m.level) for m in item.matched_languages] == [("en", "C1"), ("fr", "B2")]
    assert [(m.tag, m.required_level, m.level) for m in item.missing_languages] == [("sw", "A2", None)]


def test_availability_component_is_free_days_over_one_and_a_half_times_the_effort() -> None:
    busy_week = {"start": "2027-03-08", "end": "2027-03-12"}
    experts = [projection(1), projection(2, unavailability=[busy_week])]

    ranking = rank(_index(experts), RankRequest.from_mapping(request_body(effort_days=12)), as_of=AS_OF)

    by_id = {item.expert_id: item for item in ranking.items}
    assert by_id[expert_uuid(1)].free_days == 20
    assert by_id[expert_uuid(1)].components["availability"].value == 1.0  # 20 ≥ 18
    assert by_id[expert_uuid(2)].free_days == 15
    assert by_id[expert_uuid(2)].components["availability"].value == pytest.approx(15 / 18)


@pytest.mark.parametrize(
    ("request_modality", "expert_modality", "passes"),
    [
        ("remote", "remote", True),
        ("remote", "either", True),
        ("remote", "in_country", False),
        ("in_country", "in_country", True),
        ("in_country", "either", True),
        ("in_country", "remote", False),
        ("either", "remote", True),
        ("either", "in_country", True),
    ],
)
def test_modality_filter(request_modality: str, expert_modality: str, passes: bool) -> None:
    expert = projection(1, modality=expert_modality)

    ranking = rank(
        _index([expert]), RankRequest.from_mapping(request_body(modality=request_modality)), as_of=AS_OF
    )

    assert ranking.eligible == int(passes)
    assert ranking.excluded["modality_incompatible"] == int(not passes)


@pytest.mark.parametrize(
    ("preference", "nationalities", "passes"),
    [
        ("national", ["KEN"], True),
        ("national", ["UGA", "KEN"], True),
        ("national", ["UGA"], False),
        ("international", ["UGA"], True),
        ("international", ["UGA", "KEN"], False),
        ("any", ["KEN"], True),
    ],
)
def test_nationality_preference_filter(preference: str, nationalities: list[str], passes: bool) -> None:
    expert = projection(1, nationalities=nationalities)
    request = RankRequest.from_mapping(request_body(nationality_preference=preference))

    ranking = rank(_index([expert]), request, as_of=AS_OF)

    assert ranking.eligible == int(passes)
    assert ranking.excluded["nationality_preference"] == int(not passes)


def test_assess_explains_an_excluded_expert_by_its_first_failing_reason() -> None:
    expert = projection(1, status="inactive", modality="remote", capabilities=[])
    request = RankRequest.from_mapping(request_body(modality="in_country"))

    assessment = assess(_index([expert]), request, expert["id"], as_of=AS_OF)

    assert assessment is not None
    assert assessment.excluded_reason == "not_active"
    assert [(m.capability, m.required_level, m.level) for m in assessment.item.missing_capabilities] == [
        (1, 2, 0)
    ]
    assert assess(_index([expert]), request, expert_uuid(2)) is None


def test_ranking_items_carry_every_documented_field() -> None:
    [item] = rank(_index([projection(1)]), RankRequest.from_mapping(request_body()), as_of=AS_OF).to_dict()[
        "items"
    ]

    assert set(item) == {
        "expert_id", "full_name", "score", "components", "matched_capabilities", "missing_capabilities",
        "matched_languages", "missing_languages", "region_reason", "free_days", "recent_assignments",
    }  # fmt: skip
    assert set(item["components"]["expertise"]) == {"value", "weight", "contribution"}
    assert item["matched_capabilities"] == [{"capability": 1, "required_level": 2, "level": 3}]
    assert item["matched_languages"] == [{"tag": "en", "required_level": "B2", "level": "C1"}]


def test_synthetic_data_ranks_the_same_with_the_reference() -> None:
    bodies = request_bodies(8, seed=7)
    experts = expert_projections(400, seed=7, holds=bodies[:4])
    index, references = _index(experts), [ReferenceExpert.from_projection(e) for e in experts]

    for body in bodies:
        request = RankRequest.from_mapping(body)
        fast = rank(index, request, limit=10, as_of=AS_OF)
        assert fast.to_dict() == reference_rank(references, request, limit=10, as_of=AS_OF).to_dict()


# --- policy and request parsing ----------------------------------------------------------------


def test_default_policy_weights() -> None:
    assert DEFAULT_POLICY.weights() == {"expertise": 0.5, "language": 0.2, "region": 0.2, "availability": 0.1}


@pytest.mark.parametrize(
    "weights",
    [
        {"expertise": 0.6, "language": 0.2, "region": 0.2, "availability": 0.1},  # sums to 1.1
        {"expertise": 1.2, "language": -0.2, "region": 0.0, "availability": 0.0},  # outside [0, 1]
        {"expertise": math.nan, "language": 0.5, "region": 0.5, "availability": 0.0},
        {"expertise": 0.5, "language": 0.2, "region": 0.2, "availability": 0.1, "seniority": 0.0},
    ],
)
def test_policy_refuses_invalid_weights(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"weight|sum|unknown"):
        Policy.from_mapping(weights)


def test_request_parsing_normalises_and_merges_repeated_needs() -> None:
    request = RankRequest.from_mapping(
        request_body(
            id="AAAAAAAA-0000-4000-8000-000000000001",
            country="ken",
            capabilities=[
                {"capability": 4, "min_level": 2, "importance": "desired"},
                {"capability": 4, "min_level": 3, "importance": "required"},
            ],
            languages=[
                {"tag": "EN-gb", "min_level": "B1"},
                {"tag": "en-US", "min_level": "C1", "importance": "desired"},
            ],
        )
    )

    assert request.id == REQUEST_IDS[0]
    assert request.country == "KEN"
    assert [(c.capability, c.min_level, c.required) for c in request.capabilities] == [(4, 3, True)]
    assert [(lang.tag, lang.base, lang.level_name, lang.required) for lang in request.languages] == [
        ("en-GB", "en", "C1", True)
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"end_date": "2027-02-27"},
        {"effort_days": 0},
        {"country": "XXX"},
        {"modality": "hybrid"},
        {"capabilities": [{"capability": 22, "min_level": 1}]},
        {"languages": [{"tag": "en", "min_level": "D1"}]},
    ],
)
def test_request_parsing_refuses_invalid_requests(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails a different check
        RankRequest.from_mapping(request_body(**changes))
