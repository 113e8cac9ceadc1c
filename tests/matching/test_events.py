"""Matching's outbox: each move of a match to a new status, and each policy change, writes one
event in the change's own transaction, served in order at `GET /v1/events`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from matching_service.models import Match
from mnr_shared.db import utcnow
from mnr_shared.testing import bearer

Headers = dict[str, dict[str, str]]
NOTE = "Strong fit, and Candidate knows the ministry well."
DECLINE_REASON = "My daughter is having surgery that month."
CANCEL_REASON = "Budget cut by the donor."


async def _events(system: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await system.matching.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _approve(
    system: Any, people: Headers, request: dict[str, Any], expert: dict[str, Any]
) -> httpx.Response:
    client: httpx.AsyncClient = system.matching
    return await client.post(
        "/v1/matches",
        headers=people["pd"],
        json={"request_id": request["id"], "expert_id": expert["id"], "note": NOTE},
    )


async def _offer(
    system: Any, people: Headers, request: dict[str, Any], expert: dict[str, Any]
) -> dict[str, Any]:
    approved = await _approve(system, people, request, expert)
    assert approved.status_code == 201, approved.text
    match: dict[str, Any] = approved.json()
    assert match["status"] == "offered"
    return match


def _pairs(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["type"], e["subject"]) for e in page["items"]]


async def test_offers_and_their_answers_write_one_event_each_in_order_with_no_personal_text(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    accepting, declining, cancelled_for = await make_expert(1), await make_expert(2), await make_expert(3)
    one, two = await make_request(), await make_request(start_date="2027-06-01", end_date="2027-06-30")
    three = await make_request(start_date="2027-09-01", end_date="2027-09-30")
    first = await _offer(system, people, one, accepting)
    me = bearer(await token_for("expert", sub="cand-1", expert_id=accepting["id"]))
    accepted = await system.matching.post(f"/v1/matches/{first['id']}/accept", headers=me)
    assert accepted.status_code == 200, accepted.text
    second = await _offer(system, people, two, declining)
    her = bearer(await token_for("expert", sub="cand-2", expert_id=declining["id"]))
    declined = await system.matching.post(
        f"/v1/matches/{second['id']}/decline", headers=her, json={"reason": DECLINE_REASON}
    )
    assert declined.status_code == 200, declined.text
    third = await _offer(system, people, three, cancelled_for)
    cancelled = await system.matching.post(
        f"/v1/matches/{third['id']}/cancel", headers=people["pd"], json={"reason": CANCEL_REASON}
    )
    assert cancelled.status_code == 200, cancelled.text

    page = await _events(system, people["admin"])

    assert _pairs(page) == [
        ("match.offered", first["id"]),
        ("match.accepted", first["id"]),
        ("match.offered", second["id"]),
        ("match.declined", second["id"]),
        ("match.offered", third["id"]),
        ("match.cancelled", third["id"]),
    ]
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(set(seqs))
    assert len({e["id"] for e in page["items"]}) == len(seqs)
    assert page["next_after"] == seqs[-1]
    assert [("expires_at" in e["data"]) for e in page["items"]] == [True, False, True, False, True, False]
    offered, answered = page["items"][0], page["items"][1]
    expires_at = offered["data"].pop("expires_at")
    assert datetime.fromisoformat(expires_at) == datetime.fromisoformat(first["expires_at"])
    assert datetime.fromisoformat(expires_at) - datetime.fromisoformat(first["offered_at"]) == timedelta(
        days=7
    )
    window = {
        "request_id": one["id"],
        "expert_id": accepting["id"],
        "start": "2027-03-01",
        "end": "2027-03-31",
        "policy_version": 1,
    }
    assert offered["data"] == {**window, "status": "offered"}
    assert answered["data"] == {**window, "status": "accepted"}
    assert [e["actor"] for e in page["items"]] == ["pd-1", "cand-1", "pd-1", "cand-2", "pd-1", "pd-1"]
    assert [e["data"]["status"] for e in page["items"][2:]] == ["offered", "declined", "offered", "cancelled"]
    text = str(page)
    personal = [accepting["full_name"], declining["full_name"], cancelled_for["full_name"], "Candidate"]
    assert [word for word in (*personal, NOTE, DECLINE_REASON, CANCEL_REASON) if word in text] == []
    # The answers themselves do show the texts: the check above can see a leak.
    assert DECLINE_REASON in declined.text
    assert accepting["full_name"] in accepted.text


async def test_a_refused_approval_writes_no_offer(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert, other = await make_expert(7), await make_expert(8)
    first = await make_request()
    held = await _offer(system, people, first, expert)
    before = await _events(system, people["admin"])
    assert _pairs(before) == [("match.offered", held["id"])]
    overlapping = await make_request(start_date="2027-03-15", end_date="2027-04-15")

    booked = await _approve(system, people, overlapping, expert)
    second_live = await _approve(system, people, first, other)

    assert booked.status_code == 409, booked.text
    assert booked.json()["type"] == "urn:mnr:problem:expert-not-free"
    assert second_live.status_code == 409, second_live.text
    assert second_live.json()["type"] == "urn:mnr:problem:request-not-in-review"
    after = await _events(system, people["admin"], after=before["next_after"])
    # The approval roster refused ended its match failed; the one refused before a match was
    # recorded (its request is matched already) left nothing.
    assert [e["type"] for e in after["items"]] == ["match.failed"]
    [failed] = after["items"]
    assert failed["subject"] == booked.json()["match_id"]
    assert failed["data"]["status"] == "failed"
    assert failed["data"]["expert_id"] == expert["id"]
    assert failed["data"]["request_id"] == overlapping["id"]
    assert failed["actor"] == "pd-1"


async def test_concurrent_approvals_of_one_expert_write_one_offer_and_a_failure_each(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(17)
    requests = [await make_request() for _ in range(4)]

    responses = await asyncio.gather(*[_approve(system, people, r, expert) for r in requests])

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    [winner] = [r.json()["id"] for r in responses if r.status_code == 201]
    page = await _events(system, people["admin"])
    assert sorted(_pairs(page)) == sorted(
        [("match.offered", winner)]
        + [("match.failed", r.json()["match_id"]) for r in responses if r.status_code == 409]
    )
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(set(seqs))


async def test_roster_down_at_the_hold_writes_one_failure_and_no_offer(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(13)
    request = await make_request()
    system.transport.down.add("roster.test")
    response = await _approve(system, people, request, expert)
    system.transport.down.discard("roster.test")
    assert response.status_code == 503, response.text
    # The worker compensates: the match is written `failed` again, which is no new move.
    await system.ctx.saga.recover()
    listed = await system.matching.get("/v1/matches", headers=people["pd"], params={"status": "failed"})
    [failed] = listed.json()["items"]
    assert failed["pending_step"] is None

    page = await _events(system, people["admin"])

    assert _pairs(page) == [("match.failed", failed["id"])]
    assert page["items"][0]["actor"] == "pd-1"
    retry = await _approve(system, people, request, expert)
    assert retry.status_code == 201, retry.text
    again = await _events(system, people["admin"], after=page["next_after"])
    assert _pairs(again) == [("match.offered", retry.json()["id"])]


async def test_an_unanswered_offer_expires_with_the_system_as_actor(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    expert = await make_expert(16)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    async with system.ctx.sessions() as session:
        await session.execute(update(Match).values(offered_at=utcnow() - timedelta(days=30)))
        await session.commit()

    await system.ctx.saga.recover()

    page = await _events(system, people["admin"], types="match.expired")
    [expired] = page["items"]
    assert (expired["subject"], expired["actor"]) == (match["id"], "system")
    assert expired["data"] == {
        "request_id": request["id"],
        "expert_id": expert["id"],
        "status": "expired",
        "start": "2027-03-01",
        "end": "2027-03-31",
        "policy_version": 1,
    }
    everything = await _events(system, people["admin"])
    assert [e["type"] for e in everything["items"]] == ["match.offered", "match.expired"]
    # Another pass finds nothing more to expire and writes nothing.
    await system.ctx.saga.recover()
    assert (await _events(system, people["admin"], after=everything["next_after"]))["items"] == []


async def test_a_policy_change_writes_policy_updated_and_a_refused_one_nothing(
    system: Any, people: Headers
) -> None:
    admin = people["admin"]
    etag = (await system.matching.get("/v1/policy", headers=admin)).headers["etag"]
    weights = {"expertise": 0.4, "language": 0.3, "region": 0.2, "availability": 0.1}

    changed = await system.matching.put("/v1/policy", json=weights, headers={**admin, "If-Match": etag})
    stale = await system.matching.put("/v1/policy", json=weights, headers={**admin, "If-Match": etag})

    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert stale.status_code == 412, stale.text
    page = await _events(system, admin)
    assert _pairs(page) == [("policy.updated", "2")]
    [event] = page["items"]
    assert event["data"] == {"version": 2, "weights": weights}
    assert event["actor"] == "admin-1"


async def test_paging_and_the_types_filter(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    experts = [await make_expert(n) for n in (31, 32)]
    one, two = await make_request(), await make_request(start_date="2027-06-01", end_date="2027-06-30")
    first, second = (
        await _offer(system, people, one, experts[0]),
        await _offer(system, people, two, experts[1]),
    )
    cancelled = await system.matching.post(f"/v1/matches/{second['id']}/cancel", headers=people["pd"])
    assert cancelled.status_code == 200, cancelled.text
    admin = people["admin"]

    head = await _events(system, admin, limit=2)
    rest = await _events(system, admin, after=head["next_after"], limit=10)
    only = await _events(system, admin, types="match.cancelled,policy.updated")
    repeated = await _events(system, admin, types=["match.cancelled", "policy.updated"])

    assert _pairs(head) == [("match.offered", first["id"]), ("match.offered", second["id"])]
    assert head["next_after"] == head["items"][-1]["seq"]
    assert _pairs(rest) == [("match.cancelled", second["id"])]
    assert _pairs(only) == [("match.cancelled", second["id"])]
    assert only["items"] == repeated["items"]
    # A filtered page that reached the end moves past what it scanned.
    assert only["next_after"] == rest["next_after"]
    offers = await _events(system, admin, types="match.offered")
    assert offers["next_after"] == rest["next_after"]
    assert (await _events(system, admin, after=rest["next_after"]))["items"] == []
    bad = await system.matching.get("/v1/events", params={"types": "not a type"}, headers=admin)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_who_may_read_the_stream(
    system: Any, people: Headers, service_token: Any, token_for: Any
) -> None:
    integrator = bearer(await service_token("demo-integrator"))
    expert = bearer(await token_for("expert", sub="cand-9", expert_id="6f1d0c52-9d0e-4d7c-8a39-0d3b1f1a2b3c"))

    assert (await system.matching.get("/v1/events", headers=people["admin"])).status_code == 200
    assert (await system.matching.get("/v1/events", headers=integrator)).status_code == 200
    assert (await system.matching.get("/v1/events", headers=people["pd"])).status_code == 403
    assert (await system.matching.get("/v1/events", headers=expert)).status_code == 403
    assert (await system.matching.get("/v1/events", headers=people["matching"])).status_code == 403
    assert (await system.matching.get("/v1/events")).status_code == 401


async def test_erasing_an_expert_removes_their_sub_from_the_answers_they_gave(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    expert, bystander = await make_expert(41), await make_expert(42)
    match = await _offer(system, people, await make_request(), expert)
    her = bearer(await token_for("expert", sub="cand-41", expert_id=expert["id"]))
    declined = await system.matching.post(
        f"/v1/matches/{match['id']}/decline", headers=her, json={"reason": "No."}
    )
    assert declined.status_code == 200, declined.text
    other = await _offer(
        system, people, await make_request(start_date="2027-06-01", end_date="2027-06-30"), bystander
    )
    him = bearer(await token_for("expert", sub="cand-42", expert_id=bystander["id"]))
    assert (await system.matching.post(f"/v1/matches/{other['id']}/accept", headers=him)).status_code == 200
    before = await _events(system, people["admin"])
    assert [e["actor"] for e in before["items"]] == ["pd-1", "cand-41", "pd-1", "cand-42"]

    etag = (await system.roster.get(f"/v1/experts/{expert['id']}", headers=people["admin"])).headers["etag"]
    erased = await system.roster.delete(
        f"/v1/experts/{expert['id']}", headers={**people["admin"], "If-Match": etag}
    )
    assert erased.status_code == 204, erased.text
    await system.sync()

    after = await _events(system, people["admin"])
    assert [e["actor"] for e in after["items"]] == ["pd-1", "erased-expert", "pd-1", "cand-42"]
    assert [e["id"] for e in after["items"]] == [e["id"] for e in before["items"]]
    assert "cand-41" not in str(after)
