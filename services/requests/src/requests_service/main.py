"""The requests service app: `create_app()` and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from mnr_shared.app import build_app, service_runtime
from mnr_shared.auth import AuthSettings, refuse_placeholder_secrets
from requests_service import router
from requests_service.config import Settings, get_settings
from requests_service.status_machine import transition_table_markdown

DESCRIPTION = (
    "Technical-assistance requests from UNICEF country offices: filing, the review status machine, "
    "history, comments and reporting.\n\n"
    "A country office sees and touches only the requests of its own `offices` (anything else is "
    "404); the programme division and admins see all; clients act by scope (`requests:read`, "
    "`requests:write`); experts have no access (403). Errors are `application/problem+json`.\n\n"
    "Status machine (`POST /v1/requests/{id}/transitions`):\n\n" + transition_table_markdown()
)
OPENAPI_TAGS = [
    {"name": "requests", "description": "File, read, list, edit and transition assistance requests."},
    {
        "name": "history and comments",
        "description": "What happened to a request, and the conversation on it.",
    },
    {"name": "reporting", "description": "Counts for the programme division."},
]


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
    refuse_placeholder_secrets(dev_mode=auth.dev_mode, REQUESTS_CLIENT_SECRET=settings.client_secret)

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
        service="requests",
        title="MNR Expert Roster — requests service",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
    )
    app.state.settings = settings
    app.include_router(router.router)
    app.include_router(router.events)
    return app
