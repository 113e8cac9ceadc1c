"""The notifier app: `create_app()`, its stream follower and its delivery loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from mnr_shared.app import background_loops, build_app, service_runtime
from mnr_shared.auth import AuthSettings, refuse_placeholder_secrets
from mnr_shared.http import build_client
from mnr_shared.service_token import ServiceTokenAuth, ServiceTokenClient
from notifier_service import router
from notifier_service.config import Settings, get_settings
from notifier_service.emails import Mailer
from notifier_service.follower import StreamFollower
from notifier_service.webhooks import Webhooks

log = logging.getLogger("notifier")

DESCRIPTION = (
    "Follows the event streams of roster, requests and matching (`GET /v1/events` of each) and "
    "delivers them as emails to the people concerned and as signed webhooks per Standard "
    "Webhooks 1.0: `webhook-id` (the event id, the same on every retry), `webhook-timestamp`, "
    "`webhook-signature` (`v1,<base64 HMAC-SHA256>`), "
    'body `{"type", "timestamp", "data"}` with `data.id` the id of the resource the event is about. '
    "Retries back off (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default, with jitter); 2xx is "
    "delivered, 410 disables the subscription, and so does failing for five days.\n\n"
    "Verify a delivery in Python with the `standardwebhooks` package:\n\n"
    "    from standardwebhooks.webhooks import Webhook\n"
    "    event = Webhook(secret).verify(request_body, request_headers)  # raises if forged or stale\n"
)


async def _every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        try:
            await work()
        except Exception:
            log.exception("%s failed; trying again in %.0f s", name, seconds)
        await asyncio.sleep(seconds)


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    receiver_transport: httpx.AsyncBaseTransport | None = None,
    background: bool = True,
) -> FastAPI:
    """Build the app; `transport` routes calls to the services in-process and
    `receiver_transport` webhook POSTs (tests); `background=False` leaves following and
    delivering to explicit calls."""
    settings = settings or get_settings()
    auth = auth or AuthSettings()
    refuse_placeholder_secrets(dev_mode=auth.dev_mode, NOTIFIER_CLIENT_SECRET=settings.client_secret)
    allow_private = settings.allow_private_urls if settings.allow_private_urls is not None else auth.dev_mode

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            app,
            database_url=settings.database_url,
            audience=settings.audience,
            auth=auth,
            transport=transport,
        ):
            token_http = build_client(transport=transport)
            tokens = ServiceTokenClient(
                http=token_http,
                token_url=settings.token_url or f"{auth.issuer.rstrip('/')}/token",
                client_id=settings.client_id,
                client_secret=settings.client_secret,
            )
            streams = {
                name: build_client(url, auth=ServiceTokenAuth(tokens), transport=transport)
                for name, url in (
                    ("roster", settings.roster_url),
                    ("requests", settings.requests_url),
                    ("matching", settings.matching_url),
                )
            }
            # Receivers are strangers: no retries of our own (the schedule retries), no redirects.
            receivers = httpx.AsyncClient(
                timeout=httpx.Timeout(settings.delivery_timeout_seconds),
                follow_redirects=False,
                transport=receiver_transport,
            )
            webhooks = Webhooks(
                sessions=app.state.sessionmaker,
                http=receivers,
                settings=settings,
                allow_private=allow_private,
            )
            mailer = Mailer(
                sessions=app.state.sessionmaker,
                roster=streams["roster"],
                requests=streams["requests"],
                settings=settings,
            )
            follower = StreamFollower(
                streams=streams,
                sessions=app.state.sessionmaker,
                webhooks=webhooks,
                mailer=mailer,
                page_size=settings.page_size,
            )
            app.state.webhooks, app.state.follower, app.state.mailer = webhooks, follower, mailer
            if background:
                await mailer.recover()
            loops = (
                (
                    _every(settings.poll_interval_seconds, follower.sync, "following the event streams"),
                    _every(settings.deliver_interval_seconds, webhooks.deliver_due, "delivering webhooks"),
                    _every(settings.deliver_interval_seconds, mailer.send_due, "sending emails"),
                )
                if background
                else ()
            )
            try:
                async with background_loops(*loops):
                    yield
            finally:
                for client in (*streams.values(), receivers, token_http):
                    await client.aclose()

    app = build_app(
        service="notifier",
        title="MNR Expert Roster — notifier",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=[{"name": "webhooks", "description": "Subscriptions, deliveries, secrets and tests."}],
    )
    app.state.settings = settings
    app.include_router(router.router)
    return app
