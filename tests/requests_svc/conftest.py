"""Fixtures for the requests tests: callers by role, a request body builder, requests in any status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest

from mnr_shared.testing import bearer

Headers = dict[str, str]
Json = dict[str, Any]

OWN, FOREIGN = "KEN", "UGA"
EXPERT_ID = "6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11"

# Who takes each action on the way: matching alone matches, fulfils and reopens; PD the rest.
WALKER: dict[str, str] = {"match": "matching", "fulfil": "matching", "reopen": "matching"}

# How the tests reach each status from a new draft (their own copy of DESIGN §4, not the service's).
PATHS: dict[str, list[str]] = {
    "draft": [],
    "submitted": ["submit"],
    "in_review": ["submit", "start_review"],
    "matched": ["submit", "start_review", "match"],
    "fulfilled": ["submit", "start_review", "match", "fulfil"],
    "closed": ["submit", "start_review", "match", "fulfil", "close"],
    "withdrawn": ["withdraw"],
    "rejected": ["submit", "reject"],
    "cancelled": ["submit", "cancel"],
}


def next_monday(weeks_ahead: int = 4) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 - today.weekday()) + timedelta(weeks=weeks_ahead - 1)


def request_body(**overrides: Any) -> Json:
    """A valid request body for Kenya, four weeks from now: 2 weeks, 10 working days, 6 asked."""
    start = next_monday()
    body: Json = {
        "country": OWN,
        "title": "Legislation review for online CSEA",
        "description": "Review the draft cybercrime bill against the MNR and advise the drafting committee.",
        "capabilities": [
            {"capability": 3, "min_level": 3, "importance": "required"},
            {"capability": 5, "min_level": 2, "importance": "desired"},
        ],
        "languages": [{"tag": "en", "min_level": "C1", "importance": "required"}],
        "modality": "remote",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=11)).isoformat(),
        "effort_days": 6,
        "priority": "normal",
        "nationality_preference": "any",
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_request() -> Callable[..., Json]:
    """`make_request(**overrides)`: a valid body with some fields replaced."""
    return request_body


@pytest.fixture
async def callers(token_for: Any, service_token: Any) -> dict[str, Headers]:
    """Authorization headers by caller.

    `office` is Kenya's country office, which owns the requests the tests file by default;
    `other_office` is Uganda's, a stranger to them. `matching` is a client with requests:read
    and requests:write, `integrator` one with requests:read only, `outsider` one without any
    requests scope.
    """
    return {
        "office": bearer(await token_for("country_office", sub="co-ken", offices=[OWN], name="Kenya CO")),
        "other_office": bearer(await token_for("country_office", sub="co-uga", offices=[FOREIGN])),
        "pd": bearer(await token_for("programme_division", sub="pd-1", name="PD reviewer")),
        "admin": bearer(await token_for("admin", sub="admin-1")),
        "expert": bearer(await token_for("expert", sub="expert-1", expert_id=EXPERT_ID)),
        "matching": bearer(await service_token("matching-service")),
        "integrator": bearer(await service_token("demo-integrator")),
        "outsider": bearer(await service_token("demo-integrator", scope="roster:read")),
    }


class FileRequest(Protocol):
    def __call__(self, caller: str = "office", **overrides: Any) -> Awaitable[Json]: ...


class RequestIn(Protocol):
    def __call__(self, status: str, **overrides: Any) -> Awaitable[Json]: ...


class Transition(Protocol):
    def __call__(
        self, request_id: str, action: str, caller: str = "pd", note: str | None = "noted", **headers: str
    ) -> Awaitable[httpx.Response]: ...


@pytest.fixture
def file_request(requests_api: httpx.AsyncClient, callers: dict[str, Headers]) -> FileRequest:
    """File a request as `caller` (default the Kenya office) and return it; fails unless 201."""

    async def file(caller: str = "office", **overrides: Any) -> Json:
        response = await requests_api.post(
            "/v1/requests", json=request_body(**overrides), headers=callers[caller]
        )
        assert response.status_code == 201, response.text
        created: Json = response.json()
        return created

    return file


@pytest.fixture
def transition(requests_api: httpx.AsyncClient, callers: dict[str, Headers]) -> Transition:
    """POST one action as `caller` (default PD, who may take every action but the matching ones)."""

    async def post(
        request_id: str, action: str, caller: str = "pd", note: str | None = "noted", **headers: str
    ) -> httpx.Response:
        return await requests_api.post(
            f"/v1/requests/{request_id}/transitions",
            json={"action": action, "note": note},
            headers={**callers[caller], **headers},
        )

    return post


@pytest.fixture
def request_in(file_request: FileRequest, transition: Transition) -> RequestIn:
    """A Kenya request walked to `status` along `PATHS` by PD (by matching where only it may)."""

    async def walk(status: str, **overrides: Any) -> Json:
        current = await file_request(**overrides)
        for action in PATHS[status]:
            response = await transition(current["id"], action, caller=WALKER.get(action, "pd"))
            assert response.status_code == 200, response.text
            current = response.json()
        assert current["status"] == status
        return current

    return walk


def assert_problem(response: httpx.Response, status: int) -> Json:
    """The response is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: Json = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


@pytest.fixture
def problem() -> Callable[[httpx.Response, int], Json]:
    return assert_problem
