"""The matching service app: `create_app()` and its lifespan (clients, index follower, worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from matching_service import router, service
from matching_service.clients.upstream import RequestsClient, RosterClient
from matching_service.config import Settings, get_settings
from matching_service.feed import IndexFollower
from matching_service.index import ExpertIndex
from matching_service.metrics import MatchingMetrics
from matching_service.reconciler import Reconciler
from matching_service.saga import Saga
from mnr_shared.app import background_loops, build_app, service_runtime
from mnr_shared.auth import AuthSettings, refuse_placeholder_secrets
from mnr_shared.http import build_client
from mnr_shared.service_token import ServiceTokenAuth, ServiceTokenClient

DESCRIPTION = (
    "Ranks experts against assistance requests with an explained score, and turns the "
    "Programme Division's approval into a reservation (the approval saga). Experts live in an "
    "in-memory columnar index fed by the roster's change feed; a ranking never touches a "
    "database or the network per expert."
)


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    background: bool = True,
) -> FastAPI:
    """Build the app; `transport` routes outbound HTTP in-process for tests, and
    `background=False` leaves feed polling, recovery and reconciliation to explicit calls (tests
    drive them)."""
    settings = settings or get_settings()
    auth = auth or AuthSettings()
    # Outside AUTH_DEV_MODE, a missing or dev-secret-… client secret stops the service here.
    refuse_placeholder_secrets(dev_mode=auth.dev_mode, MATCHING_CLIENT_SECRET=settings.client_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            app,
            database_url=settings.database_url,
            audience=settings.audience,
            auth=auth,
            transport=transport,
        ):
            timeouts = {
                "connect_timeout": settings.upstream_connect_timeout_seconds,
                "read_timeout": settings.upstream_read_timeout_seconds,
                "retries": settings.upstream_retries,
                "transport": transport,
            }
            token_http = build_client(**timeouts)  # type: ignore[arg-type]
            tokens = ServiceTokenClient(
                http=token_http,
                token_url=settings.token_url or f"{auth.issuer.rstrip('/')}/token",
                client_id=settings.client_id,
                client_secret=settings.client_secret,
            )
            roster_http = build_client(settings.roster_url, auth=ServiceTokenAuth(tokens), **timeouts)  # type: ignore[arg-type]
            requests_http = build_client(settings.requests_url, auth=ServiceTokenAuth(tokens), **timeouts)  # type: ignore[arg-type]
            roster = RosterClient(roster_http)
            requests = RequestsClient(requests_http, cache_seconds=settings.request_cache_seconds)
            index = ExpertIndex()
            follower = IndexFollower(
                roster=roster,
                index=index,
                interval_seconds=settings.poll_interval_seconds,
                sessions=app.state.sessionmaker,
            )
            metrics: MatchingMetrics = app.state.matching_metrics
            saga = Saga(
                sessions=app.state.sessionmaker,
                roster=roster,
                requests=requests,
                settings=settings,
                metrics=metrics,
            )
            reconciler = Reconciler(
                sessions=app.state.sessionmaker,
                roster=roster,
                requests=requests,
                saga=saga,
                settings=settings,
                metrics=metrics,
            )
            async with app.state.sessionmaker() as session:
                await service.ensure_policy(session=session)
                policy = (await service.current_policy(session=session)).item
            app.state.ctx = service.Context(
                settings=settings,
                sessions=app.state.sessionmaker,
                roster=roster,
                requests=requests,
                index=index,
                follower=follower,
                saga=saga,
                reconciler=reconciler,
                # Read again through the read-only view: a refresh never queues behind a writer.
                policy=service.CurrentPolicy(
                    policy, sessions=app.state.read_sessionmaker, max_age=settings.policy_cache_seconds
                ),
            )

            async def index_loaded() -> None:
                if not follower.loaded.is_set():
                    raise RuntimeError("expert index not loaded yet")

            async def upstream_up(client: httpx.AsyncClient) -> None:
                (await client.get("/healthz")).raise_for_status()

            app.state.readiness_checks["index"] = index_loaded
            app.state.readiness_checks["roster"] = lambda: upstream_up(roster_http)
            app.state.readiness_checks["requests"] = lambda: upstream_up(requests_http)

            async def reconcile_once_loaded() -> None:
                # The reconciler's pass calls both upstreams for every live match; started once
                # the index is loaded, it does not slow the load that readiness waits for.
                await follower.loaded.wait()
                await reconciler.run()

            loops = (follower.run(), saga.run(), reconcile_once_loaded()) if background else ()
            try:
                async with background_loops(*loops):
                    yield
            finally:
                for client in (roster_http, requests_http, token_http):
                    await client.aclose()

    app = build_app(
        service="matching",
        title="MNR Expert Roster — matching service",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # The saga's and reconciler's metrics, on the app's registry (`/metrics`), made once per app.
    app.state.matching_metrics = MatchingMetrics(app.state.metrics.registry)
    app.include_router(router.router)
    app.include_router(router.events)
    return app
