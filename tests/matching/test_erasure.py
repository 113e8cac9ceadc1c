"""Erasure erases, across the system (issue 9): after `DELETE /v1/experts/{id}` no endpoint of
any service, no row of any service's database and no log line holds the person's name or email."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Connection

from mnr_shared.db import create_engine
from mnr_shared.observability import JsonFormatter
from mnr_shared.testing import Databases, bearer

NAME = "Ottilie Wrenfield-Asante"
EMAIL = "ottilie.wrenfield@example.org"
PHONE = "+233 555 019 284"
SUMMARY = "Ran the Accra hotline pilot for reporting online abuse."
PERSONAL = (NAME, EMAIL, PHONE, SUMMARY)

Headers = dict[str, dict[str, str]]


def _body() -> dict[str, Any]:
    today = date.today()
    return {
        "full_name": NAME,
        "email": EMAIL,
        "phone": PHONE,
        "nationalities": ["GHA"],
        "residence_country": "GHA",
        "gender": "female",
        "summary": SUMMARY,
        "years_experience": 12,
        "daily_rate": {"amount": "480.00", "currency": "USD"},
        "status": "active",
        "modality": "either",
        "capabilities": [{"capability": 3, "level": 4}, {"capability": 5, "level": 3}],
        "languages": [{"tag": "en", "level": "C2"}],
        "country_experience": ["KEN"],
        "vetting": {
            "references_checked_on": (today - timedelta(days=40)).isoformat(),
            "safeguarding_check_on": (today - timedelta(days=20)).isoformat(),
        },
    }


async def _dump(url: str) -> str:
    """Every row of every table of one database, as text."""
    engine = create_engine(url)

    def read(connection: Connection) -> str:
        tables = MetaData()
        tables.reflect(connection)
        return "\n".join(
            f"{table.name}: {row}"
            for table in tables.sorted_tables
            for row in connection.execute(select(table)).all()
        )

    async with engine.connect() as connection:
        text = await connection.run_sync(read)
    await engine.dispose()
    return text


async def _all_databases(databases: Databases) -> str:
    assert set(databases.used) == {"roster", "requests", "matching"}
    return "\n".join([await _dump(url) for url, _ in databases.used.values()])


def _leaks(text: str) -> list[str]:
    return [value for value in PERSONAL if value.lower() in text.lower()]


async def _setup(
    system: Any, people: Headers, make_request: Any
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The expert (created with an Idempotency-Key), a request, and an approved (offered) match
    whose note names the expert."""
    created = await system.roster.post(
        "/v1/experts", json=_body(), headers={**people["pd"], "Idempotency-Key": f"create-{EMAIL}"}
    )
    assert created.status_code == 201, created.text
    expert_id: str = created.json()["id"]
    await system.sync()
    request = await make_request()
    approved = await system.matching.post(
        "/v1/matches",
        json={"request_id": request["id"], "expert_id": expert_id, "note": f"{NAME} is the best fit."},
        headers={**people["pd"], "Idempotency-Key": "approve-ottilie"},
    )
    assert approved.status_code == 201, approved.text
    return expert_id, request, approved.json()


async def _erase(system: Any, people: Headers, expert_id: str) -> None:
    etag = (await system.roster.get(f"/v1/experts/{expert_id}", headers=people["admin"])).headers["etag"]
    erased = await system.roster.delete(
        f"/v1/experts/{expert_id}", headers={**people["admin"], "If-Match": etag}
    )
    assert erased.status_code == 204, erased.text
    await system.sync()


async def _every_endpoint(
    system: Any, people: Headers, expert_id: str, request: dict[str, Any], match: dict[str, Any]
) -> dict[str, httpx.Response]:
    """Every route of every service that can answer about this expert, their match or request."""
    pd, admin = people["pd"], people["admin"]
    expert_url, request_id = f"/v1/experts/{expert_id}", request["id"]
    search = {key: request[key] for key in ("country", "capabilities", "languages", "start_date", "end_date")}
    r, m, q = system.roster, system.matching, system.requests
    answers = {
        "roster experts": await r.get("/v1/experts", headers=pd, params={"limit": 200}),
        "roster search by name": await r.get("/v1/experts", headers=pd, params={"q": "Wrenfield"}),
        "roster expert": await r.get(expert_url, headers=pd),
        "roster expert (admin)": await r.get(expert_url, headers=admin),
        "roster history": await r.get(f"{expert_url}/history", headers=pd),
        "roster calendar": await r.get(f"{expert_url}/calendar", headers=pd),
        "roster export": await r.get("/v1/experts/export", headers=pd, params={"format": "csv"}),
        "roster feed": await r.get("/v1/changes", headers=admin, params={"limit": 1000}),
        "roster booking of match": await r.get("/v1/bookings", headers=pd, params={"match_id": match["id"]}),
        "matching matches": await m.get("/v1/matches", headers=pd),
        "matching matches of expert": await m.get("/v1/matches", headers=pd, params={"expert_id": expert_id}),
        "matching match": await m.get(f"/v1/matches/{match['id']}", headers=pd),
        "matching candidates": await m.get(f"/v1/requests/{request_id}/candidates", headers=pd),
        "matching search": await m.post("/v1/search", headers=pd, json={**search, "effort_days": 5}),
        "matching approve repeated": await m.post(
            "/v1/matches",
            json={"request_id": request_id, "expert_id": expert_id, "note": f"{NAME} is the best fit."},
            headers={**pd, "Idempotency-Key": "approve-ottilie"},
        ),
        "requests request": await q.get(f"/v1/requests/{request_id}", headers=pd),
        "requests history": await q.get(f"/v1/requests/{request_id}/history", headers=pd),
        "requests comments": await q.get(f"/v1/requests/{request_id}/comments", headers=pd),
    }
    booking = answers["roster booking of match"].json()["items"]
    if booking:
        answers["roster booking"] = await r.get(f"/v1/bookings/{booking[0]['id']}", headers=pd)
    return answers


async def test_after_erasure_no_endpoint_table_or_log_line_holds_the_name_or_email(
    system: Any,
    people: Headers,
    make_request: Any,
    databases: Databases,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    expert_id, request, match = await _setup(system, people, make_request)
    # The person's data is everywhere before: in the match, in the index, in rows of two services.
    assert match["expert_name"] == NAME
    assert system.ctx.index.row_of(expert_id) is not None
    assert _leaks(await _all_databases(databases)) == list(PERSONAL)
    # And the answers would show it: the sweep below can see a leak.
    assert NAME in (await _every_endpoint(system, people, expert_id, request, match))["matching match"].text

    await _erase(system, people, expert_id)

    answers = await _every_endpoint(system, people, expert_id, request, match)
    leaking = {route: _leaks(response.text) for route, response in answers.items() if _leaks(response.text)}
    assert leaking == {}
    assert answers["roster expert"].json()["erased"] is True
    assert answers["roster history"].status_code == 200
    assert answers["matching match"].json()["expert_name"] is None
    assert _leaks(await _all_databases(databases)) == []
    lines = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert _leaks(lines) == []
    assert system.ctx.index.row_of(expert_id) is None


async def test_matching_forgets_the_name_in_its_matches_on_the_feeds_delete(
    system: Any, people: Headers, make_request: Any
) -> None:
    # Issue 9, reproduction 3: matching still showed `expert_name` after erasure.
    expert_id, _, match = await _setup(system, people, make_request)
    assert match["breakdown"]["full_name"] == NAME

    await _erase(system, people, expert_id)

    after = (await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])).json()
    assert after["expert_name"] is None
    assert after["breakdown"]["full_name"] is None
    assert after["note"] == "[erased] is the best fit."
    assert (after["status"], after["score"], after["expert_id"]) == ("offered", match["score"], expert_id)
    assert system.ctx.index.row_of(expert_id) is None
    # The feed replayed from the start (a restart) forgets again and changes nothing more.
    system.ctx.index.seq = 0
    await system.sync()
    again = (await system.matching.get(f"/v1/matches/{match['id']}", headers=people["pd"])).json()
    assert again["updated_at"] == after["updated_at"]


async def test_an_erased_expert_is_never_matched_again(
    system: Any, people: Headers, make_request: Any, token_for: Any
) -> None:
    expert_id, _, _ = await _setup(system, people, make_request)
    await _erase(system, people, expert_id)
    other = await make_request()

    response = await system.matching.post(
        "/v1/matches", json={"request_id": other["id"], "expert_id": expert_id}, headers=people["pd"]
    )
    expert = bearer(await token_for("expert", sub="ottilie", expert_id=expert_id))
    mine = await system.matching.get("/v1/matches", headers=expert)

    assert response.status_code == 409, response.text
    assert response.json()["reason"] == "not_in_roster"
    assert _leaks(response.text + mine.text) == []
