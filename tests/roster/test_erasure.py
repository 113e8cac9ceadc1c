"""Erasure erases (issue 9): earlier feed items, the audit trail and kept replies lose the
person's data; the anonymous tombstone and its history stay readable by PD and admin."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from mnr_shared.db import create_engine
from mnr_shared.testing import bearer, drop_everything
from roster_service.db import idempotency_keys
from roster_service.models import AuditEntry, Change, Expert

ROOT = Path(__file__).resolve().parents[2]

NAME = "Ottilie Wrenfield-Asante"
EMAIL = "ottilie.wrenfield@example.org"
PHONE = "+233 555 019 284"
SUMMARY = "Ran the Accra hotline pilot for reporting online abuse."
PERSONAL = (NAME, EMAIL, PHONE, SUMMARY, "Wrenfield")


async def _feed(roster: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await roster.get("/v1/changes", headers=headers, params={"after": after})).json()
        items += page["items"]
        if not page["items"]:
            return items
        after = page["next_after"]


def _absent(text: str) -> None:
    for value in PERSONAL:
        assert value not in text, f"{value!r} survives erasure in: {text[:300]}"


async def _erase(roster: httpx.AsyncClient, admin: dict[str, str], expert_id: str, etag_of: Any) -> None:
    response = await roster.delete(
        f"/v1/experts/{expert_id}", headers={**admin, "If-Match": await etag_of(expert_id, admin)}
    )
    assert response.status_code == 204, response.text


async def _self_registered(
    roster: httpx.AsyncClient, token_for: Any, pd: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """An expert who registered themself, edited their profile, and was vetted and activated by PD."""
    me = bearer(await token_for("expert", sub="ottilie-sub"))
    created = await roster.post(
        "/v1/experts",
        headers={**me, "Idempotency-Key": f"register-{EMAIL}"},
        json={
            "full_name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "nationalities": ["GHA"],
            "residence_country": "GHA",
            "gender": "female",
            "summary": SUMMARY,
            "capabilities": [{"capability": 12, "level": 3}],
            "languages": [{"tag": "en", "level": "C2"}],
            "country_experience": ["GHA"],
        },
    )
    assert created.status_code == 201, created.text
    expert_id: str = created.json()["id"]
    edited = await roster.patch(
        f"/v1/experts/{expert_id}",
        headers={**me, "If-Match": created.headers["etag"]},
        json={"summary": f"{SUMMARY} Also trained moderators."},
    )
    assert edited.status_code == 200, edited.text
    today = date.today()
    vetted = await roster.patch(
        f"/v1/experts/{expert_id}",
        headers={**pd, "If-Match": edited.headers["etag"]},
        json={
            "vetting": {
                "references_checked_on": (today - timedelta(days=9)).isoformat(),
                "safeguarding_check_on": (today - timedelta(days=3)).isoformat(),
            },
            "daily_rate": {"amount": "480.00", "currency": "USD"},
        },
    )
    assert vetted.status_code == 200, vetted.text
    activated = await roster.post(
        f"/v1/experts/{expert_id}/status",
        headers=pd,
        json={"status": "active", "reason": f"{NAME} passed the panel; references from {EMAIL}'s employer."},
    )
    assert activated.status_code == 200, activated.text
    return expert_id, me


async def test_earlier_feed_items_keep_nothing_personal_after_erasure(
    roster: httpx.AsyncClient,
    token_for: Any,
    pd: dict[str, str],
    admin: dict[str, str],
    matching: dict[str, str],
    etag_of: Any,
    booking_body: Any,
) -> None:
    # Issue 9, reproduction 3: old change-feed items still carried the name, nationality, residence.
    expert_id, _ = await _self_registered(roster, token_for, pd)
    booked = await roster.post(f"/v1/experts/{expert_id}/bookings", json=booking_body(), headers=matching)
    assert booked.status_code == 201, booked.text
    before = [i for i in await _feed(roster, matching) if i["expert_id"] == expert_id]
    assert any(i["expert"] and i["expert"]["full_name"] == NAME for i in before)  # the data was there

    await _erase(roster, admin, expert_id, etag_of)

    items = [i for i in await _feed(roster, matching) if i["expert_id"] == expert_id]
    assert [i["seq"] for i in items] == [i["seq"] for i in before] + [items[-1]["seq"]]
    assert (items[-1]["kind"], items[-1]["expert"]) == ("delete", None)
    for item in items[:-1]:
        projection = item["expert"]
        assert projection["erased"] is True
        assert projection["full_name"] is None
        assert projection["nationalities"] == []
        assert projection["residence_country"] is None
        assert projection["country_experience"] == projection["capabilities"] == []
        assert projection["vetting_valid_until"] is None
    _absent(str(items))
    assert "GHA" not in str(items)


async def test_history_of_an_erased_expert_stays_readable_by_pd_and_admin_and_is_anonymous(
    roster: httpx.AsyncClient,
    token_for: Any,
    pd: dict[str, str],
    admin: dict[str, str],
    office: dict[str, str],
    etag_of: Any,
) -> None:
    # Issue 9, reproduction 3: GET /v1/experts/{id}/history answered 404 after erasure.
    expert_id, me = await _self_registered(roster, token_for, pd)

    await _erase(roster, admin, expert_id, etag_of)

    for who in (pd, admin):
        response = await roster.get(f"/v1/experts/{expert_id}/history", headers=who)
        assert response.status_code == 200, response.text
        entries = response.json()["items"]
        assert [e["action"] for e in entries] == ["create", "update", "update", "status:active", "erase"]
        assert all(e["reason"] is None for e in entries)
        assert [e["actor_sub"] for e in entries[:2]] == ["erased-expert", "erased-expert"]
        assert entries[2]["actor_sub"] == "pd-1"
        assert entries[1]["changed_fields"] == ["summary"]  # which fields, never their values
        _absent(response.text)
        assert "ottilie-sub" not in response.text
    for who in (office, me):
        assert (await roster.get(f"/v1/experts/{expert_id}/history", headers=who)).status_code in (403, 404)


async def test_the_tombstone_is_anonymous_and_readable_by_pd_and_admin_only(
    roster: httpx.AsyncClient,
    token_for: Any,
    pd: dict[str, str],
    admin: dict[str, str],
    office: dict[str, str],
    matching: dict[str, str],
    etag_of: Any,
) -> None:
    expert_id, me = await _self_registered(roster, token_for, pd)

    await _erase(roster, admin, expert_id, etag_of)

    for who in (pd, admin):
        response = await roster.get(f"/v1/experts/{expert_id}", headers=who)
        assert response.status_code == 200, response.text
        tombstone = response.json()
        assert tombstone["erased"] is True
        for field in ("full_name", "email", "phone", "summary", "residence_country", "gender", "daily_rate"):
            assert tombstone[field] is None, field
        assert tombstone["nationalities"] == tombstone["capabilities"] == []
        assert tombstone["vetting"] == {
            "references_checked_on": None,
            "safeguarding_check_on": None,
            "bsafe_completed_on": None,
        }
        _absent(response.text)
    for who in (office, matching, me):
        assert (await roster.get(f"/v1/experts/{expert_id}", headers=who)).status_code == 404
    assert (await roster.get("/v1/experts/me", headers=me)).status_code == 404
    # Edits of a tombstone are 404: there is nothing left to edit.
    again = await roster.patch(
        f"/v1/experts/{expert_id}", headers={**pd, "If-Match": '"x"'}, json={"summary": "Back?"}
    )
    assert again.status_code == 404


async def test_a_create_repeated_after_erasure_is_not_answered_from_the_kept_reply(
    roster: httpx.AsyncClient, token_for: Any, pd: dict[str, str], admin: dict[str, str], etag_of: Any
) -> None:
    expert_id, _ = await _self_registered(roster, token_for, pd)
    await _erase(roster, admin, expert_id, etag_of)
    me_again = bearer(await token_for("expert", sub="ottilie-sub"))

    # The reply kept for the key held the whole profile: it went with the erasure.
    repeated = await roster.post(
        "/v1/experts",
        headers={**me_again, "Idempotency-Key": f"register-{EMAIL}"},
        json={"full_name": "Someone Else", "email": "someone.else@example.org"},
    )

    assert repeated.status_code == 201, repeated.text
    assert repeated.headers.get("idempotent-replayed") != "true"
    assert repeated.json()["id"] != expert_id
    _absent(repeated.text)


# --- experts erased before the upgrade --------------------------------------------------------


def _alembic(url: str) -> Config:
    config = Config(str(ROOT / "services" / "roster" / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


async def _run(url: str, *statements: Any) -> list[Any]:
    engine = create_engine(url)
    results: list[Any] = []
    async with engine.begin() as connection:
        for statement in statements:
            result = await connection.execute(statement)
            results.append(result.all() if result.returns_rows else None)
    await engine.dispose()
    return results


def test_the_upgrade_scrubs_what_erasures_before_it_left_behind(
    tmp_path: Path, pg_databases: dict[str, str], backend: str
) -> None:
    url = f"sqlite:///{tmp_path}/roster.db" if backend == "sqlite" else pg_databases["scratch"]
    if backend == "postgresql":
        asyncio.run(drop_everything(url))
    config = _alembic(url)
    erased, kept = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    experts, changes, audit = (Expert.__table__, Change.__table__, AuditEntry.__table__)  # type: ignore[attr-defined]
    old_projection = {"id": "", "full_name": NAME, "nationalities": ["GHA"], "years_experience": 9}
    try:
        command.upgrade(config, "0003")
        gone = {"id": erased, "nationalities": [], "erased_at": now, "version": 3, "status": "inactive"}
        vetted = {"id": kept, "full_name": "Kept Person", "nationalities": ["KEN"], "status": "active"}
        rows = [
            (experts, {**gone, "modality": "either", "created_at": now, "updated_at": now}),
            (
                experts,
                {**vetted, "safeguarding_check_on": date(2026, 5, 4), "modality": "either", "version": 1}
                | {"created_at": now, "updated_at": now},
            ),
            (
                changes,
                {"expert_id": erased, "kind": "upsert", "expert": {**old_projection, "id": str(erased)}},
            ),
            (changes, {"expert_id": erased, "kind": "delete", "expert": None}),
            (
                changes,
                {"expert_id": kept, "kind": "upsert"}
                | {"expert": {**old_projection, "id": str(kept), "full_name": "Kept Person"}},
            ),
            (
                audit,
                {"expert_id": erased, "actor_sub": "ottilie-sub", "actor_role": "expert", "action": "update"},
            ),
            (
                audit,
                {"expert_id": erased, "actor_sub": "pd-1", "actor_role": "programme_division"}
                | {"action": "status:active", "reason": f"{NAME} vetted."},
            ),
            (
                idempotency_keys,
                {"scope": "create-expert:pd-1", "key": f"create-{EMAIL}", "request_hash": "0" * 64}
                | {
                    "status_code": 201,
                    "response_body": {"id": str(erased), "full_name": NAME, "email": EMAIL},
                },
            ),
        ]
        for table, row in rows:
            row.setdefault("created_at" if table is not audit else "at", now)
            if table is audit:
                row.setdefault("changed_fields", [])
        asyncio.run(_run(url, *(table.insert().values(row) for table, row in rows)))

        command.upgrade(config, "head")

        feed, trail, replies = asyncio.run(
            _run(
                url,
                select(changes.c.expert_id, changes.c.expert).order_by(changes.c.seq),
                select(audit.c.actor_sub, audit.c.reason).order_by(audit.c.id),
                select(idempotency_keys.c.key),
            )
        )
        command.downgrade(config, "base")
    finally:
        if backend == "postgresql":
            asyncio.run(drop_everything(url))
    _absent(f"{feed} {trail} {replies}")
    assert "GHA" not in str(feed[0])
    assert feed[0][1]["erased"] is True
    assert feed[1][1] is None
    kept_projection = feed[2][1]
    assert kept_projection["full_name"] == "Kept Person"
    assert kept_projection["safeguarding_check_on"] == "2026-05-04"
    assert "years_experience" not in kept_projection
    assert trail == [("erased-expert", None), ("pd-1", None)]
    assert replies == []
