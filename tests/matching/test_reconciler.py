"""The reconciler: what it repairs, what it reports, how admin reads it, and the stuck-step signal.

Each scenario puts the three services out of step the way a fault or a person would (roster
released by hand, a row of matching's own left behind, an upstream down for a while), runs a
pass, and reads the outcome back through the APIs — then checks the three invariants.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from matching_service.config import Settings as MatchingSettings
from matching_service.main import create_app as create_matching
from matching_service.models import Match, MatchStatus
from mnr_shared.testing import bearer, running

Headers = dict[str, dict[str, str]]
Check = Callable[[], Awaitable[None]]


async def _offer(
    system: Any, people: Headers, request: dict[str, Any], expert: dict[str, Any]
) -> dict[str, Any]:
    approved = await system.matching.post(
        "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
    )
    assert approved.status_code == 201, approved.text
    match: dict[str, Any] = approved.json()
    return match


async def _findings(system: Any, people: Headers, **params: Any) -> list[dict[str, Any]]:
    response = await system.matching.get("/v1/admin/inconsistencies", headers=people["admin"], params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _set_match(system: Any, match_id: str, **values: Any) -> None:
    """Leave a row of matching's own behind, as a crash of an older version could have."""
    async with system.ctx.sessions() as session:
        await session.execute(update(Match).where(col(Match.id) == uuid.UUID(match_id)).values(**values))
        await session.commit()


async def _status(system: Any, people: Headers, path: str) -> str:
    client: httpx.AsyncClient = system.requests if path.startswith("/v1/requests") else system.matching
    if path.startswith("/v1/bookings"):
        client = system.roster
    response = await client.get(path, headers=people["pd"])
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_a_live_hold_of_a_match_that_is_no_longer_live_is_released(
    system: Any, people: Headers, make_request: Any, make_expert: Any, invariants: Check
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    await _set_match(system, match["id"], status=MatchStatus.FAILED)
    # The request is left `matched` too: both invariants are broken, and both are repaired.

    await system.ctx.reconciler.reconcile()

    found = {(f["kind"], f["status"], f["repair"]) for f in await _findings(system, people)}
    assert found == {
        ("orphan_hold", "repaired", "released"),
        ("matched_no_match", "repaired", "request reopened"),
    }
    assert await _status(system, people, f"/v1/bookings/{match['booking_id']}") == "released"
    assert await _status(system, people, f"/v1/requests/{request['id']}") == "in_review"
    history = (
        await system.requests.get(f"/v1/requests/{request['id']}/history", headers=people["pd"])
    ).json()
    assert (history["items"][-1]["action"], history["items"][-1]["actor_sub"]) == (
        "reopen",
        "matching-service",
    )
    await invariants()


async def test_an_offer_whose_hold_was_released_by_hand_is_ended_and_its_request_reopened(
    system: Any, people: Headers, make_request: Any, make_expert: Any, invariants: Check
) -> None:
    expert = await make_expert(2)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    released = await system.roster.post(f"/v1/bookings/{match['booking_id']}/release", headers=people["pd"])
    assert released.status_code == 200

    await system.ctx.reconciler.reconcile()

    [finding] = await _findings(system, people)
    assert (finding["kind"], finding["status"], finding["match_id"]) == (
        "offer_hold_lost",
        "repaired",
        match["id"],
    )
    assert await _status(system, people, f"/v1/matches/{match['id']}") == "failed"
    assert await _status(system, people, f"/v1/requests/{request['id']}") == "in_review"
    await invariants()


async def test_a_confirmed_booking_for_a_withdrawn_request_is_reported_until_someone_acts(
    system: Any, people: Headers, make_request: Any, make_expert: Any, invariants: Check
) -> None:
    expert = await make_expert(3)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    # What issue 9 found before the fix: the booking confirmed, the request withdrawn.
    confirmed = await system.roster.post(f"/v1/bookings/{match['booking_id']}/confirm", headers=people["pd"])
    assert confirmed.status_code == 200
    await _set_match(system, match["id"], status=MatchStatus.ACCEPTED)
    withdrawn = await system.requests.post(
        f"/v1/requests/{request['id']}/transitions",
        json={"action": "withdraw", "note": "Solved nationally."},
        headers=people["office"],
    )
    assert withdrawn.status_code == 200
    with pytest.raises(AssertionError, match=r"confirmed booking .* for a withdrawn request"):
        await invariants()

    await system.ctx.reconciler.reconcile()
    await system.ctx.reconciler.reconcile()  # seen again: still one finding

    [finding] = await _findings(system, people, status="open")
    assert (finding["kind"], finding["booking_id"], finding["repair"]) == (
        "confirmed_abandoned",
        match["booking_id"],
        None,
    )
    assert await _status(system, people, f"/v1/bookings/{match['booking_id']}") == "confirmed"
    # PD decides: the booking goes. The finding resolves; the accepted match without a
    # confirmed booking is what is left to report.
    await system.roster.post(f"/v1/bookings/{match['booking_id']}/release", headers=people["pd"])
    await system.ctx.reconciler.reconcile()
    found = {(f["kind"], f["status"]) for f in await _findings(system, people)}
    assert found == {("confirmed_abandoned", "resolved"), ("accepted_no_booking", "open")}


async def test_a_fulfilled_request_without_an_accepted_match_is_reported(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    expert = await make_expert(4)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    me = bearer(await token_for("expert", sub="cand-4", expert_id=expert["id"]))
    assert (await system.matching.post(f"/v1/matches/{match['id']}/accept", headers=me)).status_code == 200
    await _set_match(system, match["id"], status=MatchStatus.DECLINED)

    await system.ctx.reconciler.reconcile()

    found = {(f["kind"], f["status"]) for f in await _findings(system, people)}
    assert found == {("fulfilled_no_match", "open"), ("orphan_hold", "repaired")}


async def test_a_step_stuck_on_an_outage_is_logged_once_counted_and_reported(
    system: Any,
    people: Headers,
    make_request: Any,
    make_expert: Any,
    settle: Check,
    invariants: Check,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expert = await make_expert(5)
    request = await make_request()
    fault = system.faults.once("POST", r"/v1/requests/[^/]+/transitions", 503, action="match")
    approved = await system.matching.post(
        "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
    )
    assert (approved.status_code, fault.fired.is_set()) == (202, True)
    system.transport.down.add("requests.test")
    with caplog.at_level(logging.INFO, logger="matching"):
        for _ in range(system.ctx.settings.stuck_step_attempts + 1):
            async with system.ctx.sessions() as session:
                await session.execute(update(Match).values(next_attempt_at=None))
                await session.commit()
            await system.ctx.saga.recover()
    waiting = [r for r in caplog.records if r.getMessage().startswith("saga step waiting")]
    assert [(r.step, r.cause) for r in waiting] == [("match_request", "http_5xx")]  # type: ignore[attr-defined]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    system.transport.down.discard("requests.test")
    await system.ctx.reconciler.reconcile()

    [stuck] = await _findings(system, people, kind="stuck_step")
    assert (stuck["status"], stuck["match_id"]) == ("open", approved.json()["id"])
    metrics = (await system.matching.get("/metrics")).text
    assert 'matching_saga_step_stuck_total{cause="http_5xx",step="match_request"} 1.0' in metrics
    assert 'matching_saga_stuck_steps{step="match_request"} 1.0' in metrics
    assert 'matching_inconsistencies_open{kind="stuck_step"} 1.0' in metrics

    await settle()
    await system.ctx.reconciler.reconcile()
    [stuck] = await _findings(system, people, kind="stuck_step")
    assert stuck["status"] == "resolved"
    metrics = (await system.matching.get("/metrics")).text
    assert 'matching_saga_stuck_steps{step="match_request"} 0.0' in metrics
    assert await _status(system, people, f"/v1/requests/{request['id']}") == "matched"
    await invariants()


async def test_inconsistencies_are_for_admin_only_and_come_in_pages(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any
) -> None:
    for n in (6, 7, 8):
        match = await _offer(system, people, await make_request(), await make_expert(n))
        await _set_match(system, match["id"], status=MatchStatus.CANCELLED)
    await system.ctx.reconciler.reconcile()

    first = await system.matching.get(
        "/v1/admin/inconsistencies", headers=people["admin"], params={"limit": 4}
    )
    rest = await system.matching.get(
        "/v1/admin/inconsistencies",
        headers=people["admin"],
        params={"limit": 4, "cursor": first.json()["next_cursor"]},
    )
    holds = await _findings(system, people, kind="orphan_hold", status="repaired")
    refused = [
        await system.matching.get("/v1/admin/inconsistencies", headers=people[who])
        for who in ("pd", "office")
    ]

    assert len(first.json()["items"]) == 4
    assert (len(rest.json()["items"]), rest.json()["next_cursor"]) == (2, None)
    assert len({f["id"] for f in first.json()["items"] + rest.json()["items"]}) == 6
    assert len(holds) == 3
    assert [r.status_code for r in refused] == [403, 403]
    assert {r.headers["content-type"] for r in refused} == {"application/problem+json"}


async def test_the_reconciler_runs_in_the_background_like_the_recovery_worker(
    system: Any, people: Headers, make_request: Any, make_expert: Any, auth_settings: Any, transport: Any
) -> None:
    expert = await make_expert(9)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    await system.roster.post(f"/v1/bookings/{match['booking_id']}/release", headers=people["pd"])
    settings = MatchingSettings(
        database_url=system.ctx.settings.database_url,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        token_url="http://identity.test/token",
        recovery_interval_seconds=0.05,
        reconcile_interval_seconds=0.05,
    )
    second = create_matching(settings, auth=auth_settings, transport=transport)
    async with running(second, "matching-2.test"):
        for _ in range(200):
            if await _findings(system, people):
                break
            await asyncio.sleep(0.02)
    [finding] = await _findings(system, people)
    assert (finding["kind"], finding["status"]) == ("offer_hold_lost", "repaired")
    assert await _status(system, people, f"/v1/requests/{request['id']}") == "in_review"
