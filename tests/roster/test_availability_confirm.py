"""An expert's "my availability is up to date": recorded, audited, an event, and set by changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from mnr_shared.testing import bearer


async def _confirmed_at(roster: httpx.AsyncClient, expert_id: str, headers: dict[str, str]) -> str | None:
    calendar = await roster.get(f"/v1/experts/{expert_id}/calendar", headers=headers)
    assert calendar.status_code == 200, calendar.text
    value: str | None = calendar.json()["availability_confirmed_at"]
    return value


async def test_the_expert_confirms_and_the_roster_records_when(
    roster: httpx.AsyncClient, admin: dict[str, str], pd: dict[str, str], token_for: Any, make_expert: Any
) -> None:
    expert = await make_expert()
    me = bearer(await token_for("expert", sub="e-self", expert_id=expert["id"]))
    assert await _confirmed_at(roster, expert["id"], pd) is None

    answer = await roster.post(f"/v1/experts/{expert['id']}/availability/confirm", headers=me)

    assert answer.status_code == 200, answer.text
    confirmed = answer.json()["availability_confirmed_at"]
    assert datetime.fromisoformat(confirmed).tzinfo is not None
    assert await _confirmed_at(roster, expert["id"], me) == confirmed
    history = (await roster.get(f"/v1/experts/{expert['id']}/history", headers=pd)).json()["items"]
    assert "availability:confirm" in [entry["action"] for entry in history]
    events = (
        await roster.get("/v1/events", params={"types": "availability.confirmed"}, headers=admin)
    ).json()
    assert [(e["subject"], e["actor"]) for e in events["items"]] == [(expert["id"], "e-self")]


async def test_changing_unavailability_counts_as_confirming(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert()
    added = await roster.post(
        f"/v1/experts/{expert['id']}/unavailability",
        json={"start": "2027-05-03", "end": "2027-05-07"},
        headers=pd,
    )
    assert added.status_code == 201, added.text
    after_add = await _confirmed_at(roster, expert["id"], pd)
    assert after_add is not None

    removed = await roster.delete(
        f"/v1/experts/{expert['id']}/unavailability/{added.json()['id']}", headers=pd
    )
    assert removed.status_code == 204
    after_remove = await _confirmed_at(roster, expert["id"], pd)
    assert after_remove is not None
    assert after_remove >= after_add


async def test_only_the_expert_and_the_programme_division_may_confirm(
    roster: httpx.AsyncClient, pd: dict[str, str], office: dict[str, str], token_for: Any, make_expert: Any
) -> None:
    expert, other = await make_expert(), await make_expert()
    someone_else = bearer(await token_for("expert", sub="e-other", expert_id=other["id"]))
    url = f"/v1/experts/{expert['id']}/availability/confirm"

    assert (await roster.post(url, headers=someone_else)).status_code in (403, 404)
    assert (await roster.post(url, headers=office)).status_code in (403, 404)
    assert (await roster.post(url)).status_code == 401
    assert await _confirmed_at(roster, expert["id"], pd) is None
    assert (await roster.post(url, headers=pd)).status_code == 200
    missing = await roster.post(
        "/v1/experts/00000000-0000-4000-8000-000000000000/availability/confirm", headers=pd
    )
    assert missing.status_code == 404
