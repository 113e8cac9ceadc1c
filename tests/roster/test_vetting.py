"""The vetting gate (issue 9): an expert is active only with references checked and a safeguarding
check no older than `ROSTER_VETTING_VALID_MONTHS`; the feed carries when the check runs out; PD
lists whose checks fall due."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnr_shared.auth import AuthSettings
from mnr_shared.testing import Databases, RoutingTransport, bearer, running
from roster_service import models as roster_models
from roster_service.config import Settings as RosterSettings
from roster_service.main import create_app as create_roster
from roster_service.profiles import VettingRules, add_months

TODAY = date.today()


def _ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def _months_ago(months: int, days: int = 0) -> str:
    return (add_months(TODAY, -months) - timedelta(days=days)).isoformat()


def _vetting(references: str | None = None, safeguarding: str | None = None) -> dict[str, str | None]:
    return {"references_checked_on": references, "safeguarding_check_on": safeguarding}


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


# --- on create --------------------------------------------------------------------------------


async def test_creating_an_active_expert_with_no_vetting_dates_is_422_naming_both(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any
) -> None:
    # Issue 9, reproduction 5: an expert was activated with every vetting date empty.
    response = await roster.post("/v1/experts", headers=pd, json=expert_body(status="active", vetting=None))

    body = _problem(response, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "vetting", "references_checked_on"),
        ("body", "vetting", "safeguarding_check_on"),
    }
    assert (await roster.get("/v1/experts", headers=pd)).json()["items"] == []


async def test_creating_an_active_expert_with_an_expired_safeguarding_check_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any
) -> None:
    body = expert_body(status="active", vetting=_vetting(_ago(10), _months_ago(24, days=1)))

    problem = _problem(await roster.post("/v1/experts", headers=pd, json=body), 422)

    [error] = problem["errors"]
    assert error["loc"] == ["body", "vetting", "safeguarding_check_on"]
    assert "older than 24 months" in error["msg"]


async def test_a_safeguarding_check_exactly_24_months_old_still_counts(
    roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any
) -> None:
    body = expert_body(status="active", vetting=_vetting(_ago(10), _months_ago(24)))

    response = await roster.post("/v1/experts", headers=pd, json=body)

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active"


async def test_applicants_and_self_registration_need_no_vetting(
    roster: httpx.AsyncClient, pd: dict[str, str], token_for: Any, expert_body: Any
) -> None:
    applicant = await roster.post(
        "/v1/experts", headers=pd, json=expert_body(status="applicant", vetting=None)
    )
    me = bearer(await token_for("expert", sub="self-registering"))
    registered = await roster.post(
        "/v1/experts", headers=me, json=expert_body(status=None, vetting=None, daily_rate=None)
    )

    assert (applicant.status_code, registered.status_code) == (201, 201)
    assert registered.json()["status"] == "applicant"


# --- on status change and edit ------------------------------------------------------------------


async def test_activating_an_unvetted_applicant_is_409_and_changes_nothing(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    applicant = await make_expert(status="applicant", vetting=_vetting(references=_ago(5)))

    response = await roster.post(
        f"/v1/experts/{applicant['id']}/status", headers=pd, json={"status": "active", "reason": "Vetted."}
    )

    body = _problem(response, 409)
    assert body["type"] == "urn:mnr:problem:vetting-incomplete"
    assert [e["loc"] for e in body["errors"]] == [["vetting", "safeguarding_check_on"]]
    after = (await roster.get(f"/v1/experts/{applicant['id']}", headers=pd)).json()
    assert (after["status"], after["version"]) == ("applicant", applicant["version"])


async def test_recording_the_checks_then_activating_succeeds(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any
) -> None:
    applicant = await make_expert(status="applicant", vetting=None)
    url = f"/v1/experts/{applicant['id']}"

    patched = await roster.patch(
        url,
        headers={**pd, "If-Match": await etag_of(applicant["id"], pd)},
        json={"vetting": _vetting(_ago(20), _ago(3))},
    )
    moved = await roster.post(
        f"{url}/status", headers=pd, json={"status": "active", "reason": "Checks done."}
    )

    assert patched.status_code == 200, patched.text
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "active"


async def test_reactivating_with_an_expired_check_is_409(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any
) -> None:
    inactive = await make_expert(status="inactive", vetting=_vetting(_months_ago(30), _months_ago(25)))

    response = await roster.post(
        f"/v1/experts/{inactive['id']}/status", headers=pd, json={"status": "active", "reason": "Back."}
    )

    body = _problem(response, 409)
    assert "older than 24 months" in body["detail"]


async def test_clearing_an_active_experts_safeguarding_check_is_422(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any
) -> None:
    active = await make_expert()
    url = f"/v1/experts/{active['id']}"

    response = await roster.patch(
        url,
        headers={**pd, "If-Match": await etag_of(active["id"], pd)},
        json={"vetting": _vetting(references=_ago(5))},
    )

    body = _problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", "vetting", "safeguarding_check_on"]]
    kept = (await roster.get(url, headers=pd)).json()["vetting"]
    assert kept == active["vetting"]


async def test_renewing_an_active_experts_check_is_allowed(
    roster: httpx.AsyncClient, pd: dict[str, str], make_expert: Any, etag_of: Any
) -> None:
    active = await make_expert()

    response = await roster.patch(
        f"/v1/experts/{active['id']}",
        headers={**pd, "If-Match": await etag_of(active["id"], pd)},
        json={"vetting": _vetting(_ago(5), _ago(1))},
    )

    assert response.status_code == 200, response.text
    assert response.json()["vetting"]["safeguarding_check_on"] == _ago(1)


# --- the validity period is a setting -------------------------------------------------------------


@pytest.fixture
async def six_month_roster(
    databases: Databases, auth_settings: AuthSettings, transport: RoutingTransport, issuer: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """Roster with `ROSTER_VETTING_VALID_MONTHS=6`."""
    url = await databases.url("roster", roster_models.metadata)
    app = create_roster(
        RosterSettings(database_url=url, vetting_valid_months=6), auth=auth_settings, transport=transport
    )
    async with running(app, "roster.test") as client:
        yield client


async def test_the_validity_period_is_the_roster_setting(
    six_month_roster: httpx.AsyncClient, pd: dict[str, str], expert_body: Any, service_token: Any
) -> None:
    too_old = expert_body(status="active", vetting=_vetting(_ago(400), _months_ago(7)))
    recent = expert_body(status="active", vetting=_vetting(_ago(400), _months_ago(5)))

    refused = await six_month_roster.post("/v1/experts", headers=pd, json=too_old)
    created = await six_month_roster.post("/v1/experts", headers=pd, json=recent)

    assert "older than 6 months" in _problem(refused, 422)["errors"][0]["msg"]
    assert created.status_code == 201, created.text
    matching = bearer(await service_token("matching-service"))
    [item] = (await six_month_roster.get("/v1/changes", headers=matching)).json()["items"]
    assert (
        item["expert"]["vetting_valid_until"] == add_months(date.fromisoformat(_months_ago(5)), 6).isoformat()
    )


# --- the feed ----------------------------------------------------------------------------------


async def test_the_feed_carries_when_the_check_runs_out_not_the_check_date(
    roster: httpx.AsyncClient, matching: dict[str, str], make_expert: Any
) -> None:
    vetted = await make_expert(status="inactive", vetting=_vetting(_ago(60), "2025-02-28"))
    unvetted = await make_expert(status="applicant", vetting=None)

    items = (await roster.get("/v1/changes", headers=matching)).json()["items"]

    by_expert = {item["expert_id"]: item["expert"] for item in items}
    assert by_expert[vetted["id"]]["vetting_valid_until"] == "2027-02-28"
    assert by_expert[unvetted["id"]]["vetting_valid_until"] is None
    assert all("safeguarding_check_on" not in p and "years_experience" not in p for p in by_expert.values())


# --- whose checks fall due ---------------------------------------------------------------------


async def test_vetting_due_before_lists_the_experts_whose_checks_fall_due(
    roster: httpx.AsyncClient, pd: dict[str, str], admin: dict[str, str], make_expert: Any
) -> None:
    due_soon = await make_expert(vetting=_vetting(_ago(400), _months_ago(23)))  # runs out in a month
    fresh = await make_expert(vetting=_vetting(_ago(400), _ago(10)))
    never_checked = await make_expert(status="applicant", vetting=None)
    no_references = await make_expert(status="inactive", vetting=_vetting(None, _ago(10)))
    in_two_months = (TODAY + timedelta(days=62)).isoformat()

    listed = await roster.get("/v1/experts", headers=pd, params={"vetting_due_before": in_two_months})
    as_admin = await roster.get(
        "/v1/experts", headers=admin, params={"vetting_due_before": in_two_months, "status": "active"}
    )

    assert listed.status_code == 200, listed.text
    assert {e["id"] for e in listed.json()["items"]} == {
        due_soon["id"],
        never_checked["id"],
        no_references["id"],
    }
    assert fresh["id"] not in {e["id"] for e in listed.json()["items"]}
    assert [e["id"] for e in as_admin.json()["items"]] == [due_soon["id"]]


async def test_vetting_due_before_is_for_pd_admin_and_pii_clients_only(
    roster: httpx.AsyncClient, office: dict[str, str], matching: dict[str, str], make_expert: Any
) -> None:
    await make_expert()
    for who in (office, matching):
        response = await roster.get("/v1/experts", headers=who, params={"vetting_due_before": "2027-06-30"})
        _problem(response, 403)


async def test_vetting_due_before_must_be_a_date_in_range(
    roster: httpx.AsyncClient, pd: dict[str, str]
) -> None:
    for bad in ("soon", "0001-01-01", "2027-02-30"):
        response = await roster.get("/v1/experts", headers=pd, params={"vetting_due_before": bad})
        _problem(response, 422)


# --- the rule itself -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31)),
    checked=st.dates(min_value=date(1940, 1, 1), max_value=date(2150, 12, 31)),
    months=st.integers(1, 120),
)
def test_a_check_falls_due_before_a_day_exactly_when_it_is_no_longer_valid_then(
    day: date, checked: date, months: int
) -> None:
    rules = VettingRules(valid_months=months)
    until = rules.valid_until(checked)
    assert until is not None

    assert (checked < rules.checks_due_before(day)) == (until < day)
    assert bool(rules.problems(references_checked_on=checked, safeguarding_check_on=checked, on=day)) == (
        until < day
    )


def test_add_months_keeps_the_day_or_takes_the_last_of_a_shorter_month() -> None:
    assert add_months(date(2024, 2, 29), 24) == date(2026, 2, 28)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 3, 15), -3) == date(2024, 12, 15)
    assert add_months(date(2025, 12, 1), 1) == date(2026, 1, 1)
