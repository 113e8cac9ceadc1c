"""Bad values for every expert and calendar field are 422 problem+json, and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BAD_EXPERT_FIELDS: list[tuple[str, Any]] = [
    ("full_name", ""),
    ("full_name", "x" * 201),
    ("email", "not-an-email"),
    ("phone", "call me"),
    ("nationalities", ["ZZZ"]),
    ("nationalities", ["KEN", "KEN"]),
    ("residence_country", "Kenya"),
    ("gender", "x" * 41),
    ("summary", "x" * 4001),
    ("years_experience", -1),
    ("years_experience", "ten"),
    ("daily_rate", {"amount": "-5", "currency": "USD"}),
    ("daily_rate", {"amount": "100", "currency": "XYZ"}),
    ("modality", "telepathy"),
    ("status", "retired"),
    ("capabilities", [{"capability": 22, "level": 2}]),
    ("capabilities", [{"capability": 0, "level": 2}]),
    ("capabilities", [{"capability": 3, "level": 5}]),
    ("capabilities", [{"capability": 3, "level": 2}, {"capability": 3, "level": 4}]),
    ("languages", [{"tag": "klingon-xx", "level": "B2"}]),
    ("languages", [{"tag": "fr", "level": "D1"}]),
    ("languages", [{"tag": "fr", "level": "B2"}, {"tag": "FR", "level": "C1"}]),
    ("country_experience", ["KE"]),
    ("vetting", {"references_checked_on": "2999-01-01"}),
    ("vetting", {"bsafe_completed_on": "yesterday"}),
    ("unexpected_field", 1),
]


@pytest.mark.parametrize(("field", "value"), BAD_EXPERT_FIELDS)
async def test_bad_expert_field_is_422_and_nothing_is_created(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any, field: str, value: Any
) -> None:
    response = await roster.post("/v1/experts", json=expert_body(**{field: value}), headers=pd)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert any(field in error["loc"] for error in problem["errors"]), problem
    listed = (await roster.get("/v1/experts", headers=pd)).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", None),
        ("email", None),
        ("capabilities", None),
        ("years_experience", -3),
        ("languages", [{"tag": "en", "level": "Z9"}]),
    ],
)
async def test_bad_patch_is_422_and_leaves_the_expert_unchanged(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any, field: str, value: Any
) -> None:
    expert = await make_expert()
    etag = await etag_of(expert["id"], pd)
    response = await roster.patch(
        f"/v1/experts/{expert['id']}", json={field: value}, headers={**pd, "If-Match": etag}
    )
    assert response.status_code == 422, response.text
    assert await etag_of(expert["id"], pd) == etag


@pytest.mark.parametrize(
    "body",
    [
        {"start": "2027-05-10", "end": "2027-05-01"},
        {"start": "2027-05-10"},
        {"start": "not a date", "end": "2027-05-01"},
        {"start": "2027-01-01", "end": "2030-01-01"},
        {"start": "2027-05-01", "end": "2027-05-02", "reason": "x" * 201},
    ],
)
async def test_bad_unavailability_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, body: dict[str, Any]
) -> None:
    expert = await make_expert()
    response = await roster.post(f"/v1/experts/{expert['id']}/unavailability", json=body, headers=pd)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "overrides",
    [
        {"start": "2027-05-10", "end": "2027-05-01"},
        {"request_id": "not-a-uuid"},
        {"match_id": None},
    ],
)
async def test_bad_booking_is_422(
    roster: httpx.AsyncClient,
    pd: dict[str, str],
    make_expert: Any,
    booking_body: Any,
    overrides: dict[str, Any],
) -> None:
    expert = await make_expert()
    response = await roster.post(
        f"/v1/experts/{expert['id']}/bookings", json=booking_body(**overrides), headers=pd
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"capability": 22}, "capability"),
        ({"min_level": 0}, "min_level"),
        ({"language": "zz-zz-zz"}, "language"),
        ({"min_language_level": "C3"}, "min_language_level"),
        ({"region": "EUROPE"}, "region"),
        ({"country": "XXX"}, "country"),
        ({"status": "gone"}, "status"),
        ({"available_from": "soon"}, "available_from"),
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
async def test_bad_search_parameter_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str], params: dict[str, Any], bad: str
) -> None:
    response = await roster.get("/v1/experts", params=params, headers=pd)
    assert response.status_code == 422, response.text
    assert any(bad in error["loc"] for error in response.json()["errors"])


async def test_unknown_expert_is_404_and_malformed_id_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    missing = await roster.get("/v1/experts/00000000-0000-4000-8000-000000000000", headers=pd)
    assert missing.status_code == 404
    malformed = await roster.get("/v1/experts/not-a-uuid", headers=pd)
    assert malformed.status_code == 422
