"""Matching leaves out experts whose safeguarding check has run out (issue 9): reason
`vetting_expired`, counted like the other reasons, from the feed's `vetting_valid_until`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from matching_service.index import ExpertIndex
from matching_service.ranking import RankRequest
from matching_service.scoring import REASONS, assess, rank
from mnr_devkit.reference_scorer import ReferenceExpert, reference_rank
from mnr_devkit.synthetic import expert_projections, feed_items, projection, request_body

AS_OF = date(2027, 2, 1)
REQUEST = RankRequest.from_mapping(request_body())


def _index(experts: list[dict[str, Any]]) -> ExpertIndex:
    return ExpertIndex.from_items(feed_items(experts))


def test_vetting_expired_comes_right_after_not_active() -> None:
    assert REASONS[:2] == ("not_active", "vetting_expired")


def test_an_expert_whose_check_ran_out_is_excluded_and_counted() -> None:
    experts = [
        projection(1, vetting_valid_until=(AS_OF - timedelta(days=1)).isoformat()),
        projection(2, vetting_valid_until=AS_OF.isoformat()),  # valid through its last day
        projection(3, vetting_valid_until=None),
        projection(4),
    ]
    del experts[3]["vetting_valid_until"]  # a projection that says nothing has no valid check

    ranking = rank(_index(experts), REQUEST, as_of=AS_OF)

    assert [item.expert_id for item in ranking.items] == [experts[1]["id"]]
    assert ranking.excluded["vetting_expired"] == 3
    assert ranking.total == ranking.eligible + sum(ranking.excluded.values())


def test_an_inactive_expert_is_counted_as_not_active_whatever_their_vetting() -> None:
    expert = projection(1, status="inactive", vetting_valid_until=None)

    ranking = rank(_index([expert]), REQUEST, as_of=AS_OF)

    assert (ranking.excluded["not_active"], ranking.excluded["vetting_expired"]) == (1, 0)


def test_assess_names_vetting_expired_as_the_reason() -> None:
    expert = projection(1, vetting_valid_until="2026-12-31")

    assessment = assess(_index([expert]), REQUEST, expert["id"], as_of=AS_OF)

    assert assessment is not None
    assert assessment.excluded_reason == "vetting_expired"


def test_an_update_with_a_renewed_check_brings_the_expert_back() -> None:
    expired = projection(1, vetting_valid_until="2026-12-31")
    index = _index([expired])
    index.apply(feed_items([{**expired, "vetting_valid_until": "2028-12-31"}], first_seq=2))

    assert [item.expert_id for item in rank(index, REQUEST, as_of=AS_OF).items] == [expired["id"]]


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.one_of(st.none(), st.integers(-40, 40)), min_size=1, max_size=12),
    statuses=st.lists(st.sampled_from(["active", "active", "inactive"]), min_size=12, max_size=12),
)
def test_vetting_expiry_agrees_with_the_per_expert_reference(
    offsets: list[int | None], statuses: list[str]
) -> None:
    experts = [
        projection(
            n + 1,
            status=statuses[n],
            vetting_valid_until=None if offset is None else (AS_OF + timedelta(days=offset)).isoformat(),
        )
        for n, offset in enumerate(offsets)
    ]

    fast = rank(_index(experts), REQUEST, limit=20, as_of=AS_OF)
    slow = reference_rank(
        [ReferenceExpert.from_projection(e) for e in experts], REQUEST, limit=20, as_of=AS_OF
    )

    assert fast.to_dict() == slow.to_dict()
    assert fast.excluded["vetting_expired"] == sum(
        1
        for e, off in zip(experts, offsets, strict=False)
        if e["status"] == "active" and (off is None or off < 0)
    )


def test_synthetic_rosters_have_some_expired_checks_and_agree_with_the_reference() -> None:
    experts = expert_projections(400, seed=3)
    index = _index(experts)

    fast = rank(index, REQUEST, limit=10, as_of=AS_OF)
    slow = reference_rank(
        [ReferenceExpert.from_projection(e) for e in experts], REQUEST, limit=10, as_of=AS_OF
    )

    assert fast.to_dict() == slow.to_dict()
    assert 0 < fast.excluded["vetting_expired"] < 40


# --- through the services ------------------------------------------------------------------------


async def test_a_shorter_validity_period_makes_matching_exclude_the_expert_and_refuse_approval(
    system: Any, people: dict[str, dict[str, str]], make_expert: Any, make_request: Any
) -> None:
    checked = (date.today() - timedelta(days=100)).isoformat()
    expert = await make_expert(
        1, vetting={"references_checked_on": checked, "safeguarding_check_on": checked}
    )
    request = await make_request()
    before = (
        await system.matching.get(f"/v1/requests/{request['id']}/candidates", headers=people["pd"])
    ).json()
    assert [c["expert_id"] for c in before["items"]] == [expert["id"]]
    assert before["excluded"]["vetting_expired"] == 0

    # The roster is now run with ROSTER_VETTING_VALID_MONTHS=2: a 100-day-old check has run out,
    # and the next feed item of the expert says so.
    roster_app = system.transport.apps["roster.test"]
    roster_app.state.settings = roster_app.state.settings.model_copy(update={"vetting_valid_months": 2})
    etag = (await system.roster.get(f"/v1/experts/{expert['id']}", headers=people["pd"])).headers["etag"]
    edited = await system.roster.patch(
        f"/v1/experts/{expert['id']}", headers={**people["pd"], "If-Match": etag}, json={"summary": "Edited."}
    )
    assert edited.status_code == 200, edited.text
    await system.sync()

    after = (
        await system.matching.get(f"/v1/requests/{request['id']}/candidates", headers=people["pd"])
    ).json()
    approve = await system.matching.post(
        "/v1/matches", json={"request_id": request["id"], "expert_id": expert["id"]}, headers=people["pd"]
    )

    assert after["items"] == []
    assert after["excluded"]["vetting_expired"] == 1
    assert approve.status_code == 409, approve.text
    assert (approve.json()["type"], approve.json()["reason"]) == (
        "urn:mnr:problem:expert-not-eligible",
        "vetting_expired",
    )
