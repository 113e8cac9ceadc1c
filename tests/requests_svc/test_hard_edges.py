"""The requests service at its edges: cursors past 64 bits or past the UTC range, dates past any
calendar, numbers past any column, and a start outside dev mode with a placeholder secret.
Each is a 422 problem+json naming the parameter or field (or a refusal to start), never a 500."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from mnr_shared.auth import AuthSettings, PlaceholderSecretError
from mnr_shared.testing import Databases, RoutingTransport
from requests_service import models as requests_models
from requests_service.config import Settings
from requests_service.main import create_app

INT64_MAX = 2**63 - 1
KEY = "0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f"


def raw_cursor(text: str) -> str:
    """A cursor spelled by hand, packed as the services pack theirs (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def error_locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    "text", ["[9223372036854775808]", "[-9223372036854775809]", "[99999999999999999999]", "[-1]", "[true]"]
)
async def test_history_cursor_outside_the_bigint_range_is_422_naming_the_cursor(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any, text: str
) -> None:
    request = await file_request()

    response = await requests_api.get(
        f"/v1/requests/{request['id']}/history", params={"cursor": raw_cursor(text)}, headers=callers["pd"]
    )

    assert ["query", "cursor"] in error_locs(response)


async def test_history_cursor_at_the_largest_bigint_is_an_empty_page(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    request = await file_request()

    response = await requests_api.get(
        f"/v1/requests/{request['id']}/history",
        params={"cursor": raw_cursor(f"[{INT64_MAX}]")},
        headers=callers["pd"],
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
@pytest.mark.parametrize("listing", ["comments", "requests"])
async def test_time_cursor_that_overflows_utc_is_422_on_every_list(
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    listing: str,
    at: str,
) -> None:
    request = await file_request()
    url = f"/v1/requests/{request['id']}/comments" if listing == "comments" else "/v1/requests"

    response = await requests_api.get(
        url, params={"cursor": raw_cursor(f'["{at}","{KEY}"]')}, headers=callers["pd"]
    )

    assert ["query", "cursor"] in error_locs(response)


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2201-01-01T00:00:00"]
)
@pytest.mark.parametrize(
    ("url", "param"), [("/v1/requests", "created_after"), ("/v1/requests/stats", "created_before")]
)
async def test_time_filter_outside_1900_to_2200_is_422_naming_it(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], url: str, param: str, at: str
) -> None:
    response = await requests_api.get(url, params={param: at}, headers=callers["pd"])

    assert ["query", param] in error_locs(response)


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("end_date", {"end_date": "9999-12-31"}),
        ("end_date", {"end_date": "2201-01-01"}),
        ("start_date", {"start_date": "9999-12-30", "end_date": "9999-12-31", "effort_days": 1}),
        ("effort_days", {"effort_days": 99999999999999999999}),
        ("effort_days", {"effort_days": 1e300}),
    ],
)
async def test_filing_with_a_date_or_number_out_of_range_is_422_naming_it(
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    make_request: Any,
    field: str,
    overrides: dict[str, Any],
) -> None:
    response = await requests_api.post(
        "/v1/requests", json=make_request(**overrides), headers=callers["office"]
    )

    assert ["body", field] in error_locs(response)


@pytest.mark.parametrize(
    ("field", "patch"),
    [("end_date", {"end_date": "9999-12-31"}), ("effort_days", {"effort_days": 99999999999999999999})],
)
async def test_editing_to_a_date_or_number_out_of_range_is_422_naming_it(
    requests_api: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    file_request: Any,
    field: str,
    patch: dict[str, Any],
) -> None:
    request = await file_request()
    etag = (await requests_api.get(f"/v1/requests/{request['id']}", headers=callers["office"])).headers[
        "etag"
    ]

    response = await requests_api.patch(
        f"/v1/requests/{request['id']}", json=patch, headers={**callers["office"], "If-Match": etag}
    )

    assert ["body", field] in error_locs(response)


# --- fail fast outside dev mode ---------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "dev-secret-requests-service"])
async def test_outside_dev_mode_requests_refuses_to_start_with_a_placeholder_secret(
    databases: Databases, transport: RoutingTransport, monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.delenv("REQUESTS_CLIENT_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("REQUESTS_CLIENT_SECRET", secret)
    settings = Settings(database_url=await databases.url("requests", requests_models.metadata))

    with pytest.raises(PlaceholderSecretError, match="REQUESTS_CLIENT_SECRET"):
        create_app(
            settings, auth=AuthSettings(issuer="http://identity.test", dev_mode=False), transport=transport
        )


async def test_outside_dev_mode_requests_starts_with_a_real_secret(
    databases: Databases, transport: RoutingTransport
) -> None:
    url = await databases.url("requests", requests_models.metadata)
    settings = Settings(database_url=url, client_secret="a-real-secret-7d0f5c")

    app = create_app(
        settings, auth=AuthSettings(issuer="http://identity.test", dev_mode=False), transport=transport
    )

    assert app.state.settings.client_secret == "a-real-secret-7d0f5c"
