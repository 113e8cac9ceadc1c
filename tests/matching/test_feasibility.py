"""`POST /v1/search/feasibility`: "can this be filled?" for a form being filled in — counts only."""

from __future__ import annotations

from typing import Any

from mnr_shared.testing import bearer


async def test_counts_who_would_qualify_and_why_the_others_not(
    system: Any, people: dict[str, dict[str, str]], make_expert: Any, request_form: Any
) -> None:
    await make_expert(1)
    await make_expert(2, capabilities=[{"capability": 3, "level": 1}])  # too junior
    await make_expert(3, status="inactive")
    answer = await system.matching.post(
        "/v1/search/feasibility", json=request_form(), headers=people["office"]
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == 3
    assert body["eligible"] == 1
    assert body["excluded"]["missing_required_capability"] == 1
    assert body["excluded"]["not_active"] == 1
    assert set(body) == {"policy_version", "index_seq", "total", "eligible", "excluded"}  # no names


async def test_an_office_asks_only_about_its_own_countries(
    system: Any, people: dict[str, dict[str, str]], request_form: Any
) -> None:
    refused = await system.matching.post(
        "/v1/search/feasibility", json=request_form(country="UGA"), headers=people["office"]
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    allowed = await system.matching.post(
        "/v1/search/feasibility", json=request_form(country="UGA"), headers=people["other_office"]
    )
    assert allowed.status_code == 200
    pd = await system.matching.post("/v1/search/feasibility", json=request_form(), headers=people["pd"])
    assert pd.status_code == 200


async def test_experts_may_not_ask_and_bad_bodies_are_422(
    system: Any, people: dict[str, dict[str, str]], token_for: Any, request_form: Any
) -> None:
    expert = bearer(await token_for("expert", expert_id="6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11"))
    assert (
        await system.matching.post("/v1/search/feasibility", json=request_form(), headers=expert)
    ).status_code == 403
    bad = await system.matching.post(
        "/v1/search/feasibility", json=request_form(effort_days=0), headers=people["office"]
    )
    assert bad.status_code == 422
