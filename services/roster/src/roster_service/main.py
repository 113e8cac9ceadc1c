"""The roster service app: `create_app()` and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from mnr_shared.app import build_app, service_runtime
from mnr_shared.auth import AuthSettings, refuse_placeholder_secrets
from roster_service import router
from roster_service.config import Settings, get_settings

DESCRIPTION = (
    "Experts on the WePROTECT Model National Response: profiles, expertise, languages, "
    "calendars, bookings and the change feed the matching service follows."
)


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app; `transport` routes outbound HTTP in-process for tests. Outside dev mode it
    refuses (PlaceholderSecretError) a missing or `dev-secret-…` client secret."""
    settings = settings or get_settings()
    auth = auth or AuthSettings()
    # Outside AUTH_DEV_MODE, a missing or dev-secret-… client secret stops the service here.
    refuse_placeholder_secrets(dev_mode=auth.dev_mode, ROSTER_CLIENT_SECRET=settings.client_secret)

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
        service="roster",
        title="MNR Expert Roster — roster service",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(router.router)
    return app
