"""The README's scope table is true (issue 9): every scope it lists, which dev clients hold it
(the issuer's own configuration), and what a client holding only that scope gets from the services."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev_issuer.config import ClientConfig, IssuerSettings
from mnr_shared.testing import bearer

README = Path(__file__).resolve().parents[2] / "README.md"
# The scopes DESIGN names: the table lists exactly these.
SCOPES = (
    "roster:read",
    "roster:pii",
    "roster:write",
    "requests:read",
    "requests:write",
    "matching:read",
    "events:read",
    "webhooks:manage",
)


def _table() -> dict[str, tuple[str, set[str]]]:
    """scope → (what it grants, the dev clients holding it), read from README's "Scopes" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Scopes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table: dict[str, tuple[str, set[str]]] = {}
    for row in rows:
        scope, grants, holders = (cell.strip() for cell in row.strip("|").split("|"))
        table[scope.strip("`")] = (grants, set(re.findall(r"`([a-z-]+)`", holders)))
    return table


def _client_id(scope: str) -> str:
    return "only-" + scope.replace(":", "-")


@pytest.fixture
def issuer_settings(issuer_settings: IssuerSettings) -> IssuerSettings:
    """The dev clients, one client per scope holding that scope alone, and a notifier holding
    `roster:read` and `roster:pii` (the client the table has in mind for `roster:pii`)."""
    extra = {_client_id(s): ClientConfig(secret=f"dev-secret-{_client_id(s)}", scopes=[s]) for s in SCOPES}
    extra["notifier"] = ClientConfig(secret="dev-secret-notifier", scopes=["roster:read", "roster:pii"])
    return issuer_settings.model_copy(update={"clients": {**issuer_settings.clients, **extra}})


def test_the_table_lists_every_scope_once() -> None:
    assert list(_table()) == list(SCOPES)


def test_the_table_names_the_dev_clients_holding_each_scope() -> None:
    clients = IssuerSettings().clients  # the dev defaults, as `make run` starts the issuer
    held = {scope: {name for name, c in clients.items() if scope in c.scopes} for scope in SCOPES}

    assert {scope: holders for scope, (_, holders) in _table().items()} == held
    assert {scope for c in clients.values() for scope in c.scopes} <= set(SCOPES)
    assert "roster:pii" not in clients["demo-integrator"].scopes


async def _fixture_data(make_expert: Any, make_request: Any) -> dict[str, Any]:
    expert = await make_expert(1, phone="+254 700 000009", gender="female")
    request = await make_request()
    return {"expert": expert, "request": request}


Probe = Callable[[Any, dict[str, str], dict[str, Any]], Awaitable[httpx.Response]]


def _hold() -> dict[str, Any]:
    return {
        "start": "2028-03-01",
        "end": "2028-03-03",
        "request_id": str(uuid.uuid4()),
        "match_id": str(uuid.uuid4()),
    }


_REQUEST_FIELDS = (
    "country",
    "title",
    "description",
    "capabilities",
    "languages",
    "modality",
    "start_date",
    "end_date",
    "effort_days",
    "priority",
    "nationality_preference",
)
# What a client holding one scope alone may do (status per probe); every other probe is 403.
PROBES: dict[str, Probe] = {
    "roster: read an expert": lambda s, h, d: s.roster.get(f"/v1/experts/{d['expert']['id']}", headers=h),
    "roster: the change feed": lambda s, h, d: s.roster.get("/v1/changes", headers=h),
    "roster: place a booking": lambda s, h, d: s.roster.post(
        f"/v1/experts/{d['expert']['id']}/bookings", headers=h, json=_hold()
    ),
    "requests: read a request": lambda s, h, d: s.requests.get(
        f"/v1/requests/{d['request']['id']}", headers=h
    ),
    "requests: file a request": lambda s, h, d: s.requests.post(
        "/v1/requests",
        headers=h,
        json={k: v for k, v in d["request"].items() if k in _REQUEST_FIELDS},
    ),
    "matching: list matches": lambda s, h, d: s.matching.get("/v1/matches", headers=h),
    "roster: events": lambda s, h, d: s.roster.get("/v1/events", headers=h),
    "requests: events": lambda s, h, d: s.requests.get("/v1/events", headers=h),
    "matching: events": lambda s, h, d: s.matching.get("/v1/events", headers=h),
    "matching: candidates": lambda s, h, d: s.matching.get(
        f"/v1/requests/{d['request']['id']}/candidates", headers=h
    ),
}
ALLOWED: dict[str, dict[str, int]] = {
    "roster:read": {"roster: read an expert": 200, "roster: the change feed": 200},
    "roster:pii": {},  # nothing without roster:read
    "roster:write": {"roster: place a booking": 201},
    "requests:read": {"requests: read a request": 200},
    "requests:write": {"requests: file a request": 201},
    "matching:read": {},  # matching answers people only, so far
    "events:read": {"roster: events": 200, "requests: events": 200, "matching: events": 200},
    "webhooks:manage": {},
}


@pytest.mark.parametrize("scope", SCOPES)
async def test_a_client_holding_one_scope_gets_what_the_table_says(
    system: Any,
    make_expert: Any,
    make_request: Any,
    service_token: Any,
    scope: str,
) -> None:
    data = await _fixture_data(make_expert, make_request)
    headers = bearer(await service_token(_client_id(scope)))

    answers = {name: (await probe(system, headers, data)).status_code for name, probe in PROBES.items()}

    assert answers == {name: ALLOWED[scope].get(name, 403) for name in PROBES}
    assert scope in _table()


async def test_roster_read_shows_no_personal_data_and_roster_pii_adds_it(
    system: Any,
    make_expert: Any,
    make_request: Any,
    service_token: Any,
) -> None:
    data = await _fixture_data(make_expert, make_request)
    url = f"/v1/experts/{data['expert']['id']}"
    read_only = (await system.roster.get(url, headers=bearer(await service_token("demo-integrator")))).json()
    both = bearer(await service_token("notifier"))
    with_pii = (await system.roster.get(url, headers=both)).json()

    personal = {"email", "phone", "daily_rate", "gender", "vetting"}
    assert not personal & set(read_only)
    assert {"nationalities", "residence_country", "modality", "country_experience"} <= set(read_only)
    assert personal <= set(with_pii)
    assert with_pii["phone"] == "+254 700 000009"
    grants = _table()["roster:pii"][0]
    assert all(word in grants for word in ("email", "phone", "daily rate", "gender", "vetting"))
