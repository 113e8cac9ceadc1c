"""Experts through the API: self-registration, editing with ETags, vetting, search, history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mnr_shared.testing import bearer


async def test_pd_creates_an_expert_with_etag_location_and_normalised_values(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any
) -> None:
    response = await roster.post(
        "/v1/experts",
        headers=pd,
        json=expert_body(
            email="Mixed.Case@Example.ORG", nationalities=["ken"], languages=[{"tag": "EN-gb", "level": "C2"}]
        ),
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/experts/{body['id']}"
    assert response.headers["etag"].startswith('"1-')
    assert body["email"] == "mixed.case@example.org"
    assert body["nationalities"] == ["KEN"]
    assert body["languages"] == [{"tag": "en-GB", "level": "C2"}]
    assert body["regions"] == ["ESARO"]
    assert body["status"] == "active"


async def test_duplicate_email_is_409(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, expert_body: Any
) -> None:
    expert = await make_expert()
    response = await roster.post("/v1/experts", headers=pd, json=expert_body(email=expert["email"].upper()))
    assert response.status_code == 409
    assert response.json()["type"] == "urn:mnr:problem:duplicate-email"


async def test_create_with_idempotency_key_replays_the_first_answer(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any
) -> None:
    body = expert_body()
    headers = {**pd, "Idempotency-Key": "create-1"}
    first = await roster.post("/v1/experts", headers=headers, json=body)
    again = await roster.post("/v1/experts", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    listed = (await roster.get("/v1/experts", headers=pd)).json()["items"]
    assert len(listed) == 1


async def test_expert_self_registers_as_applicant_and_edits_own_profile(
    roster: httpx.AsyncClient, token_for: Any, expert_body: Any
) -> None:
    me = bearer(await token_for("expert", sub="new-expert"))
    body = expert_body()
    for field in ("status", "vetting", "daily_rate"):
        body.pop(field)
    created = await roster.post("/v1/experts", headers=me, json=body)
    assert created.status_code == 201
    assert created.json()["status"] == "applicant"
    assert (
        await roster.post(
            "/v1/experts", headers=me, json=expert_body(status=None, vetting=None, daily_rate=None)
        )
    ).status_code == 409
    mine = await roster.get("/v1/experts/me", headers=me)
    assert mine.json()["id"] == created.json()["id"]
    edited = await roster.patch(
        f"/v1/experts/{created.json()['id']}",
        headers={**me, "If-Match": mine.headers["etag"]},
        json={"summary": "Now a hotline specialist."},
    )
    assert edited.status_code == 200
    assert edited.json()["summary"] == "Now a hotline specialist."


@pytest.mark.parametrize(
    ("field", "status"),
    [
        ("status", 422),  # not a PATCH field for anyone: status moves through /status
        ("vetting", 403),
        ("daily_rate", 403),
    ],
)
async def test_expert_cannot_set_own_status_vetting_or_rate(
    roster: httpx.AsyncClient, token_for: Any, make_expert: Any, etag_of: Any, field: str, status: int
) -> None:
    expert = await make_expert()
    me = bearer(await token_for("expert", expert_id=expert["id"]))
    value = {
        "status": "active",
        "vetting": {"references_checked_on": "2026-01-01"},
        "daily_rate": {"amount": "9000", "currency": "USD"},
    }[field]
    response = await roster.patch(
        f"/v1/experts/{expert['id']}",
        json={field: value},
        headers={**me, "If-Match": await etag_of(expert["id"], me)},
    )
    assert response.status_code == status
    assert (await roster.get(f"/v1/experts/{expert['id']}", headers=me)).json()["version"] == 1


async def test_patch_without_if_match_is_428_and_stale_is_412(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}"
    missing = await roster.patch(url, json={"summary": "a"}, headers=pd)
    assert missing.status_code == 428
    etag = await etag_of(expert["id"], pd)
    first = await roster.patch(url, json={"summary": "b"}, headers={**pd, "If-Match": etag})
    assert first.status_code == 200
    assert first.headers["etag"] != etag
    stale = await roster.patch(url, json={"summary": "c"}, headers={**pd, "If-Match": etag})
    assert stale.status_code == 412
    assert (await roster.get(url, headers=pd)).json()["summary"] == "b"


async def test_patch_replaces_lists_and_keeps_unsent_fields(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any
) -> None:
    expert = await make_expert()
    response = await roster.patch(
        f"/v1/experts/{expert['id']}",
        headers={**pd, "If-Match": await etag_of(expert["id"], pd)},
        json={"country_experience": ["PER", "COL"], "phone": None},
    )
    body = response.json()
    assert body["country_experience"] == ["COL", "PER"]
    assert body["regions"] == ["LACRO"]
    assert body["phone"] is None
    assert body["capabilities"] == expert["capabilities"]


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        ("applicant", "active", True),
        ("active", "inactive", True),
        ("inactive", "active", True),
        ("applicant", "suspended", True),
        ("active", "suspended", True),
        ("applicant", "inactive", False),
        ("suspended", "active", False),
        ("active", "applicant", False),
    ],
)
async def test_vetting_moves(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, start: str, target: str, allowed: bool
) -> None:
    expert = await make_expert(status=start)
    response = await roster.post(
        f"/v1/experts/{expert['id']}/status",
        headers=pd,
        json={"status": target, "reason": "Vetting panel decision."},
    )
    if allowed:
        assert response.status_code == 200
        assert response.json()["status"] == target
        assert response.json()["status_reason"] == "Vetting panel decision."
    else:
        assert response.status_code == 409
        assert response.json()["status"] == 409  # a problem's `status` is the HTTP status (RFC 9457)
        assert response.json()["current_status"] == start
        assert target not in response.json()["allowed"]


async def test_status_change_needs_a_reason(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert(status="applicant")
    response = await roster.post(
        f"/v1/experts/{expert['id']}/status", headers=pd, json={"status": "active", "reason": " "}
    )
    assert response.status_code == 422


async def test_history_records_actor_action_fields_and_reason(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any
) -> None:
    expert = await make_expert(status="applicant")
    await roster.patch(
        f"/v1/experts/{expert['id']}",
        json={"summary": "x", "gender": "female"},
        headers={**pd, "If-Match": await etag_of(expert["id"], pd)},
    )
    await roster.post(
        f"/v1/experts/{expert['id']}/status",
        headers=pd,
        json={"status": "active", "reason": "Checks complete."},
    )
    history = (
        await roster.get(f"/v1/experts/{expert['id']}/history", headers=pd, params={"limit": 2})
    ).json()
    assert [h["action"] for h in history["items"]] == ["create", "update"]
    assert history["items"][1]["changed_fields"] == ["gender", "summary"]
    assert history["items"][1]["actor_sub"] == "pd-1"
    assert history["items"][1]["actor_role"] == "programme_division"
    rest = (
        await roster.get(
            f"/v1/experts/{expert['id']}/history", headers=pd, params={"cursor": history["next_cursor"]}
        )
    ).json()
    assert [(h["action"], h["reason"]) for h in rest["items"]] == [("status:active", "Checks complete.")]
    assert rest["next_cursor"] is None


# --- search -----------------------------------------------------------------------------------


@pytest.fixture
async def roster_of_four(make_expert: Any, roster: httpx.AsyncClient, pd: dict[str, str]) -> dict[str, str]:
    """Four experts that differ in one thing each, by name."""
    people = {
        "lawyer": await make_expert(
            full_name="Lena Lawyer",
            capabilities=[{"capability": 3, "level": 4}],
            languages=[{"tag": "fr", "level": "C2"}],
            country_experience=["SEN"],
        ),
        "police": await make_expert(
            full_name="Paul Police",
            capabilities=[{"capability": 4, "level": 3}, {"capability": 3, "level": 2}],
            languages=[{"tag": "en-GB", "level": "C1"}],
            country_experience=["KEN"],
        ),
        "hotline": await make_expert(
            full_name="Hana Hotline",
            summary="Runs a national CSEA hotline.",
            capabilities=[{"capability": 12, "level": 3}],
            languages=[{"tag": "es", "level": "B2"}],
            country_experience=["PER"],
        ),
        "applicant": await make_expert(
            full_name="Ada Applicant",
            status="applicant",
            capabilities=[{"capability": 3, "level": 4}],
            country_experience=["SEN"],
        ),
    }
    busy = people["police"]["id"]
    await roster.post(
        f"/v1/experts/{busy}/unavailability", headers=pd, json={"start": "2027-07-01", "end": "2027-07-31"}
    )
    return {name: e["id"] for name, e in people.items()}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"lawyer", "police", "hotline", "applicant"}),
        ({"capability": 3}, {"lawyer", "police", "applicant"}),
        ({"capability": 3, "min_level": 3}, {"lawyer", "applicant"}),
        ({"capability": [3, 4]}, {"police"}),
        ({"language": "en"}, {"police", "applicant"}),  # en-GB matches en
        ({"language": "fr", "min_language_level": "C2"}, {"lawyer"}),
        ({"language": "es", "min_language_level": "C1"}, set()),
        ({"region": "WCARO"}, {"lawyer", "applicant"}),
        ({"country": "PER"}, {"hotline"}),
        ({"status": "applicant"}, {"applicant"}),
        ({"status": ["active", "applicant"], "capability": 12}, {"hotline"}),
        ({"available_from": "2027-07-10", "available_to": "2027-07-12"}, {"lawyer", "hotline", "applicant"}),
        ({"q": "HOTLINE"}, {"hotline"}),
        ({"q": "paul"}, {"police"}),
        ({"q": "%"}, set()),
    ],
)
async def test_search_filters(
    roster: httpx.AsyncClient,
    pd: dict[str, str],
    roster_of_four: dict[str, str],
    params: dict[str, Any],
    expected: set[str],
) -> None:
    response = await roster.get("/v1/experts", params=params, headers=pd)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    assert ids == {roster_of_four[name] for name in expected}


async def test_pages_cover_everyone_once_in_a_stable_order(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    created = [(await make_expert())["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await roster.get("/v1/experts", params=params, headers=pd)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created


async def test_calendar_lists_periods_and_bookings_in_range(
    roster: httpx.AsyncClient,
    pd: dict[str, str],
    matching: dict[str, str],
    make_expert: Any,
    booking_body: Any,
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}"
    period = (
        await roster.post(
            f"{url}/unavailability",
            headers=pd,
            json={"start": "2027-02-01", "end": "2027-02-05", "reason": "Leave"},
        )
    ).json()
    await roster.post(f"{url}/bookings", json=booking_body("2027-03-01", "2027-03-05"), headers=matching)
    march = (
        await roster.get(f"{url}/calendar", headers=pd, params={"from": "2027-03-01", "to": "2027-03-31"})
    ).json()
    assert march["from"] == "2027-03-01"
    assert march["unavailability"] == []
    assert [b["start"] for b in march["bookings"]] == ["2027-03-01"]
    removed = await roster.delete(f"{url}/unavailability/{period['id']}", headers=pd)
    assert removed.status_code == 204
    again = await roster.delete(f"{url}/unavailability/{period['id']}", headers=pd)
    assert again.status_code == 404
