"""Roster test helpers: experts made through the real API, headers for each kind of caller."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from mnr_shared.testing import bearer

_emails = itertools.count(1)


def _expert_body(**overrides: Any) -> dict[str, Any]:
    """A valid expert as PD would create it; every field overridable."""
    n = next(_emails)
    body: dict[str, Any] = {
        "full_name": f"Expert Number {n}",
        "email": f"expert{n}@example.org",
        "phone": "+254 700 000001",
        "nationalities": ["KEN"],
        "residence_country": "KEN",
        "summary": "Prosecutor working on online child sexual exploitation cases.",
        "years_experience": 10,
        "daily_rate": {"amount": "400.00", "currency": "USD"},
        "modality": "either",
        "status": "active",
        "capabilities": [{"capability": 5, "level": 3}, {"capability": 3, "level": 2}],
        "languages": [{"tag": "en", "level": "C2"}, {"tag": "sw", "level": "B2"}],
        "country_experience": ["KEN", "UGA"],
        # Checks that pass the vetting gate whatever the day the tests run.
        "vetting": {
            "references_checked_on": (date.today() - timedelta(days=60)).isoformat(),
            "safeguarding_check_on": (date.today() - timedelta(days=30)).isoformat(),
        },
    }
    body.update(overrides)
    return body


MakeExpert = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def pd(token_for: Any) -> dict[str, str]:
    return bearer(await token_for("programme_division", sub="pd-1"))


@pytest.fixture
async def admin(token_for: Any) -> dict[str, str]:
    return bearer(await token_for("admin", sub="admin-1"))


@pytest.fixture
async def office(token_for: Any) -> dict[str, str]:
    return bearer(await token_for("country_office", sub="co-ken", offices=["KEN"]))


@pytest.fixture
async def matching(service_token: Any) -> dict[str, str]:
    """The matching service's own token: `roster:read roster:write`."""
    return bearer(await service_token("matching-service"))


@pytest.fixture
def make_expert(roster: httpx.AsyncClient, pd: dict[str, str]) -> MakeExpert:
    async def make(**overrides: Any) -> dict[str, Any]:
        response = await roster.post("/v1/experts", json=_expert_body(**overrides), headers=pd)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return make


def _booking_body(start: str = "2027-04-05", end: str = "2027-04-16", **overrides: Any) -> dict[str, Any]:
    body = {"start": start, "end": end, "request_id": str(uuid.uuid4()), "match_id": str(uuid.uuid4())}
    body.update(overrides)
    return body


async def _etag_of(roster: httpx.AsyncClient, expert_id: str, headers: dict[str, str]) -> str:
    response = await roster.get(f"/v1/experts/{expert_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


@pytest.fixture
def expert_body() -> Callable[..., dict[str, Any]]:
    """`expert_body(**overrides)`: a valid expert body (unique email each call)."""
    return _expert_body


@pytest.fixture
def booking_body() -> Callable[..., dict[str, Any]]:
    """`booking_body(start, end, **overrides)`: a hold for fresh request and match ids."""
    return _booking_body


@pytest.fixture
def etag_of(roster: httpx.AsyncClient) -> Callable[[str, dict[str, str]], Awaitable[str]]:
    """`await etag_of(expert_id, headers)`: the expert's current ETag."""

    async def read(expert_id: str, headers: dict[str, str]) -> str:
        return await _etag_of(roster, expert_id, headers)

    return read
