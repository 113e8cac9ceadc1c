"""Every roster route × every kind of caller → the expected status (deny by default, OWASP API1/3)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mnr_shared.testing import bearer

CALLERS = [
    "anonymous",
    "country_office",
    "programme_division",
    "expert_self",
    "expert_other",
    "admin",
    "service_scoped",
    "service_unscoped",
]


@dataclass
class World:
    """One active expert with an unavailability period and a hold, and a header per caller."""

    expert_id: str
    period_id: str
    booking_id: str
    etag: str
    headers: dict[str, dict[str, str]]


Call = Callable[[httpx.AsyncClient, World, dict[str, str]], Awaitable[httpx.Response]]


def _routes() -> dict[str, tuple[Call, dict[str, int]]]:
    """route → (how to call it, expected status per caller; callers not listed get 403)."""

    def expert_url(w: World) -> str:
        return f"/v1/experts/{w.expert_id}"

    return {
        "GET reference": (
            lambda c, w, h: c.get("/v1/reference/capabilities", headers=h),
            dict.fromkeys(CALLERS[1:], 200),
        ),
        "POST experts": (
            lambda c, w, h: c.post(
                "/v1/experts",
                headers=h,
                json={"full_name": "New Person", "email": f"{uuid.uuid4().hex}@example.org"},
            ),
            {"programme_division": 201, "admin": 201, "expert_self": 409, "expert_other": 409},
        ),
        "GET experts": (
            lambda c, w, h: c.get("/v1/experts", headers=h),
            {"country_office": 200, "programme_division": 200, "admin": 200, "service_scoped": 200},
        ),
        "GET experts/me": (
            lambda c, w, h: c.get("/v1/experts/me", headers=h),
            {"expert_self": 200, "expert_other": 200},
        ),
        "GET expert": (
            lambda c, w, h: c.get(expert_url(w), headers=h),
            {
                "country_office": 200,
                "programme_division": 200,
                "expert_self": 200,
                "expert_other": 404,
                "admin": 200,
                "service_scoped": 200,
            },
        ),
        "PATCH expert": (
            lambda c, w, h: c.patch(
                expert_url(w), headers={**h, "If-Match": w.etag}, json={"summary": "Updated."}
            ),
            {"programme_division": 200, "expert_self": 200, "expert_other": 404, "admin": 200},
        ),
        "DELETE expert": (
            lambda c, w, h: c.delete(expert_url(w), headers={**h, "If-Match": w.etag}),
            {"admin": 204},
        ),
        "POST status": (
            lambda c, w, h: c.post(
                f"{expert_url(w)}/status", headers=h, json={"status": "inactive", "reason": "On leave."}
            ),
            {"programme_division": 200, "admin": 200},
        ),
        "GET history": (
            lambda c, w, h: c.get(f"{expert_url(w)}/history", headers=h),
            {"programme_division": 200, "expert_self": 200, "expert_other": 404, "admin": 200},
        ),
        "GET calendar": (
            lambda c, w, h: c.get(f"{expert_url(w)}/calendar", headers=h),
            {
                "programme_division": 200,
                "expert_self": 200,
                "expert_other": 404,
                "admin": 200,
                "service_scoped": 200,
            },
        ),
        "POST unavailability": (
            lambda c, w, h: c.post(
                f"{expert_url(w)}/unavailability",
                headers=h,
                json={"start": "2028-01-01", "end": "2028-01-05"},
            ),
            {"programme_division": 201, "expert_self": 201, "expert_other": 404, "admin": 201},
        ),
        "DELETE unavailability": (
            lambda c, w, h: c.delete(f"{expert_url(w)}/unavailability/{w.period_id}", headers=h),
            {"programme_division": 204, "expert_self": 204, "expert_other": 404, "admin": 204},
        ),
        "POST booking": (
            lambda c, w, h: c.post(
                f"{expert_url(w)}/bookings",
                headers=h,
                json={
                    "start": "2028-03-01",
                    "end": "2028-03-05",
                    "request_id": str(uuid.uuid4()),
                    "match_id": str(uuid.uuid4()),
                },
            ),
            {"programme_division": 201, "admin": 201, "service_scoped": 201},
        ),
        "GET booking": (
            lambda c, w, h: c.get(f"/v1/bookings/{w.booking_id}", headers=h),
            {"programme_division": 200, "admin": 200, "service_scoped": 200},
        ),
        "GET bookings by match": (
            lambda c, w, h: c.get("/v1/bookings", params={"match_id": str(uuid.uuid4())}, headers=h),
            {"programme_division": 200, "admin": 200, "service_scoped": 200},
        ),
        "POST confirm": (
            lambda c, w, h: c.post(f"/v1/bookings/{w.booking_id}/confirm", headers=h),
            {"programme_division": 200, "admin": 200, "service_scoped": 200},
        ),
        "POST release": (
            lambda c, w, h: c.post(f"/v1/bookings/{w.booking_id}/release", headers=h),
            {"programme_division": 200, "admin": 200, "service_scoped": 200},
        ),
        "GET import template": (
            lambda c, w, h: c.get("/v1/experts/import/template", params={"format": "csv"}, headers=h),
            {"programme_division": 200, "admin": 200},
        ),
        "POST import (dry run)": (
            lambda c, w, h: c.post(
                "/v1/experts/import",
                params={"dry_run": "true"},
                content=b"full_name,email\nNew Person,new.person@example.org\n",
                headers={**h, "content-type": "text/csv"},
            ),
            {"programme_division": 200, "admin": 200},
        ),
        "GET export": (
            lambda c, w, h: c.get("/v1/experts/export", params={"format": "csv"}, headers=h),
            {"country_office": 200, "programme_division": 200, "admin": 200, "service_scoped": 200},
        ),
        "GET changes": (
            lambda c, w, h: c.get("/v1/changes", headers=h),
            {"admin": 200, "service_scoped": 200},
        ),
    }


ROUTES = _routes()


@pytest.fixture
async def world(
    roster: httpx.AsyncClient, token_for: Any, service_token: Any, make_expert: Any, pd: dict[str, str]
) -> World:
    expert = await make_expert()
    other = await make_expert()
    period = await roster.post(
        f"/v1/experts/{expert['id']}/unavailability",
        headers=pd,
        json={"start": "2027-12-01", "end": "2027-12-05"},
    )
    booking = await roster.post(
        f"/v1/experts/{expert['id']}/bookings",
        headers=pd,
        json={
            "start": "2027-06-01",
            "end": "2027-06-10",
            "request_id": str(uuid.uuid4()),
            "match_id": str(uuid.uuid4()),
        },
    )
    assert period.status_code == 201
    assert booking.status_code == 201
    etag = (await roster.get(f"/v1/experts/{expert['id']}", headers=pd)).headers["etag"]
    headers = {
        "anonymous": {},
        "country_office": bearer(await token_for("country_office", offices=["KEN"])),
        "programme_division": pd,
        "expert_self": bearer(await token_for("expert", sub="e-self", expert_id=expert["id"])),
        "expert_other": bearer(await token_for("expert", sub="e-other", expert_id=other["id"])),
        "admin": bearer(await token_for("admin")),
        "service_scoped": bearer(await service_token("matching-service")),
        "service_unscoped": bearer(await service_token("roster-service")),
    }
    return World(expert["id"], period.json()["id"], booking.json()["id"], etag, headers)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
async def test_route_answers_each_caller_as_designed(
    roster: httpx.AsyncClient, world: World, route: str, caller: str
) -> None:
    call, expected = ROUTES[route]
    want = 401 if caller == "anonymous" else expected.get(caller, 403)
    response = await call(roster, world, world.headers[caller])
    assert response.status_code == want, f"{route} as {caller}: {response.text}"
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"


async def test_country_office_sees_public_fields_only(roster: httpx.AsyncClient, world: World) -> None:
    body = (
        await roster.get(f"/v1/experts/{world.expert_id}", headers=world.headers["country_office"])
    ).json()
    assert set(body) == {"id", "full_name", "summary", "status", "capabilities", "languages", "regions"}
    listed = (await roster.get("/v1/experts", headers=world.headers["country_office"])).json()
    assert listed["items"]
    assert all("email" not in item and "daily_rate" not in item for item in listed["items"])


async def test_country_office_cannot_see_inactive_experts(
    roster: httpx.AsyncClient, make_expert: Any, office: dict[str, str], pd: dict[str, str]
) -> None:
    applicant = await make_expert(status="applicant")
    assert (await roster.get(f"/v1/experts/{applicant['id']}", headers=office)).status_code == 404
    listed = (await roster.get("/v1/experts", headers=office, params={"status": "applicant"})).json()["items"]
    assert applicant["id"] not in {item["id"] for item in listed}
    assert (await roster.get(f"/v1/experts/{applicant['id']}", headers=pd)).status_code == 200


async def test_privileged_callers_see_personal_data(roster: httpx.AsyncClient, world: World) -> None:
    # A `roster:read` client without `roster:pii` (service_scoped) does not: tests/roster/test_scopes.py.
    for caller in ("programme_division", "admin", "expert_self"):
        body = (await roster.get(f"/v1/experts/{world.expert_id}", headers=world.headers[caller])).json()
        assert body["email"].endswith("@example.org"), caller
        assert body["daily_rate"] == {"amount": "400.00", "currency": "USD"}, caller
        assert "vetting" in body, caller
