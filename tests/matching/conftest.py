"""The three services and the issuer wired in-process: real HTTP between them, real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from matching_service import models as matching_models
from matching_service.config import Settings as MatchingSettings
from matching_service.main import create_app as create_matching
from matching_service.service import Context
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import Databases, RoutingTransport, bearer, running


@dataclass
class System:
    roster: httpx.AsyncClient
    requests: httpx.AsyncClient
    matching: httpx.AsyncClient
    app: FastAPI
    transport: RoutingTransport

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
    app = create_matching(settings, auth=auth_settings, transport=transport, background=False)
    transport.add("matching.test", app)
    async with running(app, "matching.test") as client:
        system = System(roster, requests_api, client, app, transport)
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
    }
    body.update(overrides)
    return body


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
