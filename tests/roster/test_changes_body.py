"""The change feed serves each stored projection's own text: the same JSON, key for key and in the
same order, as decoding every projection and re-encoding the page did, for projections stored
now (check date last), stored by earlier code (check date anywhere) and rewritten by erasure."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from mnr_shared.testing import RoutingTransport
from roster_service.feed.service import _FeedWriter, served
from roster_service.models import Change
from roster_service.profiles import VettingRules
from roster_service.schemas import ChangeItem, ChangesPage

# A name that looks like the tail the feed splices, with quotes, a backslash and non-ASCII text.
TRICKY_NAME = 'Zoë "Q" O\'Brien \\ 名前, "safeguarding_check_on": null}'
CHECKED = (date.today() - timedelta(days=30)).isoformat()


async def _stored_rows(transport: RoutingTransport) -> list[Change]:
    async with transport.apps["roster.test"].state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list((await session.scalars(select(Change).order_by(col(Change.seq)))).all())


def _rules(transport: RoutingTransport) -> VettingRules:
    settings = transport.apps["roster.test"].state.settings  # type: ignore[attr-defined]
    return VettingRules(valid_months=int(settings.vetting_valid_months))


def _as_before(rows: list[Change], rules: VettingRules, after: int = 0) -> dict[str, Any]:
    """The page as the feed built it before: each projection decoded, served, re-encoded."""
    items = [
        ChangeItem(seq=r.seq or 0, expert_id=r.expert_id, kind=r.kind, expert=served(r.expert, rules))
        for r in rows
    ]
    page = ChangesPage(items=items, next_after=items[-1].seq if items else after)
    loaded: dict[str, Any] = json.loads(page.model_dump_json())
    return loaded


async def _page(roster: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> httpx.Response:
    response = await roster.get("/v1/changes", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def _legacy_row(transport: RoutingTransport, *, with_check: bool) -> None:
    """A feed item as the code before this one stored it: the check date among the other keys
    (or, before the vetting gate, no check date at all)."""
    projection: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "full_name": "Legacy Layout",
        "status": "active",
        "modality": "remote",
        "nationalities": ["UGA"],
        "residence_country": "UGA",
        "country_experience": ["UGA"],
        "regions": ["ESARO"],
        "capabilities": [{"capability": 3, "level": 4}],
        "languages": [{"tag": "en", "level": "C1"}],
        **({"safeguarding_check_on": CHECKED} if with_check else {}),
        "unavailability": [],
        "bookings": [],
        "version": 1,
        "updated_at": "2026-11-30T10:00:00+00:00",
    }
    async with transport.apps["roster.test"].state.sessionmaker() as session:  # type: ignore[attr-defined]
        session.add(Change(expert_id=uuid.UUID(projection["id"]), kind="upsert", expert=projection))
        await session.commit()


async def test_feed_body_is_the_json_the_decoded_path_served_key_for_key(
    roster: httpx.AsyncClient,
    transport: RoutingTransport,
    matching: dict[str, str],
    admin: dict[str, str],
    make_expert: Any,
    etag_of: Any,
    booking_body: Any,
) -> None:
    vetted = await make_expert(full_name=TRICKY_NAME)
    await roster.post(
        f"/v1/experts/{vetted['id']}/unavailability",
        headers=admin,
        json={"start": "2027-02-01", "end": "2027-02-03"},
    )
    booked = await roster.post(
        f"/v1/experts/{vetted['id']}/bookings",
        json=booking_body("2027-03-01", "2027-03-05"),
        headers=matching,
    )
    assert booked.status_code == 201, booked.text
    await make_expert(status="inactive", vetting={})  # no safeguarding check on record: null
    erased = await make_expert()
    gone = await roster.delete(
        f"/v1/experts/{erased['id']}", headers={**admin, "If-Match": await etag_of(erased["id"], admin)}
    )
    assert gone.status_code == 204, gone.text
    await _legacy_row(transport, with_check=True)
    await _legacy_row(transport, with_check=False)

    rows = await _stored_rows(transport)
    response = await _page(roster, matching, limit=1000)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    before = _as_before(rows, _rules(transport))
    # Equal as JSON, and in the same key order everywhere.
    assert body == before
    assert json.dumps(body) == json.dumps(before)
    kinds = [(i["kind"], (i["expert"] or {}).get("erased", False)) for i in body["items"]]
    assert {("upsert", False), ("upsert", True), ("delete", False)} <= set(kinds)
    assert {i["expert"]["full_name"] for i in body["items"] if i["kind"] == "upsert"} >= {
        TRICKY_NAME,
        "Legacy Layout",
    }
    assert {i["expert"]["vetting_valid_until"] is None for i in body["items"] if i["expert"]} == {True, False}
    assert all("safeguarding_check_on" not in (i["expert"] or {}) for i in body["items"])

    # Page by page, the same items and the same resume points.
    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await _page(roster, matching, after=after, limit=2)).json()
        assert page == _as_before([r for r in rows if (r.seq or 0) > after][:2], _rules(transport), after)
        if not page["items"]:
            break
        seen += page["items"]
        after = page["next_after"]
    assert seen == body["items"]


async def test_stored_projections_keep_the_check_date_last_through_erasure(
    roster: httpx.AsyncClient,
    transport: RoutingTransport,
    admin: dict[str, str],
    make_expert: Any,
    etag_of: Any,
) -> None:
    # Last, the feed splices the expiry in for it without decoding the projection.
    kept = await make_expert()
    erased = await make_expert()
    await roster.delete(
        f"/v1/experts/{erased['id']}", headers={**admin, "If-Match": await etag_of(erased["id"], admin)}
    )
    rows = [r for r in await _stored_rows(transport) if r.expert is not None]
    assert {str(r.expert_id) for r in rows} == {kept["id"], erased["id"]}
    assert [list(r.expert or {})[-1] for r in rows] == ["safeguarding_check_on"] * len(rows)
    forgotten = [r.expert or {} for r in rows if str(r.expert_id) == erased["id"]]
    assert forgotten
    assert all(p["erased"] is True and p["safeguarding_check_on"] is None for p in forgotten)


def test_the_writer_splices_stored_text_as_served_in_any_spacing() -> None:
    rules = VettingRules(valid_months=6)
    head = {"id": "x", "full_name": TRICKY_NAME, "bookings": [{"id": "b", "request_id": "r"}]}
    for check in (CHECKED, None):
        stored = {**head, "safeguarding_check_on": check}
        expected = served(stored, rules)
        for text in (
            json.dumps(stored),
            json.dumps(stored, separators=(",", ":")),
            json.dumps(stored, ensure_ascii=False, indent=2),
            # The check date among the other keys: decoded, served all the same.
            json.dumps({"safeguarding_check_on": check, **head}),
        ):
            written = _FeedWriter(rules).projection(text)
            assert json.dumps(json.loads(written)) == json.dumps(expected), text
    assert _FeedWriter(rules).projection(None) == b"null"
    assert _FeedWriter(rules).projection("null") == b"null"


async def test_changes_still_documents_the_changes_page(roster: httpx.AsyncClient) -> None:
    spec = (await roster.get("/openapi.json")).json()
    answer = spec["paths"]["/v1/changes"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChangesPage"}
    limit = next(p for p in spec["paths"]["/v1/changes"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
