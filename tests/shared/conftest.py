"""Shared-library test helpers: a bare service app that verifies real tokens from the in-process issuer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mnr_shared.app import build_app, service_runtime
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import RoutingTransport, running

ISSUER = "http://identity.test"
ServiceFor = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def service_for(transport: RoutingTransport, issuer: httpx.AsyncClient, tmp_path: Path) -> ServiceFor:
    """`async with service_for(jwks_cache_seconds=...) as client`: a bare app (audience `roster`)
    verifying real tokens under these `AuthSettings`."""

    @asynccontextmanager
    async def start(**auth: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = AuthSettings(issuer=ISSUER, **auth)

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with service_runtime(
                app,
                database_url=f"sqlite:///{tmp_path}/svc.db",
                audience="roster",
                auth=settings,
                transport=transport,
            ):
                yield

        app = build_app(service="svc", title="svc", description="svc", version="0", lifespan=lifespan)
        async with running(app, "svc.test") as client:
            yield client

    return start
