"""Holds, confirmations and releases: one expert is never booked twice, whatever the concurrency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mnr_shared.db import create_engine


async def test_overlapping_hold_is_409_naming_the_conflicting_period(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any, booking_body: Any
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}/bookings"
    first = await roster.post(url, json=booking_body("2027-04-05", "2027-04-16"), headers=matching)
    assert first.status_code == 201
    clash = await roster.post(url, json=booking_body("2027-04-16", "2027-04-20"), headers=matching)
    assert clash.status_code == 409
    problem = clash.json()
    assert problem["type"] == "urn:mnr:problem:calendar-conflict"
    assert problem["conflicting"] == {
        "kind": "booking",
        "id": first.json()["id"],
        "start": "2027-04-05",
        "end": "2027-04-16",
    }
    adjacent = await roster.post(url, json=booking_body("2027-04-17", "2027-04-20"), headers=matching)
    assert adjacent.status_code == 201


async def test_a_hold_may_span_declared_unavailability_which_stays(
    roster: httpx.AsyncClient,
    matching: dict[str, str],
    pd: dict[str, str],
    make_expert: Any,
    booking_body: Any,
) -> None:
    # The window is when the work may happen; matching has checked its free days cover the
    # effort, so a few days away inside it do not refuse the hold (nor vanish).
    expert = await make_expert()
    period = await roster.post(
        f"/v1/experts/{expert['id']}/unavailability",
        headers=pd,
        json={"start": "2027-04-10", "end": "2027-04-12"},
    )
    response = await roster.post(
        f"/v1/experts/{expert['id']}/bookings",
        json=booking_body("2027-04-01", "2027-04-30"),
        headers=matching,
    )
    assert response.status_code == 201
    calendar = await roster.get(
        f"/v1/experts/{expert['id']}/calendar",
        params={"from": "2027-04-01", "to": "2027-04-30"},
        headers=pd,
    )
    assert [p["id"] for p in calendar.json()["unavailability"]] == [period.json()["id"]]
    assert [b["id"] for b in calendar.json()["bookings"]] == [response.json()["id"]]


async def test_unavailability_over_a_live_booking_is_409(
    roster: httpx.AsyncClient,
    matching: dict[str, str],
    pd: dict[str, str],
    make_expert: Any,
    booking_body: Any,
) -> None:
    expert = await make_expert()
    await roster.post(
        f"/v1/experts/{expert['id']}/bookings",
        json=booking_body("2027-04-01", "2027-04-30"),
        headers=matching,
    )
    response = await roster.post(
        f"/v1/experts/{expert['id']}/unavailability",
        headers=pd,
        json={"start": "2027-04-10", "end": "2027-04-12"},
    )
    assert response.status_code == 409


async def test_hold_for_an_inactive_expert_is_409(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any, booking_body: Any
) -> None:
    expert = await make_expert(status="applicant")
    response = await roster.post(
        f"/v1/experts/{expert['id']}/bookings", json=booking_body(), headers=matching
    )
    assert response.status_code == 409
    assert response.json()["type"] == "urn:mnr:problem:expert-not-active"


async def test_fifty_concurrent_overlapping_holds_yield_exactly_one(
    roster: httpx.AsyncClient,
    matching: dict[str, str],
    pd: dict[str, str],
    make_expert: Any,
    booking_body: Any,
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}/bookings"
    # Every window contains 10 May, so any two of them overlap.
    bodies = [booking_body(f"2027-05-{1 + i % 10:02d}", f"2027-05-{10 + i % 10:02d}") for i in range(50)]
    responses = await asyncio.gather(*[roster.post(url, json=b, headers=matching) for b in bodies])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 49, [r.text for r in responses if r.status_code >= 500]
    calendar = (
        await roster.get(
            f"/v1/experts/{expert['id']}/calendar",
            headers=pd,
            params={"from": "2027-01-01", "to": "2027-12-31"},
        )
    ).json()
    assert len(calendar["bookings"]) == 1


async def test_idempotent_replay_returns_the_same_booking(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any, booking_body: Any
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}/bookings"
    body = booking_body()
    key = {"Idempotency-Key": body["match_id"]}
    first = await roster.post(url, json=body, headers={**matching, **key})
    again = await roster.post(url, json=body, headers={**matching, **key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    other_body = await roster.post(url, json=booking_body(), headers={**matching, **key})
    assert other_body.status_code == 422


async def test_same_match_without_key_returns_its_existing_hold(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any, booking_body: Any
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}/bookings"
    body = booking_body()
    first = await roster.post(url, json=body, headers=matching)
    again = await roster.post(url, json=body, headers=matching)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    moved = await roster.post(
        url, json={**body, "start": "2028-01-01", "end": "2028-01-02"}, headers=matching
    )
    assert moved.status_code == 409


async def test_confirm_then_release_frees_the_dates(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any, booking_body: Any
) -> None:
    expert = await make_expert()
    url = f"/v1/experts/{expert['id']}/bookings"
    booking = (await roster.post(url, json=booking_body(), headers=matching)).json()
    confirmed = await roster.post(f"/v1/bookings/{booking['id']}/confirm", headers=matching)
    assert confirmed.json()["status"] == "confirmed"
    assert (await roster.post(f"/v1/bookings/{booking['id']}/confirm", headers=matching)).status_code == 200
    assert (await roster.post(url, json=booking_body(), headers=matching)).status_code == 409
    released = await roster.post(f"/v1/bookings/{booking['id']}/release", headers=matching)
    assert released.json()["status"] == "released"
    assert (await roster.post(f"/v1/bookings/{booking['id']}/confirm", headers=matching)).status_code == 409
    assert (await roster.post(url, json=booking_body(), headers=matching)).status_code == 201


async def test_unknown_booking_is_404(roster: httpx.AsyncClient, matching: dict[str, str]) -> None:
    response = await roster.post(f"/v1/bookings/{uuid.uuid4()}/confirm", headers=matching)
    assert response.status_code == 404


async def test_postgresql_itself_refuses_overlapping_live_bookings(
    roster: httpx.AsyncClient,
    matching: dict[str, str],
    make_expert: Any,
    booking_body: Any,
    backend: str,
    databases: Any,
) -> None:
    """Below the service: a raw INSERT of an overlap fails on the exclusion constraint."""
    if backend != "postgresql":
        pytest.skip("the exclusion constraint is PostgreSQL's; SQLite serialises writers instead")
    expert = await make_expert()
    await roster.post(
        f"/v1/experts/{expert['id']}/bookings",
        json=booking_body("2027-04-05", "2027-04-16"),
        headers=matching,
    )
    engine = create_engine(databases.used["roster"][0])
    insert = text(
        "INSERT INTO bookings (id, expert_id, start_date, end_date, status, request_id, match_id,"
        " created_at, updated_at) VALUES (:id, :expert, '2027-04-10', '2027-04-20', 'hold', :r,"
        " :m, now(), now())"
    )
    params = {"id": uuid.uuid4(), "expert": uuid.UUID(expert["id"]), "r": uuid.uuid4(), "m": uuid.uuid4()}
    try:
        with pytest.raises(IntegrityError, match="ex_bookings_no_overlap"):
            async with engine.begin() as connection:
                await connection.execute(insert, params)
        async with engine.begin() as connection:  # released bookings do not block
            await connection.execute(text(insert.text.replace("'hold'", "'released'")), params)
    finally:
        await engine.dispose()


async def test_a_match_finds_its_booking_by_match_id(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any, booking_body: Any
) -> None:
    expert = await make_expert()
    body = booking_body()
    held = (await roster.post(f"/v1/experts/{expert['id']}/bookings", json=body, headers=matching)).json()
    found = (await roster.get("/v1/bookings", params={"match_id": body["match_id"]}, headers=matching)).json()
    assert [b["id"] for b in found["items"]] == [held["id"]]
    none = (await roster.get("/v1/bookings", params={"match_id": str(uuid.uuid4())}, headers=matching)).json()
    assert none == {"items": [], "next_cursor": None}
