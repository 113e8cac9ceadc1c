"""The roster's outbox: an event per change in the change's own transaction, served in order."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from mnr_shared.testing import bearer

PERSONAL = ("full_name", "email", "phone", "daily_rate", "gender")


async def _events(roster: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await roster.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_every_change_writes_one_event_in_order_with_no_personal_data(
    roster: httpx.AsyncClient,
    admin: dict[str, str],
    pd: dict[str, str],
    matching: dict[str, str],
    make_expert: Any,
    booking_body: Any,
    etag_of: Any,
) -> None:
    expert = await make_expert(status="active")
    url = f"/v1/experts/{expert['id']}"
    updated = await roster.patch(
        url,
        json={"summary": "Now also trains prosecutors."},
        headers={**pd, "If-Match": await etag_of(expert["id"], pd)},
    )
    assert updated.status_code == 200, updated.text
    moved = await roster.post(f"{url}/status", json={"status": "inactive", "reason": "Paused"}, headers=pd)
    assert moved.status_code == 200, moved.text
    await roster.post(f"{url}/status", json={"status": "active", "reason": "Back"}, headers=pd)
    period = await roster.post(
        f"{url}/unavailability", json={"start": "2027-05-03", "end": "2027-05-07"}, headers=pd
    )
    assert period.status_code == 201, period.text
    body = booking_body("2027-04-05", "2027-04-16")
    hold = await roster.post(f"{url}/bookings", json=body, headers=matching)
    assert hold.status_code == 201, hold.text
    booking = hold.json()["id"]
    assert (await roster.post(f"/v1/bookings/{booking}/confirm", headers=matching)).status_code == 200

    page = await _events(roster, admin)

    assert [(e["type"], e["subject"]) for e in page["items"]] == [
        ("expert.created", expert["id"]),
        ("expert.updated", expert["id"]),
        ("expert.status_changed", expert["id"]),
        ("expert.status_changed", expert["id"]),
        ("availability.changed", expert["id"]),
        ("booking.held", booking),
        ("booking.confirmed", booking),
    ]
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert len({e["id"] for e in page["items"]}) == len(seqs)
    assert page["next_after"] == seqs[-1]
    created, changed, suspended = page["items"][0], page["items"][1], page["items"][2]
    assert created["data"]["status"] == "active"
    assert changed["data"]["fields"] == ["summary"]
    assert suspended["data"]["status"] == "inactive"
    assert suspended["actor"] == "pd-1"
    held = page["items"][5]["data"]
    assert held == {
        "expert_id": expert["id"],
        "request_id": body["request_id"],
        "match_id": body["match_id"],
        "start": "2027-04-05",
        "end": "2027-04-16",
        "status": "hold",
    }
    assert page["items"][5]["actor"] == "service:matching-service"
    text = str(page)
    assert not [word for word in PERSONAL if word in text]
    assert expert["email"] not in text
    assert "Paused" not in text
    assert "prosecutors" not in text


async def test_a_refused_change_writes_no_event(
    roster: httpx.AsyncClient, admin: dict[str, str], pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert()
    before = await _events(roster, admin)
    duplicate = await roster.post(
        "/v1/experts", json={**_body_of(expert), "email": expert["email"]}, headers=pd
    )
    assert duplicate.status_code == 409, duplicate.text

    after = await _events(roster, admin, after=before["next_after"])

    assert after["items"] == []
    assert after["next_after"] == before["next_after"]


def _body_of(expert: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "full_name",
        "summary",
        "modality",
        "capabilities",
        "languages",
        "nationalities",
        "country_experience",
    )
    return {k: expert[k] for k in keep if k in expert}


async def test_paging_and_the_types_filter(
    roster: httpx.AsyncClient, admin: dict[str, str], pd: dict[str, str], make_expert: Any
) -> None:
    experts = [await make_expert() for _ in range(3)]
    moved = await roster.post(
        f"/v1/experts/{experts[1]['id']}/status", json={"status": "inactive", "reason": "Away"}, headers=pd
    )
    assert moved.status_code == 200, moved.text

    first = await _events(roster, admin, limit=2)
    rest = await _events(roster, admin, after=first["next_after"], limit=10)
    only = await _events(roster, admin, types="expert.status_changed,booking.held")
    repeated = await _events(roster, admin, types=["expert.status_changed", "booking.held"])

    assert [e["subject"] for e in first["items"]] == [experts[0]["id"], experts[1]["id"]]
    assert [e["type"] for e in rest["items"]] == ["expert.created", "expert.status_changed"]
    assert [e["subject"] for e in only["items"]] == [experts[1]["id"]]
    assert only["items"] == repeated["items"]
    # A filtered page that reached the end moves past what it scanned.
    assert only["next_after"] == rest["next_after"]
    bad = await roster.get("/v1/events", params={"types": "not a type"}, headers=admin)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_who_may_read_the_stream(
    roster: httpx.AsyncClient,
    admin: dict[str, str],
    pd: dict[str, str],
    matching: dict[str, str],
    service_token: Any,
) -> None:
    integrator = bearer(await service_token("demo-integrator"))
    assert (await roster.get("/v1/events", headers=admin)).status_code == 200
    assert (await roster.get("/v1/events", headers=integrator)).status_code == 200
    assert (await roster.get("/v1/events", headers=pd)).status_code == 403
    assert (await roster.get("/v1/events", headers=matching)).status_code == 403
    assert (await roster.get("/v1/events")).status_code == 401


async def test_concurrent_writers_each_get_one_event_in_a_strictly_increasing_stream(
    roster: httpx.AsyncClient, admin: dict[str, str], make_expert: Any
) -> None:
    created = await asyncio.gather(*(make_expert() for _ in range(12)))

    page = await _events(roster, admin)

    assert sorted(e["subject"] for e in page["items"]) == sorted(c["id"] for c in created)
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == sorted(set(seqs))


async def test_a_position_past_the_end_of_any_stream_is_an_empty_page(
    roster: httpx.AsyncClient, admin: dict[str, str], make_expert: Any
) -> None:
    await make_expert()
    far = 2**63 - 1

    page = await _events(roster, admin, after=far)

    assert page == {"items": [], "next_after": far}
