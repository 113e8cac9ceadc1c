"""History (every creation, edit and transition, in order) and comments between the office and PD."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

Json = dict[str, Any]
Problem = Callable[[httpx.Response, int], Json]


async def test_history_tells_the_whole_story_in_order(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, transition: Any
) -> None:
    request = await file_request()
    etag = (await requests_api.get(f"/v1/requests/{request['id']}", headers=callers["office"])).headers[
        "etag"
    ]
    edited = await requests_api.patch(
        f"/v1/requests/{request['id']}",
        json={"description": "Updated terms of reference.", "effort_days": 5},
        headers={**callers["office"], "If-Match": etag},
    )
    assert edited.status_code == 200
    for action, caller, note in [
        ("submit", "office", None),
        ("start_review", "pd", "Looks complete."),
        ("match", "matching", None),
        ("reopen", "matching", "The expert declined the offer."),
        ("withdraw", "office", "The ministry found national funding."),
    ]:
        response = await transition(request["id"], action, caller=caller, note=note)
        assert response.status_code == 200, response.text
    items = (
        await requests_api.get(f"/v1/requests/{request['id']}/history", headers=callers["office"])
    ).json()["items"]
    assert [
        (e["kind"], e["action"], e["from_status"], e["to_status"], e["actor_sub"], e["actor_role"], e["note"])
        for e in items
    ] == [
        ("created", None, None, "draft", "co-ken", "country_office", None),
        ("edited", None, "draft", "draft", "co-ken", "country_office", None),
        ("transition", "submit", "draft", "submitted", "co-ken", "country_office", None),
        (
            "transition",
            "start_review",
            "submitted",
            "in_review",
            "pd-1",
            "programme_division",
            "Looks complete.",
        ),
        ("transition", "match", "in_review", "matched", "matching-service", "service", None),
        (
            "transition",
            "reopen",
            "matched",
            "in_review",
            "matching-service",
            "service",
            "The expert declined the offer.",
        ),
        (
            "transition",
            "withdraw",
            "in_review",
            "withdrawn",
            "co-ken",
            "country_office",
            "The ministry found national funding.",
        ),
    ]
    assert items[1]["changed_fields"] == ["description", "effort_days"]
    times = [datetime.fromisoformat(e["at"]) for e in items]
    assert times == sorted(times)
    assert {t.utcoffset() for t in times} == {timedelta(0)}


async def test_history_pages_follow_on_without_gaps(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], request_in: Any
) -> None:
    request = await request_in("closed")  # created + 5 transitions
    url = f"/v1/requests/{request['id']}/history"
    first = (await requests_api.get(url, params={"limit": 4}, headers=callers["pd"])).json()
    second = (
        await requests_api.get(
            url, params={"limit": 4, "cursor": first["next_cursor"]}, headers=callers["pd"]
        )
    ).json()
    assert [len(first["items"]), len(second["items"])] == [4, 2]
    assert second["next_cursor"] is None
    assert [e["to_status"] for e in first["items"] + second["items"]] == [
        "draft",
        "submitted",
        "in_review",
        "matched",
        "fulfilled",
        "closed",
    ]


async def test_office_and_pd_converse_in_comments_in_order(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()
    url = f"/v1/requests/{request['id']}/comments"
    posted = []
    for caller, text in [
        ("office", "Could the mission start a week later?"),
        ("pd", "Yes, please edit the dates."),
        ("office", "Done, thank you."),
    ]:
        response = await requests_api.post(url, json={"body": f"  {text}  "}, headers=callers[caller])
        assert response.status_code == 201, response.text
        posted.append(response.json())
    listed = (await requests_api.get(url, headers=callers["integrator"])).json()
    assert listed["items"] == posted
    assert [(c["author_sub"], c["author_role"], c["author_name"], c["body"]) for c in posted] == [
        ("co-ken", "country_office", "Kenya CO", "Could the mission start a week later?"),
        ("pd-1", "programme_division", "PD reviewer", "Yes, please edit the dates."),
        ("co-ken", "country_office", "Kenya CO", "Done, thank you."),
    ]
    assert {c["request_id"] for c in posted} == {request["id"]}


async def test_comments_are_allowed_in_a_final_status_and_do_not_change_the_request(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], request_in: Any
) -> None:
    request = await request_in("rejected")
    response = await requests_api.post(
        f"/v1/requests/{request['id']}/comments",
        json={"body": "Why was it rejected?"},
        headers=callers["office"],
    )
    assert response.status_code == 201
    after = (await requests_api.get(f"/v1/requests/{request['id']}", headers=callers["office"])).json()
    assert after == request


async def test_comment_of_4000_characters_is_accepted(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()
    response = await requests_api.post(
        f"/v1/requests/{request['id']}/comments", json={"body": "x" * 4000}, headers=callers["office"]
    )
    assert response.status_code == 201
    assert len(response.json()["body"]) == 4000


async def test_repeated_comment_with_one_idempotency_key_posts_once(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, problem: Problem
) -> None:
    request = await file_request()
    url = f"/v1/requests/{request['id']}/comments"
    headers = {**callers["office"], "Idempotency-Key": "comment-1"}
    first = await requests_api.post(url, json={"body": "Only once"}, headers=headers)
    again = await requests_api.post(url, json={"body": "Only once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    problem(await requests_api.post(url, json={"body": "Something else"}, headers=headers), 422)
    assert len((await requests_api.get(url, headers=callers["office"])).json()["items"]) == 1


async def test_comments_page_in_order(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()
    url = f"/v1/requests/{request['id']}/comments"
    for n in range(5):
        assert (
            await requests_api.post(url, json={"body": f"note {n}"}, headers=callers["pd"])
        ).status_code == 201
    first = (await requests_api.get(url, params={"limit": 3}, headers=callers["office"])).json()
    second = (
        await requests_api.get(
            url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=callers["office"]
        )
    ).json()
    assert [c["body"] for c in first["items"] + second["items"]] == [f"note {n}" for n in range(5)]
    assert second["next_cursor"] is None
