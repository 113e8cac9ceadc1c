"""Every saga step × every upstream answer has one outcome, and the three invariants hold after it.

Faults are injected at matching's network edge (`system.faults`): a refusal or an outage status
answered instead of the upstream, an answer lost after the upstream applied the call, or the
process dying while it waits. After each, the recovery worker and the reconciler run until
nothing is left to do, and the invariants are read back through the three services' APIs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from mnr_shared.testing import bearer

Headers = dict[str, dict[str, str]]
Check = Callable[[], Awaitable[None]]

BOOKINGS = r"/v1/experts/[^/]+/bookings"
TRANSITIONS = r"/v1/requests/[^/]+/transitions"

# step → (method, path, transition action, the call that runs it)
STEPS: dict[str, tuple[str, str, str | None, str]] = {
    "hold": ("POST", BOOKINGS, None, "approve"),
    "match_request": ("POST", TRANSITIONS, "match", "approve"),
    "confirm": ("POST", r"/v1/bookings/[^/]+/confirm", None, "accept"),
    "fulfil_request": ("POST", TRANSITIONS, "fulfil", "accept"),
    "release": ("POST", r"/v1/bookings/[^/]+/release", None, "cancel"),
    "reopen_request": ("POST", TRANSITIONS, "reopen", "cancel"),
}


def _outcomes() -> dict[tuple[str, int | str], tuple[Any, ...]]:
    """(step, answer) → (answer to the call: status or None when killed, problem slug,
    match status, request status, booking status, what the reconciler repaired), all settled."""
    table: dict[tuple[str, int | str], tuple[Any, ...]] = {}
    offered = ("offered", "matched", "hold", None)
    accepted = ("accepted", "fulfilled", "confirmed", None)
    cancelled = ("cancelled", "in_review", "released", None)
    # Approval: a refused hold fails the match with nothing held; an outage at the hold is 503
    # and a hold that landed anyway is released by the worker; a refused request update
    # releases the hold; an outage after the hold is finished by the worker.
    table["hold", 404] = (409, "expert-not-eligible", "failed", "in_review", None, None)
    table["hold", 409] = (409, "expert-not-free", "failed", "in_review", None, None)
    table["hold", 422] = (409, "hold-refused", "failed", "in_review", None, None)
    table["hold", 503] = (503, None, "failed", "in_review", None, None)
    table["hold", "timeout"] = (503, None, "failed", "in_review", "released", None)
    table["hold", "killed"] = (None, None, *offered)
    for answer in (404, 409, 422):
        table["match_request", answer] = (409, "request-refused", "failed", "in_review", "released", None)
    table["match_request", 503] = (202, None, *offered)
    table["match_request", "timeout"] = (202, None, *offered)
    table["match_request", "killed"] = (None, None, *offered)
    # Acceptance: a refused confirmation or fulfilment is 409, the booking released and the
    # request back in review; an outage is finished by the worker.
    for answer in (404, 409, 422):
        table["confirm", answer] = (409, "confirmation-refused", "failed", "in_review", "released", None)
        table["fulfil_request", answer] = (409, "request-refused", "failed", "in_review", "released", None)
    for step in ("confirm", "fulfil_request"):
        table[step, 503] = (200, None, *accepted)
        table[step, "timeout"] = (200, None, *accepted)
        table[step, "killed"] = (None, None, *accepted)
    # Cancellation: a refused release or reopen is left behind by the saga (logged, counted)
    # and repaired by the reconciler; an outage is finished by the worker.
    for answer in (404, 409, 422):
        table["release", answer] = (200, None, "cancelled", "in_review", "released", "orphan_hold")
        table["reopen_request", answer] = (
            200,
            None,
            "cancelled",
            "in_review",
            "released",
            "matched_no_match",
        )
    for step in ("release", "reopen_request"):
        table[step, 503] = (200, None, *cancelled)
        table[step, "timeout"] = (200, None, *cancelled)
        table[step, "killed"] = (None, None, *cancelled)
    return table


OUTCOMES = _outcomes()


async def _approve(
    system: Any, people: Headers, request: dict[str, Any], expert: dict[str, Any]
) -> httpx.Response:
    client: httpx.AsyncClient = system.matching
    return await client.post(
        "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
    )


async def _state(system: Any, people: Headers, request_id: str) -> tuple[str | None, str, str | None]:
    """(the request's newest match's status, the request's status, that match's booking status)."""
    pd = people["pd"]
    matches = (await system.matching.get("/v1/matches", headers=pd, params={"request_id": request_id})).json()
    request = (await system.requests.get(f"/v1/requests/{request_id}", headers=pd)).json()
    if not matches["items"]:
        return None, request["status"], None
    match = matches["items"][0]
    bookings = (await system.roster.get("/v1/bookings", headers=pd, params={"match_id": match["id"]})).json()
    booking = bookings["items"][0]["status"] if bookings["items"] else None
    return match["status"], request["status"], booking


async def _call_through(fault: Any, call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response | None:
    """Make the call; when the fault kills the process, cancel it once the upstream applied the step."""
    if fault.answer != "killed":
        return await call()
    task = asyncio.ensure_future(call())
    await asyncio.wait_for(fault.applied.wait(), timeout=20)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


@pytest.mark.parametrize(("step", "answer"), list(OUTCOMES), ids=[f"{s}-{a}" for s, a in OUTCOMES])
async def test_every_step_and_upstream_answer_has_one_outcome_and_keeps_the_invariants(
    step: str,
    answer: int | str,
    system: Any,
    people: Headers,
    make_request: Any,
    make_expert: Any,
    token_for: Any,
    settle: Check,
    invariants: Check,
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    me = bearer(await token_for("expert", sub="cand-1", expert_id=expert["id"]))
    method, path, action, call = STEPS[step]
    match_id: str | None = None
    if call != "approve":
        approved = await _approve(system, people, request, expert)
        assert approved.status_code == 201, approved.text
        match_id = approved.json()["id"]
    fault = system.faults.once(method, path, answer, action=action)

    async def run() -> httpx.Response:
        matching: httpx.AsyncClient = system.matching
        if call == "approve":
            return await _approve(system, people, request, expert)
        if call == "accept":
            return await matching.post(f"/v1/matches/{match_id}/accept", headers=me)
        return await matching.post(f"/v1/matches/{match_id}/cancel", headers=people["pd"])

    response = await _call_through(fault, run)
    assert fault.fired.is_set()
    await settle()
    await system.ctx.reconciler.reconcile()
    await settle()

    code, slug, *state, repaired = OUTCOMES[step, answer]
    observed_code = response.status_code if response is not None else None
    observed_slug = None
    if response is not None and response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
        observed_slug = response.json()["type"].removeprefix("urn:mnr:problem:")
        if response.status_code == 503:
            observed_slug = None
    found = (await system.matching.get("/v1/admin/inconsistencies", headers=people["admin"])).json()["items"]
    observed = (
        observed_code,
        observed_slug,
        *(await _state(system, people, request["id"])),
        [(f["kind"], f["status"]) for f in found],
    )
    assert observed == (code, slug, *state, [(repaired, "repaired")] if repaired else [])
    await invariants()


# --- reproductions of issue 9 -------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["accept", "decline", "cancel"])
@pytest.mark.parametrize(("ending", "by"), [("withdraw", "office"), ("cancel", "pd")])
async def test_answering_an_offer_whose_request_ended_is_409_request_not_open_and_frees_the_dates(
    answer: str,
    ending: str,
    by: str,
    system: Any,
    people: Headers,
    make_request: Any,
    make_expert: Any,
    token_for: Any,
    invariants: Check,
) -> None:
    expert = await make_expert(2)
    request = await make_request()
    approved = await _approve(system, people, request, expert)
    assert approved.status_code == 201, approved.text
    match = approved.json()
    ended = await system.requests.post(
        f"/v1/requests/{request['id']}/transitions",
        json={"action": ending, "note": "No longer needed."},
        headers=people[by],
    )
    assert ended.status_code == 200, ended.text
    me = bearer(await token_for("expert", sub="cand-2", expert_id=expert["id"]))
    calls = {
        "accept": lambda: system.matching.post(f"/v1/matches/{match['id']}/accept", headers=me),
        "decline": lambda: system.matching.post(
            f"/v1/matches/{match['id']}/decline", headers=me, json={"reason": "Too late."}
        ),
        "cancel": lambda: system.matching.post(f"/v1/matches/{match['id']}/cancel", headers=people["pd"]),
    }
    response = await calls[answer]()

    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:mnr:problem:request-not-open"
    assert response.json()["request_status"] == ended.json()["status"]
    assert await _state(system, people, request["id"]) == ("cancelled", ended.json()["status"], "released")
    await invariants()


async def test_approving_an_erased_expert_fails_the_match_and_the_next_approval_succeeds(
    system: Any, people: Headers, make_request: Any, make_expert: Any, invariants: Check
) -> None:
    erased = await make_expert(3)
    backup = await make_expert(4)
    request = await make_request()
    etag = (await system.roster.get(f"/v1/experts/{erased['id']}", headers=people["admin"])).headers["etag"]
    deleted = await system.roster.delete(
        f"/v1/experts/{erased['id']}", headers={**people["admin"], "If-Match": etag}
    )
    assert deleted.status_code == 204, deleted.text
    # Within the feed's poll interval: matching's index still holds the expert.
    refused = await _approve(system, people, request, erased)

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:mnr:problem:expert-not-eligible"
    assert refused.json()["alternatives"][0]["expert_id"] == backup["id"]
    [failed] = (
        await system.matching.get("/v1/matches", headers=people["pd"], params={"request_id": request["id"]})
    ).json()["items"]
    assert (failed["status"], failed["pending_step"]) == ("failed", None)
    again = await _approve(system, people, request, backup)
    assert again.status_code == 201, again.text
    await invariants()


async def test_accepting_an_offer_whose_hold_was_released_in_roster_is_409_and_reopens_the_request(
    system: Any,
    people: Headers,
    make_request: Any,
    make_expert: Any,
    token_for: Any,
    settle: Check,
    invariants: Check,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expert = await make_expert(5)
    request = await make_request()
    match = (await _approve(system, people, request, expert)).json()
    released = await system.roster.post(f"/v1/bookings/{match['booking_id']}/release", headers=people["pd"])
    assert released.status_code == 200, released.text
    me = bearer(await token_for("expert", sub="cand-5", expert_id=expert["id"]))

    accepted = await system.matching.post(f"/v1/matches/{match['id']}/accept", headers=me)

    assert accepted.status_code == 409, accepted.text
    assert accepted.headers["content-type"] == "application/problem+json"
    assert accepted.json()["type"] == "urn:mnr:problem:confirmation-refused"
    after = (await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])).json()
    assert (after["status"], after["pending_step"]) == ("failed", None)
    assert await _state(system, people, request["id"]) == ("failed", "in_review", "released")
    with caplog.at_level("ERROR", logger="matching"):
        await settle()
        await settle()
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    await invariants()


async def test_a_request_withdrawn_while_the_offer_is_accepted_is_409_and_the_confirmed_booking_released(
    system: Any, people: Headers, make_request: Any, make_expert: Any, token_for: Any, invariants: Check
) -> None:
    expert = await make_expert(6)
    request = await make_request()
    match = (await _approve(system, people, request, expert)).json()
    me = bearer(await token_for("expert", sub="cand-6", expert_id=expert["id"]))

    async def withdraw() -> None:
        withdrawn = await system.requests.post(
            f"/v1/requests/{request['id']}/transitions",
            json={"action": "withdraw", "note": "Solved nationally."},
            headers=people["office"],
        )
        assert withdrawn.status_code == 200, withdrawn.text

    # The office withdraws between the confirmation and the fulfilment.
    fault = system.faults.once("POST", TRANSITIONS, "pass", action="fulfil", before=withdraw)
    accepted = await system.matching.post(f"/v1/matches/{match['id']}/accept", headers=me)

    assert fault.fired.is_set()
    assert accepted.status_code == 409, accepted.text
    assert (accepted.json()["type"], accepted.json()["request_status"]) == (
        "urn:mnr:problem:request-not-open",
        "withdrawn",
    )
    assert await _state(system, people, request["id"]) == ("cancelled", "withdrawn", "released")
    await invariants()
