"""The matching service app: `create_app()` and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from matching_service import router
from matching_service.config import Settings, get_settings
from mnr_shared.app import build_app, service_runtime
from mnr_shared.auth import AuthSettings

DESCRIPTION = (
    "Ranks experts against assistance requests with an explained score, and turns the Programme "
    "Division's approval into a reservation (the approval saga)."
)


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app; `transport` routes outbound HTTP in-process for tests."""
    settings = settings or get_settings()
    auth = auth or AuthSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            app,
            database_url=settings.database_url,
            audience=settings.audience,
            auth=auth,
            transport=transport,
        ):
            yield

    app = build_app(
        service="matching",
        title="MNR Expert Roster — matching service",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(router.router)
    return app
