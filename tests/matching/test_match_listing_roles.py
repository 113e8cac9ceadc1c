"""Who lists which matches: the caller's role decides, never an `expert_id` claim on its own."""

from __future__ import annotations

from typing import Any

from mnr_shared.testing import bearer

Headers = dict[str, dict[str, str]]


async def _offer(system: Any, people: Headers, make_request: Any, make_expert: Any, n: int) -> dict[str, Any]:
    expert = await make_expert(n)
    request = await make_request()
    approved = await system.matching.post(
        "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
    )
    assert approved.status_code == 201, approved.text
    match: dict[str, Any] = approved.json()
    return match


async def test_a_country_office_token_with_an_expert_id_claim_lists_as_a_country_office(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    match = await _offer(system, people, make_request, make_expert, 1)
    office = bearer(
        await token_for("country_office", sub="co-uga-2", offices=["UGA"], expert_id=match["expert_id"])
    )

    listed = await system.matching.get("/v1/matches", headers=office)
    one = await system.matching.get(f"/v1/matches/{match['id']}", headers=office)

    assert listed.status_code == 403, listed.text
    assert listed.headers["content-type"] == "application/problem+json"
    assert one.status_code in (403, 404), one.text


async def test_a_country_office_with_an_expert_id_claim_sees_only_its_own_requests_matches(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    match = await _offer(system, people, make_request, make_expert, 2)
    own = bearer(
        await token_for("country_office", sub="co-ken-2", offices=["KEN"], expert_id=match["expert_id"])
    )
    foreign = bearer(
        await token_for("country_office", sub="co-uga-3", offices=["UGA"], expert_id=match["expert_id"])
    )
    params = {"request_id": match["request_id"]}

    mine = await system.matching.get("/v1/matches", headers=own, params=params)
    theirs = await system.matching.get("/v1/matches", headers=foreign, params=params)

    assert [m["id"] for m in mine.json()["items"]] == [match["id"]]
    assert theirs.status_code == 404, theirs.text


async def test_an_expert_still_lists_their_own_offers(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    match = await _offer(system, people, make_request, make_expert, 3)
    me = bearer(await token_for("expert", sub="cand-3", expert_id=match["expert_id"]))

    listed = await system.matching.get("/v1/matches", headers=me)

    assert [m["id"] for m in listed.json()["items"]] == [match["id"]]
