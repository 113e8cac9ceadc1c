"""Fixtures for every test: a fresh database per service on SQLite or PostgreSQL, wired apps, tokens.

`MNR_TEST_DATABASE=postgresql` runs the same suite on the local PostgreSQL server: each test
session creates its own databases there and drops them at the end; between tests every table
is emptied, so no test sees what another left.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlmodel import col

from dev_issuer.config import IssuerSettings
from dev_issuer.keys import generate_pem
from dev_issuer.main import create_app as create_issuer
from matching_service import models as matching_models
from matching_service.config import Settings as MatchingSettings
from matching_service.main import create_app as create_matching
from matching_service.service import Context
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import Databases, RoutingTransport, bearer, running
from requests_service import models as requests_models
from requests_service.config import Settings as RequestsSettings
from requests_service.main import create_app as create_requests
from roster_service import models as roster_models
from roster_service.config import Settings as RosterSettings
from roster_service.main import create_app as create_roster

BACKEND = os.environ.get("MNR_TEST_DATABASE", "sqlite").lower()
if BACKEND not in {"sqlite", "postgresql"}:
    raise RuntimeError(f"MNR_TEST_DATABASE must be sqlite or postgresql, not {BACKEND!r}")
PG_ADMIN_URL = os.environ.get("MNR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ISSUER = "http://identity.test"
SERVICES = ("roster", "requests", "matching", "portal", "notifier")


def pytest_report_header() -> str:
    return f"database backend: {BACKEND}"


# --- databases --------------------------------------------------------------------------------


async def _pg_admin(statements: list[str]) -> None:
    dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def backend() -> str:
    """`sqlite` or `postgresql`: the database every test of this run uses."""
    return BACKEND


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[dict[str, str]]:
    """On PostgreSQL: one fresh database per service (and one spare) for this test session."""
    if BACKEND != "postgresql":
        yield {}
        return
    tag = uuid.uuid4().hex[:8]
    names = {name: f"mnr_test_{tag}_{name}" for name in (*SERVICES, "scratch")}
    try:
        asyncio.run(_pg_admin([f'CREATE DATABASE "{db}"' for db in names.values()]))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.exit(f"PostgreSQL at {PG_ADMIN_URL} is not usable: {exc}", returncode=3)
    yield {name: _pg_url(db) for name, db in names.items()}
    asyncio.run(_pg_admin([f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in names.values()]))


@pytest.fixture
async def databases(tmp_path: Path, pg_databases: dict[str, str]) -> AsyncIterator[Databases]:
    dbs = Databases(backend=BACKEND, tmp_path=tmp_path, pg=pg_databases)
    yield dbs
    await dbs.clean()


# --- identity and wiring ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RSA key for the whole session (generating one per test would dominate run time)."""
    path = tmp_path_factory.mktemp("issuer") / "key.pem"
    path.write_bytes(generate_pem())
    path.chmod(0o600)
    return path


@pytest.fixture
def issuer_settings(signing_key_file: Path) -> IssuerSettings:
    return IssuerSettings(issuer=ISSUER, dev_mode=True, signing_key_file=signing_key_file)


@pytest.fixture
def auth_settings() -> AuthSettings:
    # Dev mode, as `make run`: the services start with the issuer's dev-secret-… clients.
    return AuthSettings(issuer=ISSUER, jwks_min_refetch_seconds=30, dev_mode=True)


@pytest.fixture
def transport() -> RoutingTransport:
    """In-process network: host name → ASGI app."""
    return RoutingTransport()


@pytest.fixture
def issuer_app(issuer_settings: IssuerSettings, transport: RoutingTransport) -> FastAPI:
    app = create_issuer(issuer_settings)
    transport.add("identity.test", app)
    return app


@pytest.fixture
async def issuer(issuer_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(issuer_app, "identity.test") as client:
        yield client


TokenFor = Callable[..., Awaitable[str]]


@pytest.fixture
def token_for(issuer: httpx.AsyncClient) -> TokenFor:
    """`await token_for("country_office", offices=["KEN"])` → a real token from the dev issuer."""

    async def mint(*roles: str, **claims: Any) -> str:
        response = await issuer.post("/dev/token", json={"roles": list(roles), **claims})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return mint


@pytest.fixture
def service_token(issuer: httpx.AsyncClient) -> Callable[..., Awaitable[str]]:
    """A client-credentials token for a configured client (optionally narrowed to `scope`)."""

    async def mint(client_id: str, scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        response = await issuer.post("/token", data=form, auth=(client_id, f"dev-secret-{client_id}"))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return mint


# --- services ---------------------------------------------------------------------------------


@pytest.fixture
async def roster(
    databases: Databases, auth_settings: AuthSettings, transport: RoutingTransport, issuer: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The roster service on a clean database, verifying tokens from the in-process issuer."""
    url = await databases.url("roster", roster_models.metadata)
    app = create_roster(RosterSettings(database_url=url), auth=auth_settings, transport=transport)
    transport.add("roster.test", app)
    async with running(app, "roster.test") as client:
        yield client


@pytest.fixture
async def requests_api(
    databases: Databases, auth_settings: AuthSettings, transport: RoutingTransport, issuer: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The requests service on a clean database, verifying tokens from the in-process issuer."""
    url = await databases.url("requests", requests_models.metadata)
    app = create_requests(RequestsSettings(database_url=url), auth=auth_settings, transport=transport)
    transport.add("requests.test", app)
    async with running(app, "requests.test") as client:
        yield client


# --- the whole system: matching wired to roster and requests (matching and portal tests) ----

# What an upstream can answer a saga step: a refusal or an outage status, the answer lost after
# the upstream applied the call ("timeout"), or matching dying while it waits ("killed").
FAULTS: tuple[int | str, ...] = (404, 409, 422, 503, "timeout", "killed")


@dataclass
class Fault:
    """One injected answer to the next call matching `method`, `path` (a regex) and, for a
    status transition, `action`; `applied` is set once the upstream has really done the call."""

    method: str
    path: str
    answer: int | str
    action: str | None = None
    # Run just before the call goes through ("pass"): something another user did meanwhile.
    before: Callable[[], Awaitable[Any]] | None = None
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    applied: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, request: httpx.Request) -> bool:
        if request.method != self.method or not re.fullmatch(self.path, request.url.path):
            return False
        if self.action is None:
            return True
        try:
            return bool(json.loads(request.content or b"{}").get("action") == self.action)
        except ValueError:
            return False


class FaultInjector(httpx.AsyncBaseTransport):
    """Matching's network edge: passes every call through, except that each fault answers the
    first call it matches, once. A status is answered as a problem without reaching the
    upstream; "timeout" lets the upstream apply the call and then loses the answer; "killed"
    lets it apply the call and then never answers (the test cancels the caller: the process
    died mid-step with nothing recorded); "pass" lets it through after `before` ran."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.faults: list[Fault] = []

    def once(
        self,
        method: str,
        path: str,
        answer: int | str,
        *,
        action: str | None = None,
        before: Callable[[], Awaitable[Any]] | None = None,
    ) -> Fault:
        fault = Fault(method, path, answer, action, before)
        self.faults.append(fault)
        return fault

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault = next((f for f in self.faults if f.matches(request)), None)
        if fault is None:
            return await self.inner.handle_async_request(request)
        self.faults.remove(fault)
        fault.fired.set()
        if fault.before is not None:
            await fault.before()
        if fault.answer == "pass":
            return await self.inner.handle_async_request(request)
        if isinstance(fault.answer, int):
            problem = {"type": "urn:mnr:problem:injected", "title": "Injected", "status": fault.answer}
            return httpx.Response(
                fault.answer,
                json={**problem, "detail": f"injected {fault.answer}"},
                headers={"content-type": "application/problem+json"},
                request=request,
            )
        response = await self.inner.handle_async_request(request)
        await response.aread()
        fault.applied.set()
        if fault.answer == "timeout":
            raise httpx.ReadTimeout("injected: the answer was lost", request=request)
        await asyncio.Event().wait()  # "killed": no answer, ever
        raise AssertionError("unreachable")


@dataclass
class System:
    roster: httpx.AsyncClient
    requests: httpx.AsyncClient
    matching: httpx.AsyncClient
    app: FastAPI
    transport: RoutingTransport
    faults: FaultInjector

    @property
    def ctx(self) -> Context:
        ctx: Context = self.app.state.ctx
        return ctx

    async def sync(self) -> None:
        """Bring the index up to date now (instead of waiting for the poll)."""
        await self.ctx.follower.sync()


@pytest.fixture
async def system(
    roster: httpx.AsyncClient,
    requests_api: httpx.AsyncClient,
    databases: Databases,
    auth_settings: AuthSettings,
    transport: RoutingTransport,
) -> AsyncIterator[System]:
    url = await databases.url("matching", matching_models.metadata)
    settings = MatchingSettings(
        database_url=url,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        token_url="http://identity.test/token",
        upstream_retries=0,
        compensation_grace_seconds=0,
        recovery_interval_seconds=0.01,
    )
    faults = FaultInjector(transport)
    app = create_matching(settings, auth=auth_settings, transport=faults, background=False)
    transport.add("matching.test", app)
    async with running(app, "matching.test") as client:
        system = System(roster, requests_api, client, app, transport, faults)
        await system.sync()
        yield system


@pytest.fixture
async def people(token_for: Any, service_token: Any) -> dict[str, dict[str, str]]:
    return {
        "pd": bearer(await token_for("programme_division", sub="pd-1")),
        "admin": bearer(await token_for("admin", sub="admin-1")),
        "office": bearer(await token_for("country_office", sub="co-ken", offices=["KEN"])),
        "other_office": bearer(await token_for("country_office", sub="co-uga", offices=["UGA"])),
        "matching": bearer(await service_token("matching-service")),
    }


def request_body(**overrides: Any) -> dict[str, Any]:
    """A request a Kenyan office would file: legislation expertise, English, a spring window."""
    body: dict[str, Any] = {
        "country": "KEN",
        "title": "Review draft OCSEA legislation",
        "description": "Review the draft bill against the MNR legislation capability.",
        "capabilities": [
            {"capability": 3, "min_level": 3, "importance": "required"},
            {"capability": 5, "min_level": 2, "importance": "desired"},
        ],
        "languages": [{"tag": "en", "min_level": "B2", "importance": "required"}],
        "modality": "either",
        "start_date": "2027-03-01",
        "end_date": "2027-03-31",
        "effort_days": 10,
        "priority": "normal",
        "nationality_preference": "any",
    }
    body.update(overrides)
    return body


def expert_body(n: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "full_name": f"Candidate {n}",
        "email": f"candidate{n}@example.org",
        "status": "active",
        "nationalities": ["KEN"],
        "residence_country": "KEN",
        "modality": "either",
        "capabilities": [{"capability": 3, "level": 3}, {"capability": 5, "level": 2}],
        "languages": [{"tag": "en", "level": "C1"}],
        "country_experience": ["KEN"],
        # Active experts pass roster's vetting gate: checks recorded a month ago.
        "vetting": {
            "references_checked_on": (date.today() - timedelta(days=30)).isoformat(),
            "safeguarding_check_on": (date.today() - timedelta(days=30)).isoformat(),
        },
    }
    body.update(overrides)
    return body


@pytest.fixture
def request_form() -> Callable[..., dict[str, Any]]:
    """`request_form(**overrides)` → the body a Kenyan office files (`request_body`), for tests
    that send it themselves."""
    return request_body


@pytest.fixture
def make_request(system: System, people: dict[str, dict[str, str]]) -> Any:
    """`await make_request(**overrides)` → a request moved to `in_review` through the API."""

    async def make(status: str = "in_review", **overrides: Any) -> dict[str, Any]:
        created = await system.requests.post(
            "/v1/requests", json=request_body(**overrides), headers=people["office"]
        )
        assert created.status_code == 201, created.text
        request: dict[str, Any] = created.json()
        steps = {
            "draft": [],
            "submitted": [("submit", "office")],
            "in_review": [("submit", "office"), ("start_review", "pd")],
        }[status]
        for action, who in steps:
            moved = await system.requests.post(
                f"/v1/requests/{request['id']}/transitions", json={"action": action}, headers=people[who]
            )
            assert moved.status_code == 200, moved.text
            request = moved.json()
        return request

    return make


@pytest.fixture
def make_expert(system: System, people: dict[str, dict[str, str]]) -> Any:
    """`await make_expert(n, **overrides)` → an active expert in roster, synced into the index."""

    async def make(n: int, **overrides: Any) -> dict[str, Any]:
        created = await system.roster.post(
            "/v1/experts", json=expert_body(n, **overrides), headers=people["pd"]
        )
        assert created.status_code == 201, created.text
        await system.sync()
        expert: dict[str, Any] = created.json()
        return expert

    return make


# --- the three invariants, read through the three services' APIs ------------------------------

LIVE_MATCH = {"pending", "offered", "accepted"}
ABANDONED_REQUEST = {"withdrawn", "cancelled", "rejected"}


async def _all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def invariant_violations(system: System, headers: dict[str, str]) -> list[str]:
    """Every breach of the three invariants, as roster, requests and matching answer over HTTP:
    no live booking without a live match; no `matched` request without a live match and no
    `fulfilled` one without an accepted match; no confirmed booking for a withdrawn, cancelled
    or rejected request."""
    matches = await _all_pages(system.matching, "/v1/matches", headers)
    requests = {r["id"]: r for r in await _all_pages(system.requests, "/v1/requests", headers)}
    bookings: list[dict[str, Any]] = []
    for expert in await _all_pages(system.roster, "/v1/experts", headers):
        calendar = await system.roster.get(
            f"/v1/experts/{expert['id']}/calendar",
            headers=headers,
            params={"from": "2000-01-01", "to": "2100-12-31"},
        )
        assert calendar.status_code == 200, calendar.text
        bookings += calendar.json()["bookings"]
    # Bookings of experts the listing no longer shows (erased) are found through their match.
    for match in matches:
        found_for = await system.roster.get("/v1/bookings", headers=headers, params={"match_id": match["id"]})
        assert found_for.status_code == 200, found_for.text
        bookings += found_for.json()["items"]
    bookings = list({b["id"]: b for b in bookings}.values())
    live = {m["id"]: m for m in matches if m["status"] in LIVE_MATCH}
    found: list[str] = []
    for booking in bookings:
        if booking["status"] in {"hold", "confirmed"} and booking["match_id"] not in live:
            found.append(f"live booking {booking['id']} ({booking['status']}) without a live match")
        request = requests.get(booking["request_id"])
        if booking["status"] == "confirmed" and request and request["status"] in ABANDONED_REQUEST:
            found.append(f"confirmed booking {booking['id']} for a {request['status']} request")
    for request in requests.values():
        mine = [m for m in matches if m["request_id"] == request["id"]]
        if request["status"] == "matched" and not any(m["status"] in LIVE_MATCH for m in mine):
            found.append(f"request {request['id']} matched without a live match")
        if request["status"] == "fulfilled" and not any(m["status"] == "accepted" for m in mine):
            found.append(f"request {request['id']} fulfilled without an accepted match")
    return found


@pytest.fixture
def invariants(system: System, people: dict[str, dict[str, str]]) -> Callable[[], Awaitable[None]]:
    """`await invariants()` fails naming every breach of the three invariants."""

    async def check() -> None:
        assert await invariant_violations(system, people["admin"]) == []

    return check


@pytest.fixture
def settle(system: System) -> Callable[[], Awaitable[None]]:
    """`await settle()`: run the recovery worker, backoff waived, until no saga step is left."""

    async def run() -> None:
        match = matching_models.Match
        for _ in range(20):
            async with system.ctx.sessions() as session:
                await session.execute(update(match).values(next_attempt_at=None))
                await session.commit()
            await system.ctx.saga.recover()
            async with system.ctx.sessions() as session:
                left = await session.scalar(
                    select(func.count()).select_from(match).where(col(match.step).is_not(None))
                )
            if not left:
                return
        raise AssertionError("saga steps still under way after 20 recovery passes")

    return run
