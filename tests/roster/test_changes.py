"""The change feed: one item per change, strictly increasing, nothing lost under concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def _feed(roster: httpx.AsyncClient, headers: dict[str, str], after: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = (await roster.get("/v1/changes", params={"after": after, "limit": 7}, headers=headers)).json()
        items += page["items"]
        if not page["items"]:
            return items
        after = page["next_after"]


async def test_every_write_appends_one_item_with_the_projection(
    roster: httpx.AsyncClient,
    matching: dict[str, str],
    pd: dict[str, str],
    make_expert: Any,
    etag_of: Any,
    booking_body: Any,
) -> None:
    expert = await make_expert()
    eid = expert["id"]
    await roster.patch(
        f"/v1/experts/{eid}",
        json={"capabilities": [{"capability": 12, "level": 4}]},
        headers={**pd, "If-Match": await etag_of(eid, pd)},
    )
    await roster.post(
        f"/v1/experts/{eid}/unavailability", headers=pd, json={"start": "2027-02-01", "end": "2027-02-03"}
    )
    await roster.post(
        f"/v1/experts/{eid}/bookings", json=booking_body("2027-03-01", "2027-03-05"), headers=matching
    )
    items = await _feed(roster, matching)
    assert [i["kind"] for i in items] == ["upsert"] * 4
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(set(seqs))
    last = items[-1]["expert"]
    assert last["capabilities"] == [{"capability": 12, "level": 4}]
    assert last["unavailability"] == [{"start": "2027-02-01", "end": "2027-02-03"}]
    assert [(b["start"], b["status"]) for b in last["bookings"]] == [("2027-03-01", "hold")]
    assert last["regions"] == ["ESARO"]
    assert "email" not in last
    assert "daily_rate" not in last


async def test_after_skips_what_was_already_applied(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any
) -> None:
    for _ in range(3):
        await make_expert()
    everything = await _feed(roster, matching)
    tail = await _feed(roster, matching, after=everything[0]["seq"])
    assert [i["seq"] for i in tail] == [i["seq"] for i in everything[1:]]
    empty = (
        await roster.get("/v1/changes", params={"after": everything[-1]["seq"]}, headers=matching)
    ).json()
    assert empty == {"items": [], "next_after": everything[-1]["seq"]}


async def test_twenty_concurrent_writers_lose_nothing_and_a_poller_never_skips(
    roster: httpx.AsyncClient, matching: dict[str, str], pd: dict[str, str], make_expert: Any
) -> None:
    experts = [await make_expert() for _ in range(20)]
    start = (await _feed(roster, matching))[-1]["seq"]
    seen: list[int] = []
    done = asyncio.Event()

    async def poll() -> None:
        after = start
        while True:
            finished = done.is_set()
            page = (await roster.get("/v1/changes", params={"after": after}, headers=matching)).json()
            seen.extend(i["seq"] for i in page["items"])
            after = page["next_after"]
            if finished and not page["items"]:
                return
            await asyncio.sleep(0)

    async def write(expert: dict[str, Any], n: int) -> int:
        response = await roster.post(
            f"/v1/experts/{expert['id']}/unavailability",
            headers=pd,
            json={"start": f"2027-06-{n + 1:02d}", "end": f"2027-06-{n + 2:02d}"},
        )
        return response.status_code

    poller = asyncio.create_task(poll())
    statuses = await asyncio.gather(*[write(e, n) for n, e in enumerate(experts)])
    done.set()
    await poller
    assert statuses == [201] * 20
    final = [i["seq"] for i in await _feed(roster, matching, after=start)]
    assert len(final) == 20
    # What the poller saw, in order, is exactly the final feed: no item appeared behind it.
    assert seen == final


async def test_erasure_emits_a_delete_and_removes_personal_data(
    roster: httpx.AsyncClient,
    matching: dict[str, str],
    admin: dict[str, str],
    pd: dict[str, str],
    make_expert: Any,
    etag_of: Any,
    booking_body: Any,
) -> None:
    expert = await make_expert()
    eid = expert["id"]
    booking = (await roster.post(f"/v1/experts/{eid}/bookings", json=booking_body(), headers=matching)).json()
    response = await roster.delete(
        f"/v1/experts/{eid}", headers={**admin, "If-Match": await etag_of(eid, admin)}
    )
    assert response.status_code == 204
    last = (await _feed(roster, matching))[-1]
    assert (last["expert_id"], last["kind"], last["expert"]) == (eid, "delete", None)
    tombstone = await roster.get(f"/v1/experts/{eid}", headers=pd)
    assert tombstone.status_code == 200
    assert tombstone.json()["erased"] is True
    assert tombstone.json()["full_name"] is None
    listed = (await roster.get("/v1/experts", headers=pd)).json()["items"]
    assert eid not in {e["id"] for e in listed}
    # The tombstone keeps bookings consistent: the booking is still there, by id.
    kept = await roster.get(f"/v1/bookings/{booking['id']}", headers=matching)
    assert kept.status_code == 200
    # The old email is free again: the personal data is gone, not hidden.
    again = await roster.post(
        "/v1/experts", headers=pd, json={"full_name": "Someone Else", "email": expert["email"]}
    )
    assert again.status_code == 201


async def test_erasure_needs_if_match(
    roster: httpx.AsyncClient, admin: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert()
    response = await roster.delete(f"/v1/experts/{expert['id']}", headers=admin)
    assert response.status_code == 428
