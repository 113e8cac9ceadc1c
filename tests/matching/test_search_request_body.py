"""`POST /v1/search` takes the very body a country office files with `POST /v1/requests`."""

from __future__ import annotations

from typing import Any

Headers = dict[str, dict[str, str]]


async def test_search_accepts_the_body_of_a_filed_request_and_ranks_as_without_its_extra_fields(
    system: Any, people: Headers, make_expert: Any, request_form: Any
) -> None:
    # A request exactly as a country office files it, fields that do not rank included.
    form = request_form(priority="urgent")
    filed = await system.requests.post("/v1/requests", json=form, headers=people["office"])
    assert filed.status_code == 201, filed.text
    await make_expert(1)
    await make_expert(2, capabilities=[{"capability": 3, "level": 4}])
    ranking_only = {k: v for k, v in form.items() if k not in {"title", "description", "priority"}}

    what_if = await system.matching.post("/v1/search", json=form, headers=people["pd"])
    plain = await system.matching.post("/v1/search", json=ranking_only, headers=people["pd"])

    assert what_if.status_code == 200, what_if.text
    assert what_if.json()["items"] == plain.json()["items"]
    assert len(what_if.json()["items"]) == 2


async def test_search_still_refuses_a_field_no_request_has(
    system: Any, people: Headers, request_form: Any
) -> None:
    response = await system.matching.post(
        "/v1/search", json={**request_form(), "budget": 10}, headers=people["pd"]
    )

    assert response.status_code == 422, response.text
    assert ["body", "budget"] in [e["loc"] for e in response.json()["errors"]]
