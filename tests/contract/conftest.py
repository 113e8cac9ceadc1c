"""The contract harness: each service's in-process app, seeded through its own API, under schemathesis.

Schemathesis drives an ASGI app from its own event-loop thread and runs the app's lifespan there
(`schemathesis.python.asgi`). So everything a service touches — its database engine, the issuer
that signs the tokens and serves the JWKS, the upstream services matching calls — is started
through schemathesis's ASGI clients, on that one loop, and stopped with `shutdown_lifespans()`
when the test ends. The apps still talk to each other over `RoutingTransport`, as in every other
test; tokens are real ones from the in-process dev issuer; the databases are the `databases`
fixture's (SQLite, or PostgreSQL with `MNR_TEST_DATABASE=postgresql`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema

from matching_service import models as matching_models
from matching_service.config import Settings as MatchingSettings
from matching_service.main import create_app as create_matching
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import Databases, RoutingTransport
from requests_service import models as requests_models
from requests_service.config import Settings as RequestsSettings
from requests_service.main import create_app as create_requests
from roster_service import models as roster_models
from roster_service.config import Settings as RosterSettings
from roster_service.main import create_app as create_roster

Json = dict[str, Any]
SERVICES = ("roster", "requests", "matching")
ROLES = ("programme_division", "admin")

# Few examples, always the same ones: a run takes seconds per service, and a failure replays.
SEED = 20_260_501
MAX_EXAMPLES = 10
STATEFUL_MAX_STEPS = 20

# `positive_data_acceptance` sends requests the schema allows and expects them accepted (its
# default: 2xx, 3xx, 401, 403, 404, 409, 429, 5xx). Three more answers are this API's contract for
# such requests, so they are expected too:
#   412/428 — a write without `If-Match`, or with an ETag the generator made up, is refused by
#             design (RFC 9110 §13.1.1, RFC 6585 §3); no schema can carry the current ETag;
#   422     — rules a JSON Schema cannot state: an end date before the start, effort beyond the
#             working days of the window, at least one `required` capability, each capability and
#             language once, a real ISO 3166 country and BCP 47 tag, dates within 1900–2200, a
#             cursor this API issued, an `Idempotency-Key` reused with another body, a file that is
#             a spreadsheet; and an empty query value for an optional parameter (FastAPI documents
#             it as nullable, and a query string cannot carry null). Each names the field in `errors`.
# Everything else stays unexpected: a 400, 405, 406 or 415 for valid data fails the run, and
# `not_a_server_error` fails any 5xx.
POSITIVE_DATA_EXPECTED_STATUSES = [
    "2xx",
    "3xx",
    "401",
    "403",
    "404",
    "409",
    "412",
    "422",
    "428",
    "429",
    "5xx",
]


# --- the data every run starts from -----------------------------------------------------------


@dataclass
class Seeded:
    """Ids of real data, bound to the parameters that take them, so runs reach real resources."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.ids.setdefault(name, []).append(value)

    def bindings(self, parameters: Mapping[str, str]) -> tuple[Json, Json]:
        """Schemathesis `dictionaries` and `parameters` config: each listed parameter takes a seeded
        id half of the time (and a generated value the other half)."""
        dictionaries = {name: {"values": values} for name, values in self.ids.items()}
        bound = {
            parameter: {"dictionary": name, "probability": 0.5}
            for parameter, name in parameters.items()
            if name in self.ids
        }
        return dictionaries, bound


# Which parameters of each service take which seeded ids.
BINDINGS: dict[str, dict[str, str]] = {
    "roster": {
        "path.expert_id": "expert_id",
        "path.period_id": "period_id",
        "path.booking_id": "booking_id",
        "query.match_id": "booked_match_id",
    },
    "requests": {"path.request_id": "request_id"},
    "matching": {
        "path.request_id": "request_id",
        "path.match_id": "match_id",
        "query.request_id": "request_id",
        "query.expert_id": "expert_id",
    },
}


def _today() -> date:
    return datetime.now(UTC).date()


def _monday(weeks_ahead: int) -> date:
    today = _today()
    return today + timedelta(days=7 - today.weekday()) + timedelta(weeks=weeks_ahead - 1)


def expert_body(n: int, **overrides: Any) -> Json:
    """An expert as PD creates one: active, vetted a month ago, legislation and prosecution."""
    checked = (_today() - timedelta(days=30)).isoformat()
    body: Json = {
        "full_name": f"Contract Expert {n}",
        "email": f"contract{n}@example.org",
        "phone": "+254 700 000001",
        "nationalities": ["KEN"],
        "residence_country": "KEN",
        "summary": "Prosecutor working on online child sexual exploitation cases.",
        "years_experience": 10,
        "daily_rate": {"amount": "400.00", "currency": "USD"},
        "modality": "either",
        "status": "active",
        "capabilities": [{"capability": 3, "level": 4}, {"capability": 5, "level": 3}],
        "languages": [{"tag": "en", "level": "C2"}, {"tag": "sw", "level": "B2"}],
        "country_experience": ["KEN", "UGA"],
        "vetting": {"references_checked_on": checked, "safeguarding_check_on": checked},
    }
    body.update(overrides)
    return body


def request_body(**overrides: Any) -> Json:
    """A Kenyan request the active expert fits: two weeks, six days, six weeks from now."""
    start = _monday(6)
    body: Json = {
        "country": "KEN",
        "title": "Legislation review for online CSEA",
        "description": "Review the draft cybercrime bill against the MNR and advise the drafting committee.",
        "capabilities": [
            {"capability": 3, "min_level": 3, "importance": "required"},
            {"capability": 5, "min_level": 2, "importance": "desired"},
        ],
        "languages": [{"tag": "en", "min_level": "C1", "importance": "required"}],
        "modality": "either",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=11)).isoformat(),
        "effort_days": 6,
        "priority": "normal",
        "nationality_preference": "any",
    }
    body.update(overrides)
    return body


def _ok(response: requests.Response, *statuses: int) -> Json:
    assert response.status_code in (statuses or (200,)), response.text
    body: Json = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Wiring:
    """The apps of one test on the in-process network, their lifespans run by schemathesis."""

    def __init__(self, transport: RoutingTransport, stack: ExitStack) -> None:
        self.transport = transport
        self.stack = stack
        self.clients: dict[str, asgi.ASGIClient] = {}

    def start(self, host: str, app: FastAPI) -> asgi.ASGIClient:
        self.transport.add(host, app)
        client = self.stack.enter_context(asgi.get_client(cast(asgi.ASGIApp, app)))
        self.clients[host] = client
        return client

    def token(self, *roles: str, **claims: Any) -> str:
        """A real token from the in-process dev issuer."""
        issued = _ok(self.clients["identity.test"].post("/dev/token", json={"roles": list(roles), **claims}))
        return str(issued["access_token"])


def seed_roster(roster: asgi.ASGIClient, pd: dict[str, str], seeded: Seeded) -> None:
    """An active expert with leave and a held booking, and an applicant."""
    active = _ok(roster.post("/v1/experts", json=expert_body(1), headers=pd), 201)
    applicant = _ok(roster.post("/v1/experts", json=expert_body(2, status="applicant"), headers=pd), 201)
    for expert in (active, applicant):
        seeded.add("expert_id", expert["id"])
    start = _monday(20)
    leave = {"start": start.isoformat(), "end": (start + timedelta(days=4)).isoformat(), "reason": "Leave"}
    period = _ok(roster.post(f"/v1/experts/{active['id']}/unavailability", json=leave, headers=pd), 201)
    seeded.add("period_id", period["id"])
    hold = {
        "start": (start + timedelta(weeks=2)).isoformat(),
        "end": (start + timedelta(weeks=2, days=4)).isoformat(),
        "request_id": "3f0b6a52-8c1e-4d43-a0d5-5b7f0e6a2c11",
        "match_id": "7a4c1d2e-5f60-4b7a-9c8d-1e2f3a4b5c6d",
    }
    booking = _ok(roster.post(f"/v1/experts/{active['id']}/bookings", json=hold, headers=pd), 201)
    seeded.add("booking_id", booking["id"])
    seeded.add("booked_match_id", hold["match_id"])


def seed_requests(
    requests_api: asgi.ASGIClient, office: dict[str, str], pd: dict[str, str], seeded: Seeded
) -> None:
    """A request in review, with a comment, and a draft."""
    for steps in (["submit", "start_review"], []):
        created = _ok(requests_api.post("/v1/requests", json=request_body(), headers=office), 201)
        for action in steps:
            moved = requests_api.post(
                f"/v1/requests/{created['id']}/transitions", json={"action": action}, headers=pd
            )
            _ok(moved)
        seeded.add("request_id", created["id"])
    comment = {"body": "When could the expert start?"}
    first = seeded.ids["request_id"][0]
    _ok(requests_api.post(f"/v1/requests/{first}/comments", json=comment, headers=office), 201)


def seed_matching(matching: asgi.ASGIClient, pd: dict[str, str], seeded: Seeded) -> None:
    """Once the index holds the roster, the active expert approved for the request in review."""
    deadline = time.monotonic() + 30
    while (ready := matching.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.05)
    approval = {"request_id": seeded.ids["request_id"][0], "expert_id": seeded.ids["expert_id"][0]}
    match = _ok(matching.post("/v1/matches", json=approval, headers=pd), 201, 202)
    seeded.add("match_id", match["id"])


def contract_config(*, service: str, token: str, seeded: Seeded) -> schemathesis.Config:
    """Every check on, few deterministic examples, seeded ids mixed into the parameters."""
    dictionaries, parameters = seeded.bindings(BINDINGS[service])
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},
            "workers": 1,
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"max-steps": STATEFUL_MAX_STEPS}},
            # Every built-in check (`max_response_time` aside: no honest limit on a shared 2-core box).
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_EXPECTED_STATUSES},
            },
            "auth": {"openapi": {"HTTPBearer": {"bearer": token}}},
            "dictionaries": dictionaries,
            "parameters": parameters,
        }
    )


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Contract:
    """One service under test, as one caller: its schema, bound to its running app."""

    service: str
    role: str
    schema: BaseSchema
    seeded: Seeded


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    """The caller every generated request is sent as."""
    return str(request.param)


@pytest.fixture
async def database_urls(databases: Databases) -> dict[str, str]:
    return {
        "roster": await databases.url("roster", roster_models.metadata),
        "requests": await databases.url("requests", requests_models.metadata),
        "matching": await databases.url("matching", matching_models.metadata),
    }


@pytest.fixture(params=SERVICES)
def contract(
    request: pytest.FixtureRequest,
    role: str,
    database_urls: dict[str, str],
    auth_settings: AuthSettings,
    transport: RoutingTransport,
    issuer_app: FastAPI,
) -> Iterator[Contract]:
    """The service wired with the issuer (and, for matching, roster and requests), seeded."""
    service = str(request.param)
    seeded = Seeded()
    with ExitStack() as stack:
        stack.callback(asgi.shutdown_lifespans)
        wiring = Wiring(transport, stack)
        wiring.start("identity.test", issuer_app)
        pd = _bearer(wiring.token("programme_division", sub="pd-seed"))
        office = _bearer(wiring.token("country_office", sub="co-ken", offices=["KEN"]))
        roster = wiring.start(
            "roster.test",
            create_roster(
                RosterSettings(database_url=database_urls["roster"]), auth=auth_settings, transport=transport
            ),
        )
        requests_api = wiring.start(
            "requests.test",
            create_requests(
                RequestsSettings(database_url=database_urls["requests"]),
                auth=auth_settings,
                transport=transport,
            ),
        )
        seed_roster(roster, pd, seeded)
        seed_requests(requests_api, office, pd, seeded)
        apps = {"roster": roster.app, "requests": requests_api.app}
        if service == "matching":
            matching = wiring.start(
                "matching.test",
                create_matching(
                    MatchingSettings(
                        database_url=database_urls["matching"],
                        roster_url="http://roster.test",
                        requests_url="http://requests.test",
                        token_url="http://identity.test/token",
                        upstream_retries=0,
                        poll_interval_seconds=0.5,
                    ),
                    auth=auth_settings,
                    transport=transport,
                ),
            )
            seed_matching(matching, pd, seeded)
            apps["matching"] = matching.app
        token = wiring.token(role, sub=f"{role}-contract")
        config = contract_config(service=service, token=token, seeded=seeded)
        schema = schemathesis.openapi.from_asgi("/openapi.json", apps[service], config=config)
        yield Contract(service=service, role=role, schema=schema, seeded=seeded)
