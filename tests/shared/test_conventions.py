"""Conventions every service shares: problem+json for every error, request ids, health, metrics."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query

from dev_issuer.config import IssuerSettings
from dev_issuer.main import create_app as create_issuer
from mnr_shared.app import build_app
from mnr_shared.auth import AuthSettings
from mnr_shared.problems import Conflict
from mnr_shared.testing import RoutingTransport, bearer, running
from roster_service.config import Settings
from roster_service.main import create_app


def _toy_app() -> FastAPI:
    """A minimal app built with the shared conventions, with routes that fail on purpose."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_app(service="toy", title="toy", description="toy", version="0", lifespan=lifespan)

    @app.get("/numbers")
    async def numbers(limit: Annotated[int, Query(ge=1, le=10)] = 5) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("It clashes.", slug="clash", extra={"conflicting": {"start": "2027-01-01"}})

    return app


@pytest.fixture
async def toy() -> AsyncIterator[httpx.AsyncClient]:
    async with running(_toy_app(), "toy.test") as client:
        yield client


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert body["instance"] == response.request.url.path
    return body


async def test_unknown_route_is_404_problem(toy: httpx.AsyncClient) -> None:
    _is_problem(await toy.get("/nowhere"), 404)


async def test_wrong_method_is_405_problem(toy: httpx.AsyncClient) -> None:
    response = await toy.post("/numbers")
    _is_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_validation_error_is_422_problem_with_errors(toy: httpx.AsyncClient) -> None:
    body = _is_problem(await toy.get("/numbers", params={"limit": "eleven"}), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]
    assert body["errors"][0]["msg"]


async def test_unexpected_error_is_500_problem_without_internals(toy: httpx.AsyncClient) -> None:
    response = await toy.get("/boom")
    _is_problem(response, 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


async def test_raised_problem_carries_slug_and_extension_members(toy: httpx.AsyncClient) -> None:
    body = _is_problem(await toy.get("/conflict"), 409)
    assert body["type"] == "urn:mnr:problem:clash"
    assert body["detail"] == "It clashes."
    assert body["conflicting"] == {"start": "2027-01-01"}


async def test_request_id_is_generated_and_echoed(toy: httpx.AsyncClient) -> None:
    response = await toy.get("/nowhere")
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    assert response.json()["request_id"] == generated


async def test_request_id_from_the_caller_is_propagated(toy: httpx.AsyncClient) -> None:
    response = await toy.get("/numbers", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_unsafe_request_id_is_replaced(toy: httpx.AsyncClient) -> None:
    response = await toy.get("/numbers", headers={"X-Request-ID": 'a b"<script>'})
    assert response.headers["x-request-id"] != 'a b"<script>'


async def test_metrics_count_requests_by_route_template(toy: httpx.AsyncClient) -> None:
    await toy.get("/numbers")
    await toy.get("/nowhere/123")
    text = (await toy.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/numbers",service="toy",status="200"} 1.0' in text
    assert 'route="unmatched"' in text
    assert "/nowhere/123" not in text


async def test_made_up_methods_and_paths_add_no_metric_series(toy: httpx.AsyncClient) -> None:
    await toy.get("/numbers")
    for i in range(500):
        assert (await toy.request(f"BREW{i}", "/numbers")).status_code == 405
    for _ in range(500):
        assert (await toy.get(f"/{uuid.uuid4().hex}/{uuid.uuid4().hex}")).status_code == 404

    text = (await toy.get("/metrics")).text

    series = [line for line in text.splitlines() if line.startswith("http_requests_total{")]
    assert len(series) <= 4, series
    assert 'http_requests_total{method="other",route="/numbers",service="toy",status="405"} 500.0' in text
    assert 'http_requests_total{method="GET",route="unmatched",service="toy",status="404"} 500.0' in text
    assert "BREW" not in text


# An absolute or protocol-relative URL, as the docs pages would name a CDN.
_ABSOLUTE_URL = re.compile(r"""(?:https?:)?//([A-Za-z0-9.\-]+(?::\d+)?)""")
_REFERENCES = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: *["']([^"']+)["']""")


@pytest.fixture(params=["toy", "issuer"])
async def docs_app(
    request: pytest.FixtureRequest, issuer_settings: IssuerSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """A service app and the issuer: both get their docs pages from build_app."""
    app = _toy_app() if request.param == "toy" else create_issuer(issuer_settings)
    async with running(app, f"{request.param}.test") as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_are_served_by_the_app_itself(docs_app: httpx.AsyncClient, page: str) -> None:
    client = docs_app
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text

    hosts = set(_ABSOLUTE_URL.findall(html))
    assert hosts <= {client.base_url.host}, f"{page} loads from {hosts}"
    references = {a or b for a, b in _REFERENCES.findall(html)}
    assets = {ref for ref in references if ref.endswith((".js", ".css", ".png", ".json"))}
    assert any(ref.endswith(".js") for ref in assets), references
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.content, asset
    # The assets are counted under their mount's template, not as unmatched paths.
    assert 'route="unmatched"' not in (await client.get("/metrics")).text


async def test_healthz_answers_without_a_token(roster: httpx.AsyncClient) -> None:
    response = await roster.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "roster"}


async def test_readyz_is_ready_when_the_database_answers(roster: httpx.AsyncClient) -> None:
    response = await roster.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


async def test_readyz_is_503_when_the_database_is_unreachable(
    auth_settings: AuthSettings, transport: RoutingTransport
) -> None:
    app = create_app(
        Settings(database_url="postgresql://nobody@127.0.0.1:1/none"), auth=auth_settings, transport=transport
    )
    async with running(app, "roster.test") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"]["database"].startswith("failed")


async def test_whoami_reflects_the_verified_token(roster: httpx.AsyncClient, token_for: Any) -> None:
    token = await token_for("country_office", sub="co-7", offices=["UGA", "KEN"])
    body = (await roster.get("/v1/whoami", headers=bearer(token))).json()
    assert body["sub"] == "co-7"
    assert body["offices"] == ["KEN", "UGA"]
    assert body["roles"] == ["country_office"]
    assert body["client_id"] is None


async def test_openapi_documents_problem_responses_and_bearer_auth(roster: httpx.AsyncClient) -> None:
    spec = (await roster.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/reference/capabilities"]["get"]
    assert "application/problem+json" in operation["responses"]["401"]["content"]
    assert operation["security"] == [{"HTTPBearer": []}]
    assert spec["info"]["title"] == "MNR Expert Roster — roster service"
