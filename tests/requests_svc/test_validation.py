"""Impossible to file wrongly: at least one bad value per field is a 422 problem naming that field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from mnr_shared.pagination import encode_cursor
from requests_service.schemas import working_days

Json = dict[str, Any]
Problem = Callable[[httpx.Response, int], Json]

LANGUAGE_TAGS = ["en", "fr", "es", "ar", "ru", "pt", "zh", "sw", "hi", "bn", "ur"]
LANGUAGE_TAGS += ["fa", "ps", "tr", "id", "ms", "th", "vi", "km", "lo", "my"]
TWENTY_ONE_LANGUAGES = [{"tag": tag, "min_level": "B2"} for tag in LANGUAGE_TAGS]

# field → values that must each be refused (dates are filled in relative to the body's window).
BAD: dict[str, list[object]] = {
    "country": ["XXX", "KE", "", 404, None],
    "title": ["", "   ", "x" * 201, None, ["a title"]],
    "description": ["", "\n\t ", "x" * 20_001, None],
    "capabilities": [
        [],
        [{"capability": 0, "min_level": 1}],
        [{"capability": 22, "min_level": 1}],
        [{"capability": 3, "min_level": 0}],
        [{"capability": 3, "min_level": 5}],
        [{"capability": 3, "min_level": 2, "importance": "nice to have"}],
        [{"capability": 3, "min_level": 2}, {"capability": 3, "min_level": 3, "importance": "desired"}],
        [{"capability": 3, "min_level": 2, "importance": "desired"}],
        [{"capability": 3, "min_level": 2, "colour": "red"}],
        [{"min_level": 2}],
        "3",
        None,
    ],
    "languages": [
        [{"tag": "not a language", "min_level": "B2"}],
        [{"tag": "en", "min_level": "D1"}],
        [{"tag": "en", "min_level": "B2"}, {"tag": "EN", "min_level": "C1"}],
        [{"tag": "en", "min_level": "B2", "importance": "sometimes"}],
        [{"tag": "en"}],
        TWENTY_ONE_LANGUAGES,
        None,
    ],
    "modality": ["teleport", "", None],
    "start_date": ["2020-01-06", "next week", "2027-02-30", None],
    "end_date": ["BEFORE_START", "soon", None],
    "effort_days": [0, -3, 11, "many", 2.5, None],
    "priority": ["critical", None],
    "nationality_preference": ["local", None],
    "status": ["submitted"],
    "reference": ["TA-2026-0001"],
}


def _loc_names(body: Json) -> list[list[object]]:
    return [error["loc"] for error in body["errors"]]


@pytest.mark.parametrize("field", list(BAD))
async def test_each_bad_value_of_a_field_is_422_naming_it_and_files_nothing(
    field: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    make_request: Any,
    problem: Problem,
) -> None:
    observed: dict[str, tuple[int, bool]] = {}
    for value in BAD[field]:
        body = make_request()
        if value == "BEFORE_START":
            value = (date.fromisoformat(body["start_date"]) - timedelta(days=1)).isoformat()
        body[field] = value
        response = await requests_api.post("/v1/requests", json=body, headers=callers["office"])
        names_field = False
        if response.status_code == 422:
            problem_body = problem(response, 422)
            names_field = any(loc[:2] == ["body", field] for loc in _loc_names(problem_body))
        observed[repr(value)[:40]] = (response.status_code, names_field)
    assert observed == dict.fromkeys(observed, (422, True))
    assert (await requests_api.get("/v1/requests", headers=callers["pd"])).json()["items"] == []


@pytest.mark.parametrize(
    "field",
    ["country", "title", "description", "capabilities", "modality", "start_date", "end_date", "effort_days"],
)
async def test_missing_required_field_is_422_naming_it(
    field: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    make_request: Any,
    problem: Problem,
) -> None:
    body = make_request()
    del body[field]
    response = await requests_api.post("/v1/requests", json=body, headers=callers["office"])
    assert ["body", field] in _loc_names(problem(response, 422))


async def test_effort_beyond_the_working_days_explains_the_limit(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any, problem: Problem
) -> None:
    # A Saturday-to-Sunday window has no working day at all.
    saturday = date.fromisoformat(make_request()["start_date"]) + timedelta(days=5)
    body = make_request(
        start_date=saturday.isoformat(), end_date=(saturday + timedelta(days=1)).isoformat(), effort_days=1
    )
    errors = problem(await requests_api.post("/v1/requests", json=body, headers=callers["office"]), 422)[
        "errors"
    ]
    assert errors[0]["loc"] == ["body", "effort_days"]
    assert "0 working days" in errors[0]["msg"]


async def test_body_that_is_not_json_is_422(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], problem: Problem
) -> None:
    response = await requests_api.post(
        "/v1/requests",
        content=b"country=KEN",
        headers={**callers["office"], "content-type": "application/json"},
    )
    problem(response, 422)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"status": "bogus"}, "status"),
        ({"country": "XXX"}, "country"),
        ({"region": "EUROPE"}, "region"),
        ({"capability": "22"}, "capability"),
        ({"priority": "critical"}, "priority"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-01"}, "created_before"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ5ZXN0ZXJkYXkiLCJ4Il0"}, "cursor"),  # ["yesterday","x"]: ours in shape only
        ({"cursor": encode_cursor("2026-11-28T10:00:00", "6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11")}, "cursor"),
    ],
)
async def test_bad_list_filter_is_422_naming_it(
    params: dict[str, str],
    name: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    problem: Problem,
) -> None:
    body = problem(await requests_api.get("/v1/requests", params=params, headers=callers["pd"]), 422)
    assert any(loc[:2] == ["query", name] for loc in _loc_names(body))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("history", {"cursor": "WyJ4Il0"}),  # ["x"]: a history cursor is a number
        ("comments", {"cursor": "WzFd"}),  # [1]: a comments cursor is (time, id)
        ("history", {"limit": "0"}),
    ],
)
async def test_bad_page_parameters_of_history_and_comments_are_422(
    path: str,
    params: dict[str, str],
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    problem: Problem,
) -> None:
    request = await file_request()
    response = await requests_api.get(
        f"/v1/requests/{request['id']}/{path}", params=params, headers=callers["pd"]
    )
    problem(response, 422)


async def test_request_id_that_is_not_a_uuid_is_422(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], problem: Problem
) -> None:
    body = problem(await requests_api.get("/v1/requests/TA-2026-0001", headers=callers["pd"]), 422)
    assert ["path", "request_id"] in _loc_names(body)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"action": "approve"}, "action"),
        ({}, "action"),
        ({"action": "submit", "note": "x" * 2001}, "note"),
        ({"action": "submit", "to": "closed"}, "to"),
    ],
)
async def test_bad_transition_body_is_422_naming_the_field(
    payload: Json,
    field: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    problem: Problem,
) -> None:
    request = await file_request()
    response = await requests_api.post(
        f"/v1/requests/{request['id']}/transitions", json=payload, headers=callers["office"]
    )
    assert ["body", field] in _loc_names(problem(response, 422))
    assert (await requests_api.get(f"/v1/requests/{request['id']}", headers=callers["office"])).json()[
        "status"
    ] == "draft"


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
async def test_comment_must_be_non_blank_and_at_most_4000_characters(
    text: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    problem: Problem,
) -> None:
    request = await file_request()
    url = f"/v1/requests/{request['id']}/comments"
    response = await requests_api.post(url, json={"body": text}, headers=callers["office"])
    assert ["body", "body"] in _loc_names(problem(response, 422))
    assert (await requests_api.get(url, headers=callers["office"])).json()["items"] == []


async def test_malformed_idempotency_key_is_422(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any, problem: Problem
) -> None:
    headers = {**callers["office"], "Idempotency-Key": "has spaces in it"}
    problem(await requests_api.post("/v1/requests", json=make_request(), headers=headers), 422)


def test_working_days_counts_monday_to_friday_in_every_window() -> None:
    first_monday = date(2027, 3, 1)
    for start in (first_monday + timedelta(days=n) for n in range(7)):
        for length in range(-1, 40):
            end = start + timedelta(days=length)
            brute = sum(1 for n in range(length + 1) if (start + timedelta(days=n)).weekday() < 5)
            assert working_days(start, end) == brute, (start, end)
