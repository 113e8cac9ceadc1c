"""Matching at its edges: what-if windows past any calendar, numbers past any column, cursors past
the UTC range, requests whose dates cannot be ranked, and a start outside dev mode with a
placeholder secret. Each is a 422 problem+json naming what is wrong (or a refusal to start)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from matching_service import models as matching_models
from matching_service.config import Settings
from matching_service.main import create_app
from matching_service.ranking import RankRequest
from mnr_shared.auth import AuthSettings, PlaceholderSecretError
from mnr_shared.testing import Databases, RoutingTransport

Headers = dict[str, dict[str, str]]

SEARCH: dict[str, Any] = {
    "country": "KEN",
    "capabilities": [{"capability": 3, "min_level": 3, "importance": "required"}],
    "start_date": "2027-03-01",
    "end_date": "2027-04-30",
    "effort_days": 15,
}


def error_locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("end_date", {"end_date": "9999-12-31"}),
        ("end_date", {"start_date": "1900-01-01", "end_date": "9999-12-31"}),
        ("end_date", {"end_date": "2201-01-01"}),
        ("start_date", {"start_date": "9999-12-31", "end_date": "9999-12-31", "effort_days": 1}),
        ("start_date", {"start_date": "0001-01-01", "end_date": "0001-01-05", "effort_days": 1}),
        ("start_date", {"start_date": "1899-12-31"}),
        ("effort_days", {"effort_days": 1e300}),
        ("effort_days", {"effort_days": 99999999999999999999}),
    ],
)
async def test_search_with_a_date_or_number_out_of_range_is_422_naming_it(
    system: Any, people: Headers, field: str, overrides: dict[str, Any]
) -> None:
    response = await system.matching.post("/v1/search", json={**SEARCH, **overrides}, headers=people["pd"])

    assert ["body", field] in error_locs(response)


async def test_search_over_the_whole_accepted_range_is_answered(system: Any, people: Headers) -> None:
    body = {**SEARCH, "start_date": "1900-01-01", "end_date": "2200-12-31"}

    response = await system.matching.post("/v1/search", json=body, headers=people["pd"])

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_match_list_cursor_whose_time_overflows_utc_is_422(
    system: Any, people: Headers, at: str
) -> None:
    raw = f'["{at}","0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f"]'
    cursor = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    response = await system.matching.get("/v1/matches", params={"cursor": cursor}, headers=people["pd"])

    assert ["query", "cursor"] in error_locs(response)


@pytest.mark.parametrize(("field", "day"), [("end_date", "9999-12-31"), ("start_date", "1899-12-31")])
def test_a_request_dated_outside_1900_to_2200_cannot_be_ranked(field: str, day: str) -> None:
    body = {**SEARCH, "modality": "either", field: day}

    with pytest.raises(ValueError, match=f"{field} must be a date between 1900-01-01 and 2200-12-31"):
        RankRequest.from_mapping(body)


# --- fail fast outside dev mode ---------------------------------------------------------------


def _settings(url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=url,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        token_url="http://identity.test/token",
        **overrides,
    )


@pytest.mark.parametrize("secret", [None, "dev-secret-matching-service"])
async def test_outside_dev_mode_matching_refuses_to_start_with_a_placeholder_secret(
    databases: Databases, transport: RoutingTransport, monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.delenv("MATCHING_CLIENT_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("MATCHING_CLIENT_SECRET", secret)
    settings = _settings(await databases.url("matching", matching_models.metadata))
    auth = AuthSettings(issuer="http://identity.test", dev_mode=False)

    with pytest.raises(PlaceholderSecretError, match="MATCHING_CLIENT_SECRET"):
        create_app(settings, auth=auth, transport=transport, background=False)


async def test_outside_dev_mode_matching_starts_with_a_real_secret(
    databases: Databases, transport: RoutingTransport
) -> None:
    url = await databases.url("matching", matching_models.metadata)
    auth = AuthSettings(issuer="http://identity.test", dev_mode=False)

    app = create_app(
        _settings(url, client_secret="a-real-secret-1b9e6f"), auth=auth, transport=transport, background=False
    )

    assert app.state.settings.client_secret == "a-real-secret-1b9e6f"
