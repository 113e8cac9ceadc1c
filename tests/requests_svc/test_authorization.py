"""Who may call what: every route × every caller × own/foreign request (OWASP API1 and API5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

Json = dict[str, Any]
Problem = Callable[[httpx.Response, int], Json]

OWN, FOREIGN = "KEN", "UGA"
CALLERS = ("office", "pd", "admin", "matching", "integrator", "expert", "outsider")
HIDDEN = "200 without it"  # a list answered, but without the request


def _all(own: object, foreign: object | None = None) -> tuple[object, object]:
    return (own, own if foreign is None else foreign)


# route → caller → (answer for the Kenya office's own request, answer for Uganda's request).
# The Kenya office is `office`; services act by scope; experts have no access at all.
MATRIX: dict[str, dict[str, tuple[object, object]]] = {
    "create": {
        "office": (201, 403),
        "pd": _all(201),
        "admin": _all(201),
        "matching": _all(201),
        "integrator": _all(403),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "list": {
        "office": (200, HIDDEN),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(200),
        "integrator": _all(200),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "read": {
        "office": (200, 404),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(200),
        "integrator": _all(200),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "edit": {
        "office": (200, 404),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(403),
        "integrator": _all(403),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "transition": {
        "office": (200, 404),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(403),  # may not submit: only match, fulfil, reopen
        "integrator": _all(403),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "history": {
        "office": (200, 404),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(200),
        "integrator": _all(200),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "comment": {
        "office": (201, 404),
        "pd": _all(201),
        "admin": _all(201),
        "matching": _all(403),
        "integrator": _all(403),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "comments": {
        "office": (200, 404),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(200),
        "integrator": _all(200),
        "expert": _all(403),
        "outsider": _all(403),
    },
    "stats": {
        "office": _all(403),
        "pd": _all(200),
        "admin": _all(200),
        "matching": _all(403),
        "integrator": _all(403),
        "expert": _all(403),
        "outsider": _all(403),
    },
}


async def _send(
    api: httpx.AsyncClient, route: str, headers: dict[str, str], target: Json, make_request: Any, etag: str
) -> httpx.Response:
    """Call `route` about `target` with `headers` (a create files a new one for the same country)."""
    rid = target["id"]
    if route == "create":
        return await api.post("/v1/requests", json=make_request(country=target["country"]), headers=headers)
    if route == "list":
        return await api.get("/v1/requests", headers=headers, params={"limit": 200})
    if route == "read":
        return await api.get(f"/v1/requests/{rid}", headers=headers)
    if route == "edit":
        return await api.patch(
            f"/v1/requests/{rid}", json={"title": "Edited"}, headers={**headers, "If-Match": etag}
        )
    if route == "transition":
        return await api.post(f"/v1/requests/{rid}/transitions", json={"action": "submit"}, headers=headers)
    if route == "history":
        return await api.get(f"/v1/requests/{rid}/history", headers=headers)
    if route == "comment":
        return await api.post(f"/v1/requests/{rid}/comments", json={"body": "Hello"}, headers=headers)
    if route == "comments":
        return await api.get(f"/v1/requests/{rid}/comments", headers=headers)
    return await api.get("/v1/requests/stats", headers=headers)


async def _call(
    api: httpx.AsyncClient, route: str, headers: dict[str, str], target: Json, make_request: Any, etag: str
) -> object:
    """The status `route` answers about `target`, or HIDDEN for a list that leaves it out."""
    response = await _send(api, route, headers, target, make_request, etag)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    elif route == "list" and target["id"] not in {item["id"] for item in response.json()["items"]}:
        return HIDDEN
    return response.status_code


@pytest.mark.parametrize("route", list(MATRIX))
async def test_route_answers_each_caller_as_the_matrix_says(
    route: str,
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    make_request: Any,
) -> None:
    observed: dict[str, tuple[object, object]] = {}
    shared = {country: await file_request("pd", country=country) for country in (OWN, FOREIGN)}
    for caller in CALLERS:
        answers = []
        for country in (OWN, FOREIGN):
            # A submitted request cannot be submitted again: each transition gets a fresh draft.
            target = await file_request("pd", country=country) if route == "transition" else shared[country]
            etag = (await requests_api.get(f"/v1/requests/{target['id']}", headers=callers["pd"])).headers[
                "etag"
            ]
            answers.append(await _call(requests_api, route, callers[caller], target, make_request, etag))
        observed[caller] = (answers[0], answers[1])
    assert observed == MATRIX[route]


@pytest.mark.parametrize("route", list(MATRIX))
async def test_route_without_a_token_is_401_with_bearer_challenge(
    route: str, requests_api: httpx.AsyncClient, file_request: Any, make_request: Any
) -> None:
    target = await file_request()
    response = await _send(requests_api, route, {}, target, make_request, '"1-x"')
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


async def test_refused_writes_leave_the_request_untouched(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, make_request: Any
) -> None:
    foreign = await file_request("pd", country=FOREIGN)
    etag = (await requests_api.get(f"/v1/requests/{foreign['id']}", headers=callers["pd"])).headers["etag"]
    for caller in ("office", "expert", "integrator", "matching"):
        for route in ("edit", "transition", "comment"):
            code = await _call(requests_api, route, callers[caller], foreign, make_request, etag)
            assert code in {403, 404}, (caller, route, code)
    after = (await requests_api.get(f"/v1/requests/{foreign['id']}", headers=callers["pd"])).json()
    history = (await requests_api.get(f"/v1/requests/{foreign['id']}/history", headers=callers["pd"])).json()
    comments = (
        await requests_api.get(f"/v1/requests/{foreign['id']}/comments", headers=callers["pd"])
    ).json()
    assert (after["version"], after["status"], after["title"]) == (1, "draft", foreign["title"])
    assert [e["kind"] for e in history["items"]] == ["created"]
    assert comments["items"] == []
    # The control: the same calls by the request's own office do write.
    assert await _call(requests_api, "comment", callers["other_office"], foreign, make_request, etag) == 201


async def test_foreign_request_is_indistinguishable_from_a_missing_one(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, problem: Problem
) -> None:
    foreign = await file_request("pd", country=FOREIGN)
    hidden = problem(await requests_api.get(f"/v1/requests/{foreign['id']}", headers=callers["office"]), 404)
    missing_id = "0b7c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11"
    missing = problem(await requests_api.get(f"/v1/requests/{missing_id}", headers=callers["office"]), 404)
    assert (hidden["type"], hidden["title"]) == (missing["type"], missing["title"])
    assert hidden["detail"].replace(foreign["id"], "ID") == missing["detail"].replace(missing_id, "ID")
    assert FOREIGN not in hidden["detail"]


async def test_office_may_not_file_for_a_country_outside_its_offices(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], make_request: Any, problem: Problem
) -> None:
    response = await requests_api.post(
        "/v1/requests", json=make_request(country="TZA"), headers=callers["office"]
    )
    body = problem(response, 403)
    assert "TZA" in body["detail"]
    listed = (await requests_api.get("/v1/requests", headers=callers["pd"])).json()
    assert listed["items"] == []


async def test_office_with_several_offices_sees_and_files_for_each(
    requests_api: httpx.AsyncClient, token_for: Any, file_request: Any, make_request: Any
) -> None:
    headers = {
        "Authorization": f"Bearer {await token_for('country_office', sub='co-ea', offices=['KEN', 'UGA'])}"
    }
    for country in ("KEN", "UGA"):
        response = await requests_api.post(
            "/v1/requests", json=make_request(country=country), headers=headers
        )
        assert response.status_code == 201, response.text
    await file_request("pd", country="TZA")
    listed = (await requests_api.get("/v1/requests", headers=headers)).json()
    assert sorted(item["country"] for item in listed["items"]) == ["KEN", "UGA"]
