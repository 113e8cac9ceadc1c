"""Personal data by scope (issue 9): `roster:read` shows the public profile plus what matching
needs; `roster:pii` (with `roster:read`) adds email, phone, daily rate, gender and vetting."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from dev_issuer.config import ClientConfig, IssuerSettings
from mnr_shared.testing import bearer

# What a `roster:read` client sees of an expert: the public profile and what matching reads.
SHARED_FIELDS = {
    "id",
    "full_name",
    "summary",
    "status",
    "capabilities",
    "languages",
    "regions",
    "nationalities",
    "residence_country",
    "modality",
    "country_experience",
    "created_at",
    "updated_at",
    "version",
}
PERSONAL_FIELDS = {"email", "phone", "daily_rate", "gender", "vetting"}


@pytest.fixture
def issuer_settings(issuer_settings: IssuerSettings) -> IssuerSettings:
    """The dev clients plus a notifier holding `roster:pii` and a client holding only that."""
    clients = {
        **issuer_settings.clients,
        "notifier": ClientConfig(secret="dev-secret-notifier", scopes=["roster:read", "roster:pii"]),
        "pii-only": ClientConfig(secret="dev-secret-pii-only", scopes=["roster:pii"]),
    }
    return issuer_settings.model_copy(update={"clients": clients})


@pytest.fixture
async def clients(service_token: Any) -> dict[str, dict[str, str]]:
    return {
        name: bearer(await service_token(name))
        for name in ("demo-integrator", "matching-service", "notifier", "pii-only")
    }


async def test_roster_read_client_sees_no_contact_data_rate_gender_or_vetting(
    roster: httpx.AsyncClient, clients: dict[str, dict[str, str]], make_expert: Any
) -> None:
    # Issue 9, reproduction 4: every roster:read client saw email, phone, rate, gender, vetting.
    expert = await make_expert(gender="female", status="inactive")
    for name in ("demo-integrator", "matching-service"):
        one = await roster.get(f"/v1/experts/{expert['id']}", headers=clients[name])
        listed = await roster.get("/v1/experts", headers=clients[name])

        assert one.status_code == 200, one.text
        assert set(one.json()) == SHARED_FIELDS, name
        [item] = listed.json()["items"]  # in any status, like matching needs
        assert set(item) == SHARED_FIELDS, name
        assert item["nationalities"] == ["KEN"]
        assert item["residence_country"] == "KEN"
        assert expert["email"] not in one.text + listed.text
        assert "+254" not in one.text + listed.text


async def test_roster_pii_client_sees_the_whole_profile(
    roster: httpx.AsyncClient, clients: dict[str, dict[str, str]], make_expert: Any
) -> None:
    expert = await make_expert(gender="female")

    one = (await roster.get(f"/v1/experts/{expert['id']}", headers=clients["notifier"])).json()
    [listed] = (await roster.get("/v1/experts", headers=clients["notifier"])).json()["items"]

    for body in (one, listed):
        assert set(body) >= PERSONAL_FIELDS
        assert body["email"] == expert["email"]
        assert body["phone"] == "+254 700 000001"
        assert body["gender"] == "female"
        assert body["daily_rate"] == {"amount": "400.00", "currency": "USD"}
        assert body["vetting"] == expert["vetting"]


async def test_roster_pii_without_roster_read_grants_nothing(
    roster: httpx.AsyncClient, clients: dict[str, dict[str, str]], make_expert: Any
) -> None:
    expert = await make_expert()
    for url in ("/v1/experts", f"/v1/experts/{expert['id']}", "/v1/experts/export", "/v1/changes"):
        response = await roster.get(url, headers=clients["pii-only"])
        assert response.status_code == 403, url


async def test_roster_read_client_exports_the_public_columns_of_active_experts_only(
    roster: httpx.AsyncClient, clients: dict[str, dict[str, str]], make_expert: Any
) -> None:
    active = await make_expert()
    await make_expert(status="inactive")

    response = await roster.get("/v1/experts/export", headers=clients["demo-integrator"])
    full = await roster.get("/v1/experts/export", headers=clients["notifier"])

    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["full_name"] for row in rows] == [active["full_name"]]
    assert "email" not in rows[0]
    assert active["email"] not in response.text
    assert len(list(csv.DictReader(io.StringIO(full.content.decode("utf-8-sig"))))) == 2
    assert active["email"] in full.text


async def test_people_keep_what_their_role_shows(
    roster: httpx.AsyncClient, pd: dict[str, str], office: dict[str, str], make_expert: Any
) -> None:
    expert = await make_expert()

    as_pd = (await roster.get(f"/v1/experts/{expert['id']}", headers=pd)).json()
    as_office = (await roster.get(f"/v1/experts/{expert['id']}", headers=office)).json()

    assert as_pd["email"] == expert["email"]
    assert set(as_office) == {"id", "full_name", "summary", "status", "capabilities", "languages", "regions"}
