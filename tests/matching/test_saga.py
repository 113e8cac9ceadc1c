"""The approval saga across the three services: offers, answers, conflicts, faults and recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from matching_service.models import Match
from mnr_shared.db import utcnow
from mnr_shared.testing import bearer

Headers = dict[str, dict[str, str]]


async def _request_status(system: Any, people: Headers, request_id: str) -> str:
    response = await system.requests.get(f"/v1/requests/{request_id}", headers=people["pd"])
    return str(response.json()["status"])


async def _live_bookings(system: Any, people: Headers, expert_id: str) -> list[dict[str, Any]]:
    calendar = (
        await system.roster.get(
            f"/v1/experts/{expert_id}/calendar",
            headers=people["pd"],
            params={"from": "2027-01-01", "to": "2027-12-31"},
        )
    ).json()
    return [b for b in calendar["bookings"] if b["status"] != "released"]


async def _approve(
    system: Any, people: Headers, request: dict[str, Any], expert: dict[str, Any]
) -> httpx.Response:
    client: httpx.AsyncClient = system.matching
    return await client.post(
        "/v1/matches",
        headers=people["pd"],
        json={"request_id": request["id"], "expert_id": expert["id"], "note": "Strong fit."},
    )


async def test_approve_offer_accept_fulfils_the_request(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    shortlist = await system.matching.get(f"/v1/requests/{request['id']}/candidates", headers=people["pd"])
    assert shortlist.status_code == 200
    assert shortlist.json()["items"][0]["expert_id"] == expert["id"]

    approved = await _approve(system, people, request, expert)
    assert approved.status_code == 201, approved.text
    match = approved.json()
    assert match["status"] == "offered"
    assert match["policy_version"] == 1
    assert set(match["breakdown"]["components"]) == {"expertise", "language", "region", "availability"}
    assert await _request_status(system, people, request["id"]) == "matched"
    [hold] = await _live_bookings(system, people, expert["id"])
    assert (hold["status"], hold["match_id"], hold["start"]) == ("hold", match["id"], "2027-03-01")

    me = bearer(await token_for("expert", sub="cand-1", expert_id=expert["id"]))
    offers = (await system.matching.get("/v1/matches", headers=me)).json()["items"]
    assert [o["id"] for o in offers] == [match["id"]]
    accepted = await system.matching.post(f"/v1/matches/{match['id']}/accept", headers=me)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert await _request_status(system, people, request["id"]) == "fulfilled"
    [booking] = await _live_bookings(system, people, expert["id"])
    assert booking["status"] == "confirmed"


async def test_decline_releases_the_hold_and_reopens_the_request(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    expert = await make_expert(2)
    request = await make_request()
    match = (await _approve(system, people, request, expert)).json()
    me = bearer(await token_for("expert", sub="cand-2", expert_id=expert["id"]))
    declined = await system.matching.post(
        f"/v1/matches/{match['id']}/decline", headers=me, json={"reason": "Not available after all."}
    )
    assert declined.json()["status"] == "declined"
    assert declined.json()["reason"] == "Not available after all."
    assert await _request_status(system, people, request["id"]) == "in_review"
    assert await _live_bookings(system, people, expert["id"]) == []
    # The request can be matched again, to someone else.
    other = await make_expert(3)
    again = await _approve(system, people, request, other)
    assert again.status_code == 201


async def test_another_expert_cannot_answer_the_offer(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    expert = await make_expert(4)
    match = (await _approve(system, people, await make_request(), expert)).json()
    stranger = bearer(await token_for("expert", sub="x", expert_id=(await make_expert(5))["id"]))
    response = await system.matching.post(f"/v1/matches/{match['id']}/accept", headers=stranger)
    assert response.status_code == 404


async def test_pd_cancel_releases_and_reopens(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(6)
    request = await make_request()
    match = (await _approve(system, people, request, expert)).json()
    cancelled = await system.matching.post(
        f"/v1/matches/{match['id']}/cancel", headers=people["pd"], json={"reason": "Budget cut."}
    )
    assert cancelled.json()["status"] == "cancelled"
    assert await _request_status(system, people, request["id"]) == "in_review"
    assert await _live_bookings(system, people, expert["id"]) == []
    again = await system.matching.post(f"/v1/matches/{match['id']}/cancel", headers=people["pd"])
    assert again.status_code == 409


async def test_overlapping_request_for_a_booked_expert_is_409_with_alternatives(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(7)
    backup = await make_expert(8)
    first = await make_request()
    assert (await _approve(system, people, first, expert)).status_code == 201
    second = await make_request(start_date="2027-03-15", end_date="2027-04-15")
    # The index has not seen the hold yet: roster is the judge, and says 409.
    response = await _approve(system, people, second, expert)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == "urn:mnr:problem:expert-not-free"
    assert problem["conflicting"]["kind"] == "booking"
    assert [a["expert_id"] for a in problem["alternatives"]] == [backup["id"]]
    assert await _request_status(system, people, second["id"]) == "in_review"


async def test_second_live_match_for_a_request_is_409(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    one, two = await make_expert(9), await make_expert(10)
    request = await make_request()
    assert (await _approve(system, people, request, one)).status_code == 201
    response = await _approve(system, people, request, two)
    assert response.status_code == 409
    assert await _live_bookings(system, people, two["id"]) == []


async def test_request_not_in_review_cannot_be_matched(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(11)
    request = await make_request(status="submitted")
    response = await _approve(system, people, request, expert)
    assert response.status_code == 409
    assert response.json()["request_status"] == "submitted"


async def test_ineligible_expert_is_409(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    novice = await make_expert(12, capabilities=[{"capability": 3, "level": 1}])
    response = await _approve(system, people, await make_request(), novice)
    assert response.status_code == 409
    assert response.json()["type"] == "urn:mnr:problem:expert-not-eligible"


async def test_roster_down_at_the_hold_is_503_and_a_later_retry_succeeds(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(13)
    request = await make_request()
    system.transport.down.add("roster.test")
    response = await _approve(system, people, request, expert)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    system.transport.down.discard("roster.test")
    assert await _live_bookings(system, people, expert["id"]) == []
    assert await _request_status(system, people, request["id"]) == "in_review"
    await system.ctx.saga.recover()  # compensates the failed attempt (nothing to release)
    retry = await _approve(system, people, request, expert)
    assert retry.status_code == 201, retry.text
    assert len(await _live_bookings(system, people, expert["id"])) == 1


async def test_requests_down_after_the_hold_is_finished_by_the_worker(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(14)
    request = await make_request()
    # Take requests down only for the transition: the approval reads the request first.
    original = system.ctx.requests.transition

    async def down(**kwargs: Any) -> Any:
        system.transport.down.add("requests.test")
        return await original(**kwargs)

    system.ctx.requests.transition = down
    response = await _approve(system, people, request, expert)
    system.ctx.requests.transition = original
    assert response.status_code == 202, response.text
    match = response.json()
    assert (match["status"], match["pending_step"]) == ("pending", "match_request")
    assert len(await _live_bookings(system, people, expert["id"])) == 1

    await system.ctx.saga.recover()  # requests still down: stays pending, nothing lost
    pending = await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])
    assert pending.json()["status"] == "pending"

    system.transport.down.discard("requests.test")
    await _make_due(system)
    await system.ctx.saga.recover()
    done = (await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])).json()
    assert (done["status"], done["pending_step"]) == ("offered", None)
    assert await _request_status(system, people, request["id"]) == "matched"


async def _make_due(system: Any) -> None:
    """Let every retry be due now (instead of waiting out the backoff)."""
    async with system.ctx.sessions() as session:
        await session.execute(update(Match).values(next_attempt_at=None))
        await session.commit()


async def test_request_withdrawn_during_the_saga_releases_the_hold(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(15)
    request = await make_request()
    original = system.ctx.requests.transition

    async def withdraw_first(**kwargs: Any) -> Any:
        await system.requests.post(
            f"/v1/requests/{request['id']}/transitions",
            json={"action": "withdraw", "note": "No longer needed."},
            headers=people["office"],
        )
        return await original(**kwargs)

    system.ctx.requests.transition = withdraw_first
    response = await _approve(system, people, request, expert)
    system.ctx.requests.transition = original
    assert response.status_code == 409, response.text
    assert response.json()["type"] == "urn:mnr:problem:request-not-in-review"
    assert response.json()["match_status"] == "failed"
    assert await _live_bookings(system, people, expert["id"]) == []
    assert await _request_status(system, people, request["id"]) == "withdrawn"


async def test_unanswered_offer_expires_and_frees_everything(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(16)
    request = await make_request()
    match = (await _approve(system, people, request, expert)).json()
    async with system.ctx.sessions() as session:
        await session.execute(update(Match).values(offered_at=utcnow() - timedelta(days=30)))
        await session.commit()
    await system.ctx.saga.recover()
    expired = (await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])).json()
    assert expired["status"] == "expired"
    assert await _live_bookings(system, people, expert["id"]) == []
    assert await _request_status(system, people, request["id"]) == "in_review"


async def test_concurrent_approvals_of_one_expert_for_overlapping_requests_one_wins(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(17)
    requests = [await make_request() for _ in range(4)]
    responses = await asyncio.gather(*[_approve(system, people, r, expert) for r in requests])
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert len(await _live_bookings(system, people, expert["id"])) == 1
    statuses = [await _request_status(system, people, r["id"]) for r in requests]
    assert sorted(statuses) == ["in_review", "in_review", "in_review", "matched"]


async def test_concurrent_approvals_of_two_experts_for_one_request_one_wins(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    experts = [await make_expert(n) for n in (18, 19, 20)]
    request = await make_request()
    responses = await asyncio.gather(*[_approve(system, people, request, e) for e in experts])
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    held = [len(await _live_bookings(system, people, e["id"])) for e in experts]
    assert sorted(held) == [0, 0, 1]


async def test_idempotent_approval_replays(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(21)
    request = await make_request()
    body = {"request_id": request["id"], "expert_id": expert["id"]}
    headers = {**people["pd"], "Idempotency-Key": "approve-1"}
    first = await system.matching.post("/v1/matches", json=body, headers=headers)
    again = await system.matching.post("/v1/matches", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]


async def test_withdrawing_a_matched_request_frees_the_expert(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(22)
    request = await make_request()
    match = (await _approve(system, people, request, expert)).json()
    withdrawn = await system.requests.post(
        f"/v1/requests/{request['id']}/transitions",
        json={"action": "withdraw", "note": "Solved nationally."},
        headers=people["office"],
    )
    assert withdrawn.status_code == 200
    await system.ctx.saga.recover()
    after = (await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])).json()
    assert (after["status"], after["reason"]) == ("cancelled", "The request was withdrawn.")
    assert await _live_bookings(system, people, expert["id"]) == []
    assert await _request_status(system, people, request["id"]) == "withdrawn"
