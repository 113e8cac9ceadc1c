"""Edits: only while draft or submitted, by its office or PD, against the current ETag, all recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

Json = dict[str, Any]
Problem = Callable[[httpx.Response, int], Json]


async def _read(api: httpx.AsyncClient, request_id: str, headers: dict[str, str]) -> httpx.Response:
    response = await api.get(f"/v1/requests/{request_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response


async def _patch(
    api: httpx.AsyncClient, request_id: str, changes: Json, headers: dict[str, str], etag: str | None
) -> httpx.Response:
    extra = {"If-Match": etag} if etag is not None else {}
    return await api.patch(f"/v1/requests/{request_id}", json=changes, headers={**headers, **extra})


async def _history(api: httpx.AsyncClient, request_id: str, headers: dict[str, str]) -> list[Json]:
    items: list[Json] = (await api.get(f"/v1/requests/{request_id}/history", headers=headers)).json()["items"]
    return items


async def test_edit_without_if_match_is_428_and_changes_nothing(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, problem: Problem
) -> None:
    request = await file_request()
    body = problem(await _patch(requests_api, request["id"], {"title": "New"}, callers["office"], None), 428)
    assert body["type"] == "urn:mnr:problem:if-match-required"
    assert (await _read(requests_api, request["id"], callers["office"])).json() == request


async def test_edit_with_a_stale_etag_is_412_and_changes_nothing(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, problem: Problem
) -> None:
    request = await file_request()
    stale = (await _read(requests_api, request["id"], callers["office"])).headers["etag"]
    first = await _patch(requests_api, request["id"], {"title": "First"}, callers["pd"], stale)
    assert first.status_code == 200
    body = problem(
        await _patch(requests_api, request["id"], {"title": "Second"}, callers["office"], stale), 412
    )
    assert body["current_etag"] == first.headers["etag"]
    assert (await _read(requests_api, request["id"], callers["office"])).json()["title"] == "First"


async def test_edit_applies_bumps_the_version_and_records_the_changed_fields(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()
    etag = (await _read(requests_api, request["id"], callers["office"])).headers["etag"]
    changes = {
        "title": "Legislation and prosecution review",
        "effort_days": 8,
        "capabilities": [
            {"capability": 5, "min_level": 3, "importance": "required"},
            {"capability": 21, "min_level": 1, "importance": "desired"},
        ],
        "priority": "normal",  # unchanged value: not a change
    }
    response = await _patch(requests_api, request["id"], changes, callers["office"], etag)
    assert response.status_code == 200, response.text
    edited = response.json()
    assert {k: edited[k] for k in changes} == changes
    assert edited["version"] == 2
    assert edited["languages"] == request["languages"]
    assert response.headers["etag"] != etag
    reread = await _read(requests_api, request["id"], callers["office"])
    assert (reread.json(), reread.headers["etag"]) == (edited, response.headers["etag"])
    last = (await _history(requests_api, request["id"], callers["office"]))[-1]
    assert (last["kind"], last["actor_sub"], last["actor_role"]) == ("edited", "co-ken", "country_office")
    assert (last["from_status"], last["to_status"]) == ("draft", "draft")
    assert last["changed_fields"] == ["title", "capabilities", "effort_days"]


async def test_edit_that_changes_nothing_keeps_the_version_and_writes_no_history(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()
    etag = (await _read(requests_api, request["id"], callers["office"])).headers["etag"]
    response = await _patch(requests_api, request["id"], {"title": request["title"]}, callers["office"], etag)
    assert response.status_code == 200
    assert response.headers["etag"] == etag
    assert response.json()["version"] == 1
    assert len(await _history(requests_api, request["id"], callers["office"])) == 1


@pytest.mark.parametrize(
    ("status", "editable"),
    [
        ("draft", True),
        ("submitted", True),
        ("in_review", False),
        ("matched", False),
        ("fulfilled", False),
        ("closed", False),
        ("withdrawn", False),
        ("rejected", False),
        ("cancelled", False),
    ],
)
async def test_edit_is_allowed_only_while_draft_or_submitted(
    status: str,
    editable: bool,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    request_in: Any,
    problem: Problem,
) -> None:
    request = await request_in(status)
    etag = (await _read(requests_api, request["id"], callers["pd"])).headers["etag"]
    response = await _patch(requests_api, request["id"], {"priority": "urgent"}, callers["pd"], etag)
    if editable:
        assert response.status_code == 200, response.text
        assert response.json()["priority"] == "urgent"
        assert response.json()["status"] == status
    else:
        body = problem(response, 409)
        assert body["current_status"] == status
        assert body["editable_statuses"] == ["draft", "submitted"]
        assert (await _read(requests_api, request["id"], callers["pd"])).json()["priority"] == "normal"


async def test_edit_is_validated_as_a_whole_request(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, problem: Problem
) -> None:
    request = await file_request()  # 10 working days, 6 asked
    etag = (await _read(requests_api, request["id"], callers["office"])).headers["etag"]
    shorter = (date.fromisoformat(request["start_date"]) + timedelta(days=2)).isoformat()  # 3 working days
    body = problem(
        await _patch(requests_api, request["id"], {"end_date": shorter}, callers["office"], etag), 422
    )
    assert body["errors"][0]["loc"] == ["body", "effort_days"]
    earlier = (date.fromisoformat(request["start_date"]) - timedelta(days=1)).isoformat()
    body = problem(
        await _patch(requests_api, request["id"], {"end_date": earlier}, callers["office"], etag), 422
    )
    assert body["errors"][0]["loc"] == ["body", "end_date"]
    assert (await _read(requests_api, request["id"], callers["office"])).json() == request


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": None}, "title"),
        ({"capabilities": None}, "capabilities"),
        ({"effort_days": 0}, "effort_days"),
        ({"start_date": "2020-01-06"}, "start_date"),
        ({"capabilities": [{"capability": 4, "min_level": 2, "importance": "desired"}]}, "capabilities"),
        ({"status": "in_review"}, "status"),
        ({"reference": "TA-1999-0001"}, "reference"),
    ],
)
async def test_bad_edit_is_422_naming_the_field(
    changes: Json,
    field: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    problem: Problem,
) -> None:
    request = await file_request()
    etag = (await _read(requests_api, request["id"], callers["office"])).headers["etag"]
    body = problem(await _patch(requests_api, request["id"], changes, callers["office"], etag), 422)
    assert any(error["loc"][:2] == ["body", field] for error in body["errors"])


async def test_office_may_move_a_request_only_between_its_own_countries(
    requests_api: httpx.AsyncClient, token_for: Any, make_request: Any, problem: Problem
) -> None:
    headers = {
        "Authorization": f"Bearer {await token_for('country_office', sub='co-ea', offices=['KEN', 'UGA'])}"
    }
    created = await requests_api.post("/v1/requests", json=make_request(), headers=headers)
    request_id, etag = created.json()["id"], created.headers["etag"]
    problem(await _patch(requests_api, request_id, {"country": "TZA"}, headers, etag), 403)
    moved = await _patch(requests_api, request_id, {"country": "UGA"}, headers, etag)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["country"], moved.json()["region"]) == ("UGA", "ESARO")


async def test_pd_edit_is_recorded_as_the_programme_division(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], request_in: Any
) -> None:
    request = await request_in("submitted")
    etag = (await _read(requests_api, request["id"], callers["pd"])).headers["etag"]
    response = await _patch(requests_api, request["id"], {"modality": "in_country"}, callers["pd"], etag)
    assert response.status_code == 200
    last = (await _history(requests_api, request["id"], callers["office"]))[-1]
    assert (last["actor_sub"], last["actor_role"], last["changed_fields"]) == (
        "pd-1",
        "programme_division",
        ["modality"],
    )
    assert (last["from_status"], last["to_status"]) == ("submitted", "submitted")


async def test_wildcard_if_match_is_accepted(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()
    response = await _patch(requests_api, request["id"], {"title": "Any version"}, callers["office"], "*")
    assert response.status_code == 200
