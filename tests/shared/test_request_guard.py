"""The request guard of every app: body limits, and no body read before a token route has a token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from mnr_shared.app import build_app, service_runtime
from mnr_shared.auth import AuthSettings, CurrentPrincipal
from mnr_shared.guard import DEFAULT_MAX_BODY_BYTES
from mnr_shared.testing import RoutingTransport, bearer, running

MIB = 1024 * 1024
CHUNK = 64 * 1024


class Note(BaseModel):
    text: str


def _guarded_app(*, auth: AuthSettings, transport: RoutingTransport, database_url: str) -> FastAPI:
    """An app built by build_app with an open JSON route, a token route and a larger-limit route."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            app, database_url=database_url, audience="roster", auth=auth, transport=transport
        ):
            yield

    app = build_app(service="guarded", title="guarded", description="guarded", version="0", lifespan=lifespan)

    @app.post("/open")
    async def open_route(items: list[int]) -> dict[str, int]:
        return {"count": len(items)}

    @app.post("/notes")
    async def notes(note: Note, who: CurrentPrincipal) -> dict[str, str]:
        return {"by": who.sub, "text": note.text}

    @app.post("/uploads", max_body_size=2 * MIB)
    async def uploads(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


@pytest.fixture
async def guarded(
    auth_settings: AuthSettings, transport: RoutingTransport, issuer: httpx.AsyncClient, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    app = _guarded_app(auth=auth_settings, transport=transport, database_url=f"sqlite:///{tmp_path}/g.db")
    async with running(app, "guarded.test") as client:
        yield client


class Body:
    """A body of `size` bytes sent in chunks; `pulled` counts the chunks the app asked for."""

    def __init__(self, size: int, *, prefix: bytes = b"[") -> None:
        self.size = size
        self.prefix = prefix
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.size:
            chunk = (self.prefix if sent == 0 else b"") + b"1," * (CHUNK // 2)
            chunk = chunk[: self.size - sent]
            self.pulled += 1
            sent += len(chunk)
            yield chunk


async def _post(
    client: httpx.AsyncClient, path: str, body: Body, *, declared: bool, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    if declared:
        sent_headers["Content-Length"] = str(body.size)
    return await client.post(path, content=body, headers=sent_headers)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_declared_body_over_the_default_limit_is_413_problem_unread(guarded: httpx.AsyncClient) -> None:
    body = Body(DEFAULT_MAX_BODY_BYTES + 1)

    problem = _problem(await _post(guarded, "/open", body, declared=True), 413)

    assert DEFAULT_MAX_BODY_BYTES == MIB
    assert problem["type"] == "urn:mnr:problem:content-too-large"
    assert problem["max_body_bytes"] == MIB
    assert body.pulled == 0


async def test_chunked_body_is_no_longer_read_past_the_limit(guarded: httpx.AsyncClient) -> None:
    body = Body(8 * MIB)

    problem = _problem(await _post(guarded, "/open", body, declared=False), 413)

    assert problem["type"] == "urn:mnr:problem:content-too-large"
    assert body.pulled <= MIB // CHUNK + 1


async def test_body_within_the_limit_is_served(guarded: httpx.AsyncClient) -> None:
    response = await guarded.post("/open", json=list(range(1000)))

    assert response.status_code == 200, response.text
    assert response.json() == {"count": 1000}


async def test_route_declaring_a_larger_limit_takes_a_larger_body(guarded: httpx.AsyncClient) -> None:
    for declared in (True, False):
        response = await _post(guarded, "/uploads", Body(3 * MIB // 2), declared=declared)
        assert response.status_code == 200, response.text
        assert response.json() == {"size": 3 * MIB // 2}


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_over_a_declared_limit_is_413_problem(guarded: httpx.AsyncClient, declared: bool) -> None:
    body = Body(2 * MIB + 1 if declared else 8 * MIB)

    problem = _problem(await _post(guarded, "/uploads", body, declared=declared), 413)

    assert problem["type"] == "urn:mnr:problem:content-too-large"
    assert problem["max_body_bytes"] == 2 * MIB
    assert body.pulled <= 2 * MIB // CHUNK + 1


async def _missing_token_problem(client: httpx.AsyncClient) -> dict[str, Any]:
    """What the auth dependency itself answers a caller without a token (on a GET, no body)."""
    response = await client.get("/v1/whoami")
    assert response.headers["www-authenticate"] == "Bearer"
    return {k: v for k, v in _problem(response, 401).items() if k not in {"instance", "request_id"}}


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer    ", "Token abc.def.ghi"],
    ids=["missing", "basic", "bearer-alone", "bearer-blank", "other-scheme"],
)
async def test_token_route_refuses_without_a_bearer_token_before_reading_the_body(
    guarded: httpx.AsyncClient, authorization: str | None
) -> None:
    body = Body(21 * MIB)  # the finding: 21 MB of JSON and no token
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await _post(guarded, "/notes", body, declared=True, headers=headers)

    problem = _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert {k: v for k, v in problem.items() if k not in {"instance", "request_id"}} == (
        await _missing_token_problem(guarded)
    )
    assert body.pulled == 0


async def test_token_route_refuses_a_bad_token_before_reading_the_body(guarded: httpx.AsyncClient) -> None:
    body = Body(512 * 1024)

    response = await _post(guarded, "/notes", body, declared=False, headers=bearer("not.a.jwt"))

    problem = _problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert problem["detail"] == "The bearer token is malformed."
    assert body.pulled == 0


async def test_token_route_with_a_valid_token_reads_the_body(
    guarded: httpx.AsyncClient, token_for: Any
) -> None:
    token = await token_for("programme_division", sub="pd-9")

    response = await guarded.post("/notes", json={"text": "hello"}, headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json() == {"by": "pd-9", "text": "hello"}


async def test_open_route_is_not_asked_for_a_token(guarded: httpx.AsyncClient) -> None:
    response = await guarded.post("/open", json=[1, 2], headers={"Authorization": "Basic YWRtaW46YWRtaW4="})

    assert response.status_code == 200, response.text


async def test_services_refuse_an_unauthenticated_body_before_reading_it(roster: httpx.AsyncClient) -> None:
    body = Body(21 * MIB, prefix=b"{")

    response = await _post(roster, "/v1/experts", body, declared=True)

    _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body.pulled == 0
