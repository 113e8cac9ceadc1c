"""Filing a request: a draft with a unique TA reference, ETag and Location, idempotent on a key."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

Json = dict[str, Any]
Problem = Callable[[httpx.Response, int], Json]
REFERENCE = re.compile(r"^TA-(\d{4})-(\d{4})$")


async def test_filed_request_is_a_draft_with_reference_etag_and_location(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    body = make_request()
    response = await requests_api.post("/v1/requests", json=body, headers=callers["office"])
    assert response.status_code == 201, response.text
    created = response.json()
    match = REFERENCE.match(created["reference"])
    assert match is not None
    assert int(match.group(1)) == datetime.now(UTC).year
    assert created["status"] == "draft"
    assert created["version"] == 1
    assert created["created_by"] == "co-ken"
    assert created["region"] == "ESARO"
    assert created["working_days"] == 10
    assert {k: created[k] for k in body} == body
    assert response.headers["location"] == f"/v1/requests/{created['id']}"
    read = await requests_api.get(response.headers["location"], headers=callers["office"])
    assert read.json() == created
    assert read.headers["etag"] == response.headers["etag"]


async def test_references_count_up_from_one_each_year(file_request: Any) -> None:
    first, second = await file_request(), await file_request()
    year = datetime.now(UTC).year
    assert (first["reference"], second["reference"]) == (f"TA-{year}-0001", f"TA-{year}-0002")


async def test_twenty_concurrent_filings_get_twenty_distinct_references(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    responses = await asyncio.gather(
        *(
            requests_api.post(
                "/v1/requests", json=make_request(title=f"Request {n}"), headers=callers["office"]
            )
            for n in range(20)
        )
    )
    assert [r.status_code for r in responses] == [201] * 20
    numbers = sorted(int(r.json()["reference"][-4:]) for r in responses)
    assert numbers == list(range(1, 21))
    listed = (await requests_api.get("/v1/requests", headers=callers["pd"])).json()["items"]
    assert len({item["reference"] for item in listed}) == 20


async def test_repeated_idempotency_key_returns_the_first_request(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    headers = {**callers["office"], "Idempotency-Key": "file-ken-001"}
    first = await requests_api.post("/v1/requests", json=make_request(), headers=headers)
    again = await requests_api.post("/v1/requests", json=make_request(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    listed = (await requests_api.get("/v1/requests", headers=callers["pd"])).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]


async def test_idempotency_key_reused_with_another_body_is_422(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any, problem: Problem
) -> None:
    headers = {**callers["office"], "Idempotency-Key": "file-ken-002"}
    assert (await requests_api.post("/v1/requests", json=make_request(), headers=headers)).status_code == 201
    other = await requests_api.post("/v1/requests", json=make_request(title="Other"), headers=headers)
    assert problem(other, 422)["type"] == "urn:mnr:problem:idempotency-key-reused"


async def test_idempotency_key_is_scoped_to_the_caller(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    ids = set()
    for caller in ("office", "pd"):
        response = await requests_api.post(
            "/v1/requests", json=make_request(), headers={**callers[caller], "Idempotency-Key": "same-key"}
        )
        assert response.status_code == 201
        ids.add(response.json()["id"])
    assert len(ids) == 2


async def test_concurrent_repeats_of_one_key_file_once(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    headers = {**callers["office"], "Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *(requests_api.post("/v1/requests", json=make_request(), headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    listed = (await requests_api.get("/v1/requests", headers=callers["pd"])).json()["items"]
    assert len(listed) == 1


async def test_country_and_language_are_normalised_and_kosovo_is_accepted(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    body = make_request(
        country="xkx",
        languages=[
            {"tag": "SQ", "min_level": "C1", "importance": "required"},
            {"tag": "en-gb", "min_level": "B2", "importance": "desired"},
        ],
    )
    response = await requests_api.post("/v1/requests", json=body, headers=callers["pd"])
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["country"], created["region"]) == ("XKX", "ECARO")
    assert [lang["tag"] for lang in created["languages"]] == ["sq", "en-GB"]


async def test_defaults_apply_for_priority_nationality_and_importance(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    body = make_request(
        capabilities=[{"capability": 7, "min_level": 2}], languages=[{"tag": "fr", "min_level": "B2"}]
    )
    del body["priority"], body["nationality_preference"]
    created = (await requests_api.post("/v1/requests", json=body, headers=callers["office"])).json()
    assert (created["priority"], created["nationality_preference"]) == ("normal", "any")
    assert created["capabilities"] == [{"capability": 7, "min_level": 2, "importance": "required"}]
    assert created["languages"][0]["importance"] == "required"


async def test_effort_may_use_every_working_day_of_the_window(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any
) -> None:
    response = await requests_api.post(
        "/v1/requests", json=make_request(effort_days=10), headers=callers["office"]
    )
    assert response.status_code == 201, response.text
