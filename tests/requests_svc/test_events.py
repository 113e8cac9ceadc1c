"""The requests outbox: an event per change in the change's own transaction, served in order."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import httpx

Headers = dict[str, str]
Json = dict[str, Any]

TYPES = (
    "request.created",
    "request.updated",
    "request.submitted",
    "request.status_changed",
    "request.commented",
)
SUMMARY = ("reference", "country", "status", "priority", "version")


async def _events(api: httpx.AsyncClient, headers: Headers, **params: Any) -> Json:
    response = await api.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: Json = response.json()
    return page


async def _etag(api: httpx.AsyncClient, request_id: str, headers: Headers) -> str:
    response = await api.get(f"/v1/requests/{request_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def test_every_change_writes_one_event_in_order_with_no_personal_text(
    requests_api: httpx.AsyncClient, callers: dict[str, Headers], file_request: Any, transition: Any
) -> None:
    request = await file_request()
    rid = request["id"]
    edited = await requests_api.patch(
        f"/v1/requests/{rid}",
        json={"description": "Advise on the grooming offence.", "effort_days": 5, "priority": "high"},
        headers={**callers["office"], "If-Match": await _etag(requests_api, rid, callers["office"])},
    )
    assert edited.status_code == 200, edited.text
    comment = await requests_api.post(
        f"/v1/requests/{rid}/comments",
        json={"body": "Could the ministry host a mission?"},
        headers=callers["pd"],
    )
    assert comment.status_code == 201, comment.text
    notes = {"start_review": "Looks complete.", "reopen": "The expert declined the offer."}
    for action, caller in [
        ("submit", "office"),
        ("start_review", "pd"),
        ("match", "matching"),
        ("reopen", "matching"),
        ("match", "matching"),
        ("fulfil", "matching"),
        ("close", "pd"),
    ]:
        response = await transition(rid, action, caller=caller, note=notes.get(action))
        assert response.status_code == 200, response.text

    response = await requests_api.get("/v1/events", headers=callers["admin"])
    assert response.status_code == 200, response.text
    page: Json = response.json()
    items = page["items"]

    assert [(e["type"], e["subject"]) for e in items] == [
        ("request.created", rid),
        ("request.updated", rid),
        ("request.commented", rid),
        ("request.submitted", rid),
        *[("request.status_changed", rid)] * 6,
    ]
    assert [e["actor"] for e in items] == [
        "co-ken",
        "co-ken",
        "pd-1",
        "co-ken",
        "pd-1",
        *["service:matching-service"] * 4,
        "pd-1",
    ]
    seqs = [e["seq"] for e in items]
    assert seqs == sorted(set(seqs))  # strictly increasing
    assert len({e["id"] for e in items}) == len(items)
    assert page["next_after"] == seqs[-1]
    summary = {"reference": request["reference"], "country": "KEN", "priority": "normal"}
    assert items[0]["data"] == {**summary, "status": "draft", "version": 1}
    summary["priority"] = "high"
    assert items[1]["data"] == {
        **summary,
        "status": "draft",
        "version": 2,
        "fields": ["description", "effort_days", "priority"],
    }
    assert items[2]["data"] == {
        **summary,
        "status": "draft",
        "version": 2,
        "comment_id": comment.json()["id"],
    }
    assert items[3]["data"] == {
        **summary,
        "status": "submitted",
        "version": 3,
        "action": "submit",
        "from": "draft",
        "to": "submitted",
    }
    moves = [
        (e["data"]["action"], e["data"]["from"], e["data"]["to"], e["data"]["status"]) for e in items[4:]
    ]
    assert moves == [
        ("start_review", "submitted", "in_review", "in_review"),
        ("match", "in_review", "matched", "matched"),
        ("reopen", "matched", "in_review", "in_review"),
        ("match", "in_review", "matched", "matched"),
        ("fulfil", "matched", "fulfilled", "fulfilled"),
        ("close", "fulfilled", "closed", "closed"),
    ]
    assert [e["data"]["version"] for e in items[3:]] == list(range(3, 10))
    assert all(set(SUMMARY) <= set(e["data"]) for e in items)
    text = response.text
    personal = [
        request["title"],
        request["description"],
        "grooming offence",
        "ministry host a mission",
        *notes.values(),
        "Kenya CO",
        "PD reviewer",
    ]
    assert [words for words in personal if words in text] == []
    assert not {"title", "description", "note", "body", "author_name"} & {k for e in items for k in e["data"]}


async def test_a_refused_change_writes_no_event(
    requests_api: httpx.AsyncClient, callers: dict[str, Headers], request_in: Any, transition: Any
) -> None:
    request = await request_in("submitted")
    rid = request["id"]
    current = await _etag(requests_api, rid, callers["office"])
    before = await _events(requests_api, callers["admin"])
    assert [e["type"] for e in before["items"]] == ["request.created", "request.submitted"]

    refused = {
        "close a submitted request": await transition(rid, "close"),
        "reject without a note": await transition(rid, "reject", note=None),
        "start a review as the office": await transition(rid, "start_review", caller="office"),
        "match as PD": await transition(rid, "match"),
        "transition against a stale ETag": await transition(rid, "start_review", **{"If-Match": '"0-stale"'}),
        "edit against a stale ETag": await requests_api.patch(
            f"/v1/requests/{rid}",
            json={"title": "New"},
            headers={**callers["office"], "If-Match": '"0-stale"'},
        ),
        "edit into an invalid request": await requests_api.patch(
            f"/v1/requests/{rid}", json={"effort_days": 0}, headers={**callers["office"], "If-Match": current}
        ),
        "edit another office's request": await requests_api.patch(
            f"/v1/requests/{rid}",
            json={"title": "New"},
            headers={**callers["other_office"], "If-Match": current},
        ),
        "comment as a client": await requests_api.post(
            f"/v1/requests/{rid}/comments", json={"body": "Hello"}, headers=callers["matching"]
        ),
        "file for another office's country": await requests_api.post(
            "/v1/requests", json={**_body_of(request), "country": "UGA"}, headers=callers["office"]
        ),
    }
    assert {name: r.status_code for name, r in refused.items()} == {
        "close a submitted request": 409,
        "reject without a note": 422,
        "start a review as the office": 403,
        "match as PD": 403,
        "transition against a stale ETag": 412,
        "edit against a stale ETag": 412,
        "edit into an invalid request": 422,
        "edit another office's request": 404,
        "comment as a client": 403,
        "file for another office's country": 403,
    }

    unchanged = await requests_api.patch(
        f"/v1/requests/{rid}",
        json={"title": request["title"]},
        headers={**callers["office"], "If-Match": current},
    )
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["version"] == request["version"]

    after = await _events(requests_api, callers["admin"], after=before["next_after"])

    assert after["items"] == []
    assert after["next_after"] == before["next_after"]
    # The refusals (and the edit that changed nothing) left the request as it was, so the next
    # change is the next event.
    assert (await transition(rid, "start_review")).status_code == 200
    moved = await _events(requests_api, callers["admin"], after=before["next_after"])
    assert [(e["type"], e["data"]["version"]) for e in moved["items"]] == [("request.status_changed", 3)]


def _body_of(request: Json) -> Json:
    keep = (
        "title",
        "description",
        "capabilities",
        "languages",
        "modality",
        "start_date",
        "end_date",
        "effort_days",
        "priority",
        "nationality_preference",
    )
    return {k: request[k] for k in keep}


async def test_an_idempotent_repeat_writes_no_second_event(
    requests_api: httpx.AsyncClient, callers: dict[str, Headers], make_request: Any
) -> None:
    filing = {**callers["office"], "Idempotency-Key": "events-file-1"}
    first = await requests_api.post("/v1/requests", json=make_request(), headers=filing)
    again = await requests_api.post("/v1/requests", json=make_request(), headers=filing)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    rid = first.json()["id"]
    commenting = {**callers["office"], "Idempotency-Key": "events-comment-1"}
    said = [
        await requests_api.post(f"/v1/requests/{rid}/comments", json={"body": "Ready"}, headers=commenting)
        for _ in range(2)
    ]
    assert [r.status_code for r in said] == [201, 201]

    page = await _events(requests_api, callers["admin"])

    assert [(e["type"], e["subject"]) for e in page["items"]] == [
        ("request.created", rid),
        ("request.commented", rid),
    ]
    assert page["items"][1]["data"]["comment_id"] == said[0].json()["id"] == said[1].json()["id"]


async def test_paging_and_the_types_filter(
    requests_api: httpx.AsyncClient, callers: dict[str, Headers], file_request: Any, transition: Any
) -> None:
    filed = [await file_request() for _ in range(3)]
    assert (await transition(filed[1]["id"], "submit", caller="office")).status_code == 200
    admin = callers["admin"]

    first = await _events(requests_api, admin, limit=2)
    rest = await _events(requests_api, admin, after=first["next_after"], limit=10)
    only = await _events(requests_api, admin, types="request.submitted,request.commented")
    repeated = await _events(requests_api, admin, types=["request.submitted", "request.commented"])
    created = await _events(requests_api, admin, types="request.created", limit=2)

    assert [e["subject"] for e in first["items"]] == [filed[0]["id"], filed[1]["id"]]
    assert first["next_after"] == first["items"][-1]["seq"]
    assert [(e["type"], e["subject"]) for e in rest["items"]] == [
        ("request.created", filed[2]["id"]),
        ("request.submitted", filed[1]["id"]),
    ]
    assert rest["items"][0]["seq"] > first["next_after"]
    assert [(e["type"], e["subject"]) for e in only["items"]] == [("request.submitted", filed[1]["id"])]
    assert only["items"] == repeated["items"]
    # A filtered page that reached the end moves past what it scanned.
    assert only["next_after"] == rest["next_after"]
    # A full filtered page stops at its last item, so the next page starts right after it.
    assert [e["subject"] for e in created["items"]] == [filed[0]["id"], filed[1]["id"]]
    assert created["next_after"] == created["items"][-1]["seq"]
    tail = await _events(requests_api, admin, types="request.created", after=created["next_after"])
    assert [e["subject"] for e in tail["items"]] == [filed[2]["id"]]
    bad = await requests_api.get("/v1/events", params={"types": "not a type"}, headers=admin)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_who_may_read_the_stream(requests_api: httpx.AsyncClient, callers: dict[str, Headers]) -> None:
    answers = {
        caller: (await requests_api.get("/v1/events", headers=callers[caller])).status_code
        for caller in (
            "admin",
            "integrator",
            "pd",
            "office",
            "other_office",
            "expert",
            "matching",
            "outsider",
        )
    }

    assert answers == {
        "admin": 200,
        "integrator": 200,  # demo-integrator holds events:read
        "pd": 403,
        "office": 403,
        "other_office": 403,
        "expert": 403,
        "matching": 403,  # requests:read and requests:write, but not events:read
        "outsider": 403,
    }
    assert (await requests_api.get("/v1/events")).status_code == 401


async def test_the_stream_documents_the_types_it_writes(requests_api: httpx.AsyncClient) -> None:
    spec = (await requests_api.get("/openapi.json")).json()
    description = spec["paths"]["/v1/events"]["get"]["description"]

    assert tuple(re.findall(r"`(request\.[a-z_]+)`", description)) == TYPES


async def test_concurrent_writers_each_get_one_event_in_a_strictly_increasing_stream(
    requests_api: httpx.AsyncClient, callers: dict[str, Headers], file_request: Any
) -> None:
    filed = await asyncio.gather(*(file_request(caller=("office", "pd")[n % 2]) for n in range(12)))

    page = await _events(requests_api, callers["admin"])

    created = Counter(e["subject"] for e in page["items"] if e["type"] == "request.created")
    assert created == Counter(r["id"] for r in filed)
    assert len(page["items"]) == 12
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(set(seqs))  # strictly increasing
    # Each event carries the reference its request was given, so none was written for another.
    references = {r["id"]: r["reference"] for r in filed}
    assert all(e["data"]["reference"] == references[e["subject"]] for e in page["items"])


async def test_racing_transitions_write_one_event(
    requests_api: httpx.AsyncClient, callers: dict[str, Headers], request_in: Any, transition: Any
) -> None:
    request = await request_in("submitted")
    before = await _events(requests_api, callers["admin"])

    answers = await asyncio.gather(*(transition(request["id"], "start_review") for _ in range(4)))

    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    page = await _events(requests_api, callers["admin"], after=before["next_after"])
    assert [(e["type"], e["data"]["from"], e["data"]["to"]) for e in page["items"]] == [
        ("request.status_changed", "submitted", "in_review")
    ]
