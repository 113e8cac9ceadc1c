"""`POST /v1/search` takes the very body a country office files with `POST /v1/requests`."""

from __future__ import annotations

from typing import Any

Headers = dict[str, dict[str, str]]

# A request exactly as a country office files it, fields that do not rank included.
FILED: dict[str, Any] = {
    "country": "KEN",
    "title": "Review draft OCSEA legislation",
    "description": "Review the draft bill against the MNR legislation capability.",
    "capabilities": [
        {"capability": 3, "min_level": 3, "importance": "required"},
        {"capability": 5, "min_level": 2, "importance": "desired"},
    ],
    "languages": [{"tag": "en", "min_level": "B2", "importance": "required"}],
    "modality": "either",
    "start_date": "2027-03-01",
    "end_date": "2027-03-31",
    "effort_days": 10,
    "priority": "urgent",
    "nationality_preference": "any",
}


async def test_search_accepts_the_body_of_a_filed_request_and_ranks_as_without_its_extra_fields(
    system: Any, people: Headers, make_expert: Any
) -> None:
    filed = await system.requests.post("/v1/requests", json=FILED, headers=people["office"])
    assert filed.status_code == 201, filed.text
    await make_expert(1)
    await make_expert(2, capabilities=[{"capability": 3, "level": 4}])
    ranking_only = {k: v for k, v in FILED.items() if k not in {"title", "description", "priority"}}

    what_if = await system.matching.post("/v1/search", json=FILED, headers=people["pd"])
    plain = await system.matching.post("/v1/search", json=ranking_only, headers=people["pd"])

    assert what_if.status_code == 200, what_if.text
    assert what_if.json()["items"] == plain.json()["items"]
    assert len(what_if.json()["items"]) == 2


async def test_search_still_refuses_a_field_no_request_has(system: Any, people: Headers) -> None:
    response = await system.matching.post("/v1/search", json={**FILED, "budget": 10}, headers=people["pd"])

    assert response.status_code == 422, response.text
    assert ["body", "budget"] in [e["loc"] for e in response.json()["errors"]]
