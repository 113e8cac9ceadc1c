"""The status machine of DESIGN §4: every (status, action) pair, every (role, action) pair, atomicity."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

Json = dict[str, Any]
Problem = Callable[[httpx.Response, int], Json]

STATUSES = (
    "draft",
    "submitted",
    "in_review",
    "matched",
    "fulfilled",
    "closed",
    "withdrawn",
    "rejected",
    "cancelled",
)
ACTIONS = ("submit", "withdraw", "start_review", "reject", "match", "fulfil", "close", "cancel", "reopen")

# The contract, written out independently of the service: (status, action) → new status.
# Every pair not listed must be refused with 409.
ALLOWED = {
    ("draft", "submit"): "submitted",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("submitted", "start_review"): "in_review",
    ("submitted", "reject"): "rejected",
    ("submitted", "cancel"): "cancelled",
    ("in_review", "withdraw"): "withdrawn",
    ("in_review", "reject"): "rejected",
    ("in_review", "match"): "matched",
    ("in_review", "cancel"): "cancelled",
    ("matched", "withdraw"): "withdrawn",
    ("matched", "fulfil"): "fulfilled",
    ("matched", "reopen"): "in_review",
    ("matched", "cancel"): "cancelled",
    ("fulfilled", "close"): "closed",
}

# Who may take which action (issues 4 and 9): the office submits and withdraws; only the
# matching service (requests:write) matches, fulfils and reopens — PD and admin do that through
# matching's approve and cancel, so a status never moves without its hold — and PD and admin
# take every other action.
MATCHING_ACTIONS = {"match", "fulfil", "reopen"}
MAY = {
    "office": {"submit", "withdraw"},
    "pd": set(ACTIONS) - MATCHING_ACTIONS,
    "admin": set(ACTIONS) - MATCHING_ACTIONS,
    "matching": MATCHING_ACTIONS,
    "integrator": set(),
    "expert": set(),
    "outsider": set(),
}
# Who the tests ask to take an action when the caller is not the point: PD, or matching.
BY = {action: "matching" if action in MATCHING_ACTIONS else "pd" for action in ACTIONS}
SUB = {"pd": "pd-1", "matching": "matching-service"}
# A status each action is allowed from, to test roles where only the role can be the reason.
FROM = {
    "submit": "draft",
    "withdraw": "submitted",
    "start_review": "submitted",
    "reject": "in_review",
    "match": "in_review",
    "fulfil": "matched",
    "close": "fulfilled",
    "cancel": "in_review",
    "reopen": "matched",
}


async def _history(api: httpx.AsyncClient, request_id: str, headers: dict[str, str]) -> list[Json]:
    response = await api.get(f"/v1/requests/{request_id}/history", headers=headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


async def _current(api: httpx.AsyncClient, request_id: str, headers: dict[str, str]) -> Json:
    response = await api.get(f"/v1/requests/{request_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


@pytest.mark.parametrize("status", STATUSES)
async def test_every_action_from_each_status_applies_with_history_or_is_409_writing_nothing(
    status: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    transition: Any,
) -> None:
    pd = callers["pd"]
    observed: dict[str, Json] = {}
    expected: dict[str, Json] = {}
    # A refused action writes nothing, so refused ones share a request; each applied one gets its own.
    shared = await request_in(status)
    for action in ACTIONS:
        target = ALLOWED.get((status, action))
        request = await request_in(status) if target else await _current(requests_api, shared["id"], pd)
        history_before = await _history(requests_api, request["id"], pd)
        response = await transition(request["id"], action, caller=BY[action], note="because")
        after = await _current(requests_api, request["id"], pd)
        history_after = await _history(requests_api, request["id"], pd)
        outcome: Json = {
            "code": response.status_code,
            "status": after["status"],
            "version_step": after["version"] - request["version"],
            "new_history": [
                (e["kind"], e["action"], e["from_status"], e["to_status"], e["actor_sub"], e["note"])
                for e in history_after[len(history_before) :]
            ],
        }
        if response.status_code == 409:
            problem = response.json()
            outcome["problem"] = (
                response.headers["content-type"],
                problem["current_status"],
                sorted(problem["allowed_actions"]),
            )
        else:
            outcome["etag_is_new_version"] = response.headers["etag"].startswith(f'"{after["version"]}-')
        observed[action] = outcome

        if target:
            expected[action] = {
                "code": 200,
                "status": target,
                "version_step": 1,
                "new_history": [("transition", action, status, target, SUB[BY[action]], "because")],
                "etag_is_new_version": True,
            }
        else:
            expected[action] = {
                "code": 409,
                "status": status,
                "version_step": 0,
                "new_history": [],
                "problem": (
                    "application/problem+json",
                    status,
                    sorted(a for (s, a) in ALLOWED if s == status),
                ),
            }
    assert observed == expected


@pytest.mark.parametrize("action", ACTIONS)
async def test_each_role_may_take_exactly_its_actions(
    action: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    transition: Any,
) -> None:
    start = FROM[action]
    observed: dict[str, tuple[int, str, int]] = {}
    shared = await request_in(start)  # for the callers who must be refused: a refusal writes nothing
    for caller in [*MAY, "other_office"]:
        request = await request_in(start) if action in MAY.get(caller, ()) else shared
        before = len(await _history(requests_api, request["id"], callers["pd"]))
        response = await transition(request["id"], action, caller=caller, note="a reason")
        after = await _current(requests_api, request["id"], callers["pd"])
        written = len(await _history(requests_api, request["id"], callers["pd"])) - before
        observed[caller] = (response.status_code, after["status"], written)
    expected = {
        caller: (200, ALLOWED[(start, action)], 1) if action in MAY[caller] else (403, start, 0)
        for caller in MAY
    }
    # Another office's request does not exist for it, whatever the action.
    expected["other_office"] = (404, start, 0)
    assert observed == expected


async def test_role_forbidden_action_is_403_problem_naming_the_action(
    request_in: Any, transition: Any, problem: Problem
) -> None:
    request = await request_in("submitted")
    body = problem(await transition(request["id"], "start_review", caller="office"), 403)
    assert body["action"] == "start_review"


async def test_forbidden_role_is_403_even_where_the_status_would_also_refuse(
    request_in: Any, transition: Any, problem: Problem
) -> None:
    request = await request_in("draft")
    problem(await transition(request["id"], "close", caller="office"), 403)


async def test_final_status_names_no_allowed_actions(
    request_in: Any, transition: Any, problem: Problem
) -> None:
    request = await request_in("closed")
    body = problem(await transition(request["id"], "withdraw"), 409)
    assert body["current_status"] == "closed"
    assert body["allowed_actions"] == []
    assert body["type"] == "urn:mnr:problem:transition-not-allowed"
    assert "closed" in body["detail"]


@pytest.mark.parametrize("note", [None, "", "   "])
async def test_reject_without_a_reason_is_422_and_changes_nothing(
    note: str | None,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    transition: Any,
    problem: Problem,
) -> None:
    request = await request_in("in_review")
    body = problem(await transition(request["id"], "reject", note=note), 422)
    assert body["errors"][0]["loc"] == ["body", "note"]
    assert (await _current(requests_api, request["id"], callers["pd"]))["status"] == "in_review"


async def test_reject_records_the_reason_in_history(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], request_in: Any, transition: Any
) -> None:
    request = await request_in("submitted")
    response = await transition(request["id"], "reject", note="Outside the MNR scope.")
    assert response.json()["status"] == "rejected"
    last = (await _history(requests_api, request["id"], callers["office"]))[-1]
    assert last["note"] == "Outside the MNR scope."
    assert last["actor_role"] == "programme_division"


@pytest.mark.parametrize(
    ("caller", "action", "start"),
    [(caller, action, FROM[action]) for caller in ("pd", "admin") for action in sorted(MATCHING_ACTIONS)],
)
async def test_pd_and_admin_may_not_match_fulfil_or_reopen_a_request(
    caller: str,
    action: str,
    start: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    transition: Any,
    problem: Problem,
) -> None:
    request = await request_in(start)

    body = problem(await transition(request["id"], action, caller=caller), 403)

    assert (body["type"], body["action"]) == ("urn:mnr:problem:action-forbidden", action)
    after = await _current(requests_api, request["id"], callers["pd"])
    assert (after["status"], after["version"]) == (start, request["version"])


async def test_matching_service_matches_and_reopens_as_a_service_actor(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], request_in: Any, transition: Any
) -> None:
    request = await request_in("in_review")
    assert (await transition(request["id"], "match", caller="matching", note=None)).json()[
        "status"
    ] == "matched"
    declined = await transition(request["id"], "reopen", caller="matching", note="Offer declined.")
    assert declined.json()["status"] == "in_review"
    history = await _history(requests_api, request["id"], callers["pd"])
    assert [(e["action"], e["actor_sub"], e["actor_role"]) for e in history[-2:]] == [
        ("match", "matching-service", "service"),
        ("reopen", "matching-service", "service"),
    ]


async def test_transition_with_stale_if_match_is_412_and_with_current_one_applies(
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    transition: Any,
    problem: Problem,
) -> None:
    request = await file_request()
    etag = (await requests_api.get(f"/v1/requests/{request['id']}", headers=callers["office"])).headers[
        "etag"
    ]
    edited = await requests_api.patch(
        f"/v1/requests/{request['id']}",
        json={"title": "Renamed"},
        headers={**callers["office"], "If-Match": etag},
    )
    assert edited.status_code == 200
    problem(await transition(request["id"], "submit", caller="office", **{"If-Match": etag}), 412)
    applied = await transition(
        request["id"], "submit", caller="office", **{"If-Match": edited.headers["etag"]}
    )
    assert applied.status_code == 200
    assert applied.headers["etag"] != edited.headers["etag"]


async def test_unknown_request_is_404(transition: Any, problem: Problem) -> None:
    problem(await transition("6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11", "submit"), 404)


# Each set is chosen so that whichever action wins, none of the others is allowed afterwards.
@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("draft", ["submit"] * 10),
        ("submitted", ["reject", "cancel", "withdraw"]),
        ("in_review", ["match", "reject"]),
        ("matched", ["fulfil", "reopen"]),
    ],
)
async def test_racing_transitions_apply_exactly_once(
    status: str,
    actions: list[str],
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    transition: Any,
) -> None:
    request = await request_in(status)
    before = len(await _history(requests_api, request["id"], callers["pd"]))
    responses = await asyncio.gather(
        *(transition(request["id"], action, caller=BY[action]) for action in actions)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (len(actions) - 1)
    winner = next(r.json() for r in responses if r.status_code == 200)
    after = await _current(requests_api, request["id"], callers["pd"])
    assert after["status"] == winner["status"]
    assert after["version"] == request["version"] + 1
    history = await _history(requests_api, request["id"], callers["pd"])
    assert len(history) == before + 1
    for loser in (r for r in responses if r.status_code == 409):
        assert loser.json()["current_status"] == winner["status"]


async def test_transition_retried_with_its_idempotency_key_applies_once(
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    transition: Any,
    problem: Problem,
) -> None:
    request = await request_in("in_review")
    key = {"Idempotency-Key": "match-7f3a"}
    first = await transition(request["id"], "match", caller="matching", note=None, **key)
    again = await transition(request["id"], "match", caller="matching", note=None, **key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    problem(await transition(request["id"], "reopen", caller="matching", **key), 422)
    history = await _history(requests_api, request["id"], callers["pd"])
    assert [e["action"] for e in history].count("match") == 1
    # Without the key, the same retry is refused: the request is no longer in review.
    problem(await transition(request["id"], "match", caller="matching", note=None), 409)
