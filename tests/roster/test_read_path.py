"""Reads never wait for writers: a GET answers while another transaction holds the write lock."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mnr_shared.testing import RoutingTransport, bearer

# Far below the 30 s busy timeout a read queued behind the writer would wait.
PATIENCE_SECONDS = 5


def _engine(transport: RoutingTransport) -> AsyncEngine:
    app: Any = transport.apps["roster.test"]
    engine: AsyncEngine = app.state.engine
    return engine


async def _hold_write_lock(writer: AsyncConnection, expert_id: str) -> None:
    """Start a writing transaction that touches the expert's row and leave it open: SQLite's
    BEGIN IMMEDIATE holds the database's write lock, PostgreSQL holds the row's lock."""
    key = expert_id if writer.dialect.name == "postgresql" else expert_id.replace("-", "")
    await writer.execute(text("UPDATE experts SET summary = 'being edited' WHERE id = :id"), {"id": key})


async def test_reads_answer_while_a_writer_holds_its_transaction_open(
    roster: httpx.AsyncClient, transport: RoutingTransport, pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert()
    async with _engine(transport).connect() as writer:
        await _hold_write_lock(writer, expert["id"])
        one = roster.get(f"/v1/experts/{expert['id']}", headers=pd)
        search = roster.get("/v1/experts", headers=pd)
        calendar = roster.get(f"/v1/experts/{expert['id']}/calendar", headers=pd)
        answers = await asyncio.wait_for(asyncio.gather(one, search, calendar), PATIENCE_SECONDS)
        await writer.rollback()
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    # The reads saw the last committed state, not the open transaction's.
    assert answers[0].json()["summary"] == expert["summary"]
    assert [e["id"] for e in answers[1].json()["items"]] == [expert["id"]]


async def test_writes_still_wait_for_each_other(
    roster: httpx.AsyncClient, transport: RoutingTransport, pd: dict[str, str], make_expert: Any
) -> None:
    """The read path did not loosen the writers: a write queues behind an open write transaction
    (SQLite's write lock; PostgreSQL's row lock) and goes through once it ends."""
    expert = await make_expert()
    etag = (await roster.get(f"/v1/experts/{expert['id']}", headers=pd)).headers["etag"]
    async with _engine(transport).connect() as writer:
        await _hold_write_lock(writer, expert["id"])
        patch = asyncio.ensure_future(
            roster.patch(
                f"/v1/experts/{expert['id']}", json={"summary": "Edited"}, headers={**pd, "If-Match": etag}
            )
        )
        await asyncio.sleep(0.5)
        assert not patch.done(), "the write did not wait for the open write transaction"
        await writer.rollback()
    answer = await asyncio.wait_for(patch, PATIENCE_SECONDS)
    assert answer.status_code == 200, answer.text
    assert answer.json()["summary"] == "Edited"


# --- the lean read of one expert answers what the session path answers -------------------------


async def _listed(roster: httpx.AsyncClient, headers: dict[str, str], expert_id: str) -> dict[str, Any]:
    """The expert as `GET /v1/experts` (the session and ORM path) shows them to this caller."""
    listed = await roster.get("/v1/experts", params={"limit": 200}, headers=headers)
    assert listed.status_code == 200, listed.text
    (item,) = [e for e in listed.json()["items"] if e["id"] == expert_id]
    found: dict[str, Any] = item
    return found


async def test_one_expert_reads_as_the_list_shows_them_to_every_kind_of_caller(
    roster: httpx.AsyncClient,
    pd: dict[str, str],
    office: dict[str, str],
    matching: dict[str, str],
    service_token: Any,
    make_expert: Any,
) -> None:
    expert = await make_expert(
        capabilities=[
            {"capability": 12, "level": 4},
            {"capability": 3, "level": 2},
            {"capability": 7, "level": 1},
        ],
        languages=[{"tag": "sw", "level": "B2"}, {"tag": "fr", "level": "C2"}, {"tag": "en", "level": "C2"}],
        country_experience=["UGA", "KEN", "AFG"],
        gender="female",
    )
    pii = bearer(await service_token("demo-integrator"))
    for headers in (pd, office, matching, pii):
        one = await roster.get(f"/v1/experts/{expert['id']}", headers=headers)
        assert one.status_code == 200, one.text
        assert one.headers["content-type"] == "application/json"
        assert one.json() == await _listed(roster, headers, expert["id"])
    full = (await roster.get(f"/v1/experts/{expert['id']}", headers=pd)).json()
    assert {k: v for k, v in full.items() if k != "languages"} == {
        k: v for k, v in expert.items() if k != "languages"
    }  # what the create answered (which keeps the languages in the order they were sent)
    assert [c["capability"] for c in full["capabilities"]] == [3, 7, 12]
    assert [lang["tag"] for lang in full["languages"]] == ["en", "fr", "sw"]


async def test_one_expert_carries_the_etag_a_write_answers(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert()
    first = await roster.get(f"/v1/experts/{expert['id']}", headers=pd)
    patched = await roster.patch(
        f"/v1/experts/{expert['id']}",
        json={"summary": "Edited"},
        headers={**pd, "If-Match": first.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    after = await roster.get(f"/v1/experts/{expert['id']}", headers=pd)
    assert after.headers["etag"] == patched.headers["etag"] != first.headers["etag"]
    assert after.json()["summary"] == "Edited"


async def test_an_erased_expert_is_a_tombstone_for_pd_and_404_for_others(
    roster: httpx.AsyncClient,
    pd: dict[str, str],
    admin: dict[str, str],
    office: dict[str, str],
    make_expert: Any,
) -> None:
    expert = await make_expert()
    etag = (await roster.get(f"/v1/experts/{expert['id']}", headers=pd)).headers["etag"]
    erased = await roster.delete(f"/v1/experts/{expert['id']}", headers={**admin, "If-Match": etag})
    assert erased.status_code in (200, 204), erased.text
    tombstone = await roster.get(f"/v1/experts/{expert['id']}", headers=pd)
    assert tombstone.status_code == 200, tombstone.text
    assert tombstone.json()["erased"] is True
    assert tombstone.json()["full_name"] is None
    assert tombstone.json()["email"] is None
    assert (await roster.get(f"/v1/experts/{expert['id']}", headers=office)).status_code == 404
    assert (await roster.get(f"/v1/experts/{uuid.uuid4()}", headers=pd)).status_code == 404
