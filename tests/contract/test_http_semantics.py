"""The HTTP answers the contract run relies on, pinned one by one: `Allow` names every documented
method of a path, a fixed path is its own resource, and a problem's `status` is the HTTP status."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from mnr_shared.problems import Conflict, install_problem_handlers
from mnr_shared.testing import bearer


async def test_405_allow_names_every_documented_method_of_the_path(roster: httpx.AsyncClient) -> None:
    collection = await roster.options("/v1/experts")
    assert collection.status_code == 405
    assert collection.headers["content-type"].startswith("application/problem+json")
    assert collection.headers["allow"] == "GET, POST"
    one = await roster.request("PUT", "/v1/experts/00000000-0000-4000-8000-000000000000")
    assert one.status_code == 405
    assert one.headers["allow"] == "DELETE, GET, PATCH"


async def test_unserved_method_on_a_fixed_path_is_405_not_a_bad_id(
    roster: httpx.AsyncClient, token_for: Any
) -> None:
    """`/v1/experts/me` is a resource of its own: PATCH there is 405, although the pattern of
    `PATCH /v1/experts/{expert_id}` matches the path (and would answer 422 for the id `me`)."""
    admin = bearer(await token_for("admin", sub="admin-1"))
    for method, path, allow in [
        ("PATCH", "/v1/experts/me", "GET"),
        ("DELETE", "/v1/experts/export", "GET"),
        ("PATCH", "/v1/experts/import", "POST"),
    ]:
        response = await roster.request(method, path, headers=admin, json={})
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == allow
        assert response.json()["status"] == 405
    malformed = await roster.patch("/v1/experts/not-a-uuid", headers=admin, json={})
    assert malformed.status_code == 422


async def test_an_extension_member_never_replaces_a_standard_one() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/bookings/1/confirm")
    async def confirm() -> None:
        raise Conflict("Released.", slug="booking-released", extra={"status": "released", "seen": 1})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://toy") as client:
        response = await client.post("/bookings/1/confirm")
    assert response.status_code == 409
    body = response.json()
    assert body["status"] == 409
    assert body["type"] == "urn:mnr:problem:booking-released"
    assert body["seen"] == 1


async def test_a_blank_if_match_on_a_transition_is_no_precondition(
    requests_api: httpx.AsyncClient, token_for: Any
) -> None:
    """`If-Match` is optional on transitions: sent blank it asks nothing (not 428, which the
    operation does not document); sent stale it is 412."""
    office = bearer(await token_for("country_office", sub="co-ken", offices=["KEN"]))
    start = date.today() + timedelta(days=42 - date.today().weekday())
    body = {
        "country": "KEN",
        "title": "Legislation review",
        "description": "Review the draft bill against the MNR.",
        "capabilities": [{"capability": 3, "min_level": 3, "importance": "required"}],
        "modality": "remote",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=4)).isoformat(),
        "effort_days": 3,
    }
    created = await requests_api.post("/v1/requests", json=body, headers=office)
    assert created.status_code == 201, created.text
    url = f"/v1/requests/{created.json()['id']}/transitions"
    stale = await requests_api.post(url, json={"action": "submit"}, headers={**office, "If-Match": '"stale"'})
    assert stale.status_code == 412
    blank = await requests_api.post(url, json={"action": "submit"}, headers={**office, "If-Match": ""})
    assert blank.status_code == 200, blank.text
    assert blank.json()["status"] == "submitted"
