"""Reads never wait for writers: a GET answers while another transaction holds the write lock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mnr_shared.testing import RoutingTransport

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
