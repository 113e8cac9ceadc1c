"""Fixtures for every test: a fresh database per service on SQLite or PostgreSQL, wired apps, tokens.

`MNR_TEST_DATABASE=postgresql` runs the same suite on the local PostgreSQL server: each test
session creates its own databases there and drops them at the end; between tests every table
is emptied, so no test sees what another left.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from dev_issuer.config import IssuerSettings
from dev_issuer.keys import generate_pem
from dev_issuer.main import create_app as create_issuer
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import Databases, RoutingTransport, running
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
SERVICES = ("roster", "requests", "matching")


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
