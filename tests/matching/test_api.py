"""Matching routes: who may call them, what they validate, policy versions, and index freshness."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from matching_service.config import Settings as MatchingSettings
from matching_service.main import create_app as create_matching
from mnr_shared.testing import bearer, running

Headers = dict[str, dict[str, str]]


async def test_candidates_explain_every_item(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    strong = await make_expert(1, capabilities=[{"capability": 3, "level": 4}, {"capability": 5, "level": 3}])
    weak = await make_expert(2, country_experience=["PER"], residence_country="PER", nationalities=["PER"])
    await make_expert(3, capabilities=[{"capability": 9, "level": 4}])
    await make_expert(4, status="applicant")
    request = await make_request()
    body = (
        await system.matching.get(f"/v1/requests/{request['id']}/candidates", headers=people["pd"])
    ).json()
    assert [c["expert_id"] for c in body["items"]] == [strong["id"], weak["id"]]
    assert (body["total"], body["eligible"]) == (4, 2)
    assert body["excluded"]["not_active"] == 1
    assert body["excluded"]["missing_required_capability"] == 1
    assert body["index_seq"] >= 4
    top = body["items"][0]
    assert top["rank"] == 1
    assert top["region_reason"] == "country_experience"
    assert body["items"][1]["region_reason"] == "none"
    total = sum(c["contribution"] for c in top["components"].values())
    assert top["score"] == pytest.approx(total)
    assert {m["capability"] for m in top["matched_capabilities"]} == {3, 5}


async def test_candidates_for_the_own_office_only(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    await make_expert(5)
    request = await make_request()
    url = f"/v1/requests/{request['id']}/candidates"
    assert (await system.matching.get(url, headers=people["office"])).status_code == 200
    assert (await system.matching.get(url, headers=people["other_office"])).status_code == 404
    expert = bearer(await token_for("expert", sub="e"))
    assert (await system.matching.get(url, headers=expert)).status_code == 403
    assert (await system.matching.get(url)).status_code == 401
    assert (await system.matching.get(url, headers=people["matching"])).status_code == 403


async def test_unknown_request_is_404(system: Any, people: Headers) -> None:
    response = await system.matching.get(
        "/v1/requests/00000000-0000-4000-8000-000000000000/candidates", headers=people["pd"]
    )
    assert response.status_code == 404


async def test_what_if_search_ranks_an_unsaved_request(
    system: Any, people: Headers, make_expert: Any
) -> None:
    expert = await make_expert(6)
    body = {
        "country": "KEN",
        "capabilities": [{"capability": 3, "min_level": 2}],
        "start_date": "2027-05-03",
        "end_date": "2027-05-28",
        "effort_days": 5,
    }
    response = await system.matching.post("/v1/search", json=body, headers=people["pd"])
    assert response.status_code == 200, response.text
    assert response.json()["request_id"] is None
    assert [c["expert_id"] for c in response.json()["items"]] == [expert["id"]]
    assert (await system.matching.post("/v1/search", json=body, headers=people["office"])).status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"effort_days": 30}, "effort_days exceeds"),
        ({"capabilities": [{"capability": 3, "importance": "desired"}]}, "required"),
        ({"country": "ZZZ"}, "country"),
        ({"capabilities": [{"capability": 30}]}, "capability"),
        ({"languages": [{"tag": "xx-invalid-tag", "min_level": "B2"}]}, "tag"),
        ({"end_date": "2027-04-01"}, "start_date"),
        ({"modality": "hybrid"}, "modality"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_bad_search_body_is_422(
    system: Any, people: Headers, change: dict[str, Any], field: str
) -> None:
    body = {
        "country": "KEN",
        "capabilities": [{"capability": 3, "min_level": 2}],
        "start_date": "2027-05-03",
        "end_date": "2027-05-14",
        "effort_days": 5,
        **change,
    }
    response = await system.matching.post("/v1/search", json=body, headers=people["pd"])
    assert response.status_code == 422
    assert field in response.text


async def test_policy_changes_are_new_versions_and_change_scores(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    await make_expert(7, country_experience=["PER"])
    request = await make_request()
    url = f"/v1/requests/{request['id']}/candidates"
    before = (await system.matching.get(url, headers=people["pd"])).json()["items"][0]
    current = await system.matching.get("/v1/policy", headers=people["pd"])
    assert current.json()["version"] == 1
    weights = {"expertise": 0.1, "language": 0.1, "region": 0.7, "availability": 0.1}
    assert (await system.matching.put("/v1/policy", json=weights, headers=people["admin"])).status_code == 428
    assert (
        await system.matching.put(
            "/v1/policy", json=weights, headers={**people["pd"], "If-Match": current.headers["etag"]}
        )
    ).status_code == 403
    changed = await system.matching.put(
        "/v1/policy", json=weights, headers={**people["admin"], "If-Match": current.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    stale = await system.matching.put(
        "/v1/policy", json=weights, headers={**people["admin"], "If-Match": current.headers["etag"]}
    )
    assert stale.status_code == 412
    after = (await system.matching.get(url, headers=people["pd"])).json()
    assert after["policy_version"] == 2
    # No experience in Kenya: a heavier region weight lowers this expert's score.
    assert after["items"][0]["score"] < before["score"]
    assert after["items"][0]["components"]["region"]["weight"] == 0.7
    versions = (await system.matching.get("/v1/policy/versions", headers=people["pd"])).json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    assert versions["next_cursor"] is None


@pytest.mark.parametrize(
    "weights",
    [
        {"expertise": 0.5, "language": 0.2, "region": 0.2, "availability": 0.2},
        {"expertise": 1.5, "language": -0.5, "region": 0, "availability": 0},
        {"expertise": 1.0},
    ],
)
async def test_bad_weights_are_422(system: Any, people: Headers, weights: dict[str, float]) -> None:
    etag = (await system.matching.get("/v1/policy", headers=people["admin"])).headers["etag"]
    response = await system.matching.put(
        "/v1/policy", json=weights, headers={**people["admin"], "If-Match": etag}
    )
    assert response.status_code == 422


async def test_match_lists_are_scoped(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    expert = await make_expert(8)
    other = await make_expert(9)
    match = (
        await system.matching.post(
            "/v1/matches",
            headers=people["pd"],
            json={"request_id": (await make_request())["id"], "expert_id": expert["id"]},
        )
    ).json()
    mine = bearer(await token_for("expert", sub="e8", expert_id=expert["id"]))
    theirs = bearer(await token_for("expert", sub="e9", expert_id=other["id"]))
    assert [m["id"] for m in (await system.matching.get("/v1/matches", headers=mine)).json()["items"]] == [
        match["id"]
    ]
    assert (await system.matching.get("/v1/matches", headers=theirs)).json()["items"] == []
    assert (
        await system.matching.get("/v1/matches", params={"expert_id": expert["id"]}, headers=theirs)
    ).status_code == 403
    assert (await system.matching.get(f"/v1/matches/{match['id']}", headers=theirs)).status_code == 404
    assert (await system.matching.get("/v1/matches", headers=people["office"])).status_code == 403
    by_request = (
        await system.matching.get(
            "/v1/matches",
            headers=people["pd"],
            params={"request_id": match["request_id"], "status": "offered"},
        )
    ).json()["items"]
    assert [m["id"] for m in by_request] == [match["id"]]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("office", 403),
        ("matching", 403),
        ("admin", 422),
    ],
)
async def test_only_pd_and_admin_approve(system: Any, people: Headers, who: str, status: int) -> None:
    # A valid caller reaches validation (422 for the empty body); others stop at 403.
    response = await system.matching.post("/v1/matches", json={}, headers=people[who])
    assert response.status_code == status


async def test_readyz_reports_the_index_and_upstreams(system: Any) -> None:
    response = await system.matching.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "index": "ok", "roster": "ok", "requests": "ok"}


async def test_index_follows_the_feed(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    request = await make_request()
    url = f"/v1/requests/{request['id']}/candidates"

    async def ranked() -> list[str]:
        await system.sync()
        body = (await system.matching.get(url, headers=people["pd"])).json()
        return [c["expert_id"] for c in body["items"]]

    expert = await make_expert(10)
    assert await ranked() == [expert["id"]]
    etag = (await system.roster.get(f"/v1/experts/{expert['id']}", headers=people["pd"])).headers["etag"]
    await system.roster.patch(
        f"/v1/experts/{expert['id']}",
        json={"capabilities": [{"capability": 9, "level": 4}]},
        headers={**people["pd"], "If-Match": etag},
    )
    assert await ranked() == []
    second = await make_expert(11)
    assert await ranked() == [second["id"]]
    await system.roster.post(
        f"/v1/experts/{second['id']}/unavailability",
        headers=people["pd"],
        json={"start": "2027-03-01", "end": "2027-03-31"},
    )
    assert await ranked() == []
    third = await make_expert(12)
    assert await ranked() == [third["id"]]
    etag = (await system.roster.get(f"/v1/experts/{third['id']}", headers=people["admin"])).headers["etag"]
    await system.roster.delete(f"/v1/experts/{third['id']}", headers={**people["admin"], "If-Match": etag})
    assert await ranked() == []


async def test_background_polling_picks_up_a_new_expert_within_the_interval(
    roster: httpx.AsyncClient,
    requests_api: httpx.AsyncClient,
    databases: Any,
    auth_settings: Any,
    transport: Any,
    people: Headers,
) -> None:
    from matching_service import models

    url = await databases.url("matching", models.metadata)
    settings = MatchingSettings(
        database_url=url,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        token_url="http://identity.test/token",
        poll_interval_seconds=0.05,
    )
    app = create_matching(settings, auth=auth_settings, transport=transport)
    async with running(app, "matching.test"):
        await asyncio.wait_for(app.state.ctx.follower.loaded.wait(), timeout=5)
        assert len(app.state.ctx.index) == 0
        await roster.post(
            "/v1/experts",
            headers=people["pd"],
            json={
                "full_name": "Fresh Face",
                "email": "fresh@example.org",
                "status": "active",
                "vetting": {
                    "references_checked_on": (date.today() - timedelta(days=30)).isoformat(),
                    "safeguarding_check_on": (date.today() - timedelta(days=30)).isoformat(),
                },
            },
        )
        for _ in range(100):
            if len(app.state.ctx.index) == 1:
                break
            await asyncio.sleep(0.02)
        assert len(app.state.ctx.index) == 1


async def test_country_office_sees_the_matches_of_its_own_request(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(30)
    request = await make_request()
    match = (
        await system.matching.post(
            "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
        )
    ).json()
    own = await system.matching.get(
        "/v1/matches", params={"request_id": request["id"]}, headers=people["office"]
    )
    assert own.status_code == 200
    assert [(m["id"], m["expert_name"]) for m in own.json()["items"]] == [(match["id"], "Candidate 30")]
    foreign = await system.matching.get(
        "/v1/matches", params={"request_id": request["id"]}, headers=people["other_office"]
    )
    assert foreign.status_code == 404


async def test_matches_page_newest_first(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    made = []
    for n in (40, 41, 42):
        expert, request = await make_expert(n), await make_request()
        response = await system.matching.post(
            "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
        )
        made.append(response.json()["id"])
    first = (await system.matching.get("/v1/matches", params={"limit": 2}, headers=people["pd"])).json()
    rest = (
        await system.matching.get(
            "/v1/matches", params={"limit": 2, "cursor": first["next_cursor"]}, headers=people["pd"]
        )
    ).json()
    assert [m["id"] for m in first["items"] + rest["items"]] == made[::-1]
    assert rest["next_cursor"] is None
