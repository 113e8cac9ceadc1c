"""What every service app has: problem+json errors, request ids, metrics, health, auth, body limits, docs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mnr_shared.auth import AuthSettings, CurrentPrincipal, JWKSCache, TokenVerifier
from mnr_shared.db import create_engine, ping, read_only, session_factory
from mnr_shared.fastread import Reads
from mnr_shared.guard import DEFAULT_MAX_BODY_BYTES, RequestGuard
from mnr_shared.http import build_client
from mnr_shared.observability import Metrics, MetricsMiddleware, RequestIdMiddleware
from mnr_shared.problems import install_problem_handlers, problem_response, problem_responses

log = logging.getLogger("mnr.app")

ReadinessCheck = Callable[[], Awaitable[object]]
OPS_TAG = "operations"


def build_app(
    *,
    service: str,
    title: str,
    description: str,
    version: str,
    lifespan: Callable[[FastAPI], Any],
    openapi_tags: list[dict[str, Any]] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    whoami: bool = True,
) -> FastAPI:
    """A FastAPI app wired with the cross-service conventions of DESIGN §5.

    `max_body_bytes` is the body limit of every route that declares none (see mnr_shared.guard).
    `whoami` adds `GET /v1/whoami` (services that verify bearer tokens; not the portal).
    """
    # Swagger UI and ReDoc come from the fastapi-offline package, so /docs works without a CDN.
    app = FastAPIOffline(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        openapi_tags=[
            *(openapi_tags or []),
            {"name": OPS_TAG, "description": "Health, readiness and metrics (no auth)."},
        ],
        # Swagger UI would otherwise ask validator.swagger.io to judge the spec.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.service = service
    app.state.readiness_checks = {}
    metrics = Metrics(service)
    app.state.metrics = metrics
    install_problem_handlers(app)
    # Innermost first: the guard answers inside the metrics and request-id middleware.
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    _add_ops_routes(app)
    if whoami:
        _add_whoami(app)
    return app


def _add_whoami(app: FastAPI) -> None:
    @app.get(
        "/v1/whoami",
        tags=["auth"],
        summary="The caller as this service sees it",
        responses=problem_responses(401),
    )
    async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
        """Any authenticated caller: shows the identity, roles, offices and scopes it was granted."""
        return {
            "sub": principal.sub,
            "name": principal.name,
            "roles": sorted(principal.roles),
            "offices": sorted(principal.offices),
            "expert_id": str(principal.expert_id) if principal.expert_id else None,
            "scopes": sorted(principal.scopes),
            "client_id": principal.client_id,
        }


def _add_ops_routes(app: FastAPI) -> None:
    # Public on purpose: orchestrators and scrapers call these without tokens; they reveal no data.
    @app.get("/healthz", tags=[OPS_TAG], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": app.state.service}

    @app.get(
        "/readyz",
        tags=[OPS_TAG],
        summary="The database and upstreams answer",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz(request: Request) -> Response:
        checks: dict[str, ReadinessCheck] = app.state.readiness_checks
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=3.0)
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", whatever raised it
                results[name] = f"failed: {type(exc).__name__}"
        if all(v == "ok" for v in results.values()):
            return JSONResponse({"status": "ready", "checks": results})
        return problem_response(status=503, request=request, detail="Not ready.", extra={"checks": results})

    @app.get("/metrics", tags=[OPS_TAG], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@asynccontextmanager
async def service_runtime(
    app: FastAPI,
    *,
    database_url: str,
    audience: str,
    auth: AuthSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[None]:
    """Engine, session factory and token verifier for one service, built once and closed once."""
    engine = create_engine(database_url)
    jwks_http = build_client(connect_timeout=2.0, read_timeout=5.0, retries=2, transport=transport)
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    app.state.read_sessionmaker = session_factory(read_only(engine))
    reads = app.state.reads = Reads(engine)
    app.state.transport = transport
    jwks = JWKSCache(
        client=jwks_http,
        url=auth.resolved_jwks_url,
        min_refetch_seconds=auth.jwks_min_refetch_seconds,
        cache_seconds=auth.jwks_cache_seconds,
        max_stale_seconds=auth.jwks_max_stale_seconds,
    )
    app.state.verifier = TokenVerifier(settings=auth, audience=audience, jwks=jwks)
    app.state.readiness_checks["database"] = lambda: ping(engine)
    try:
        yield
    finally:
        await jwks.aclose()
        await jwks_http.aclose()
        reads.close()
        await engine.dispose()


@asynccontextmanager
async def background_loops(*loops: Awaitable[object]) -> AsyncIterator[None]:
    """Run a service's background loops for the life of its lifespan, each in a task of its own;
    on the way out every task is cancelled and awaited (none outlives the app)."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
