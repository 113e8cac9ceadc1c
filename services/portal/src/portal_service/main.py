"""The portal app: `create_app()`, its lifespan, security headers and HTML error pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnr_shared.app import build_app
from mnr_shared.auth import AuthSettings, refuse_placeholder_secrets
from mnr_shared.db import create_engine, ping, session_factory
from mnr_shared.http import build_client
from portal_service.config import Settings, get_settings
from portal_service.oidc import OIDCClient
from portal_service.pages import auth, home, offers, requests, review
from portal_service.sessions import COOKIE, SessionStore
from portal_service.upstream import ApiError, SignInAgain, build_clients
from portal_service.web import Forbidden, LoginRequired, page_context

log = logging.getLogger("portal")
STATIC = Path(__file__).parent / "static"


class SecurityHeaders:
    """A strict Content-Security-Policy and friends on every answer."""

    def __init__(self, app: ASGIApp, *, form_targets: str) -> None:
        self.app = app
        self.headers = [
            (
                b"content-security-policy",
                (
                    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
                    f"frame-ancestors 'none'; form-action 'self' {form_targets}"
                ).encode(),
            ),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def create_app(
    settings: Settings | None = None,
    *,
    auth_settings: AuthSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the portal; `transport` routes its outbound HTTP (services and the OIDC provider)
    in-process for tests. Outside dev mode a `dev-secret-…` client secret stops it here."""
    settings = settings or get_settings()
    auth_settings = auth_settings or AuthSettings()
    refuse_placeholder_secrets(dev_mode=auth_settings.dev_mode, PORTAL_CLIENT_SECRET=settings.client_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.store = SessionStore(session_factory(engine), settings)
        app.state.clients = build_clients(settings, transport)
        oidc_http = build_client(connect_timeout=2.0, read_timeout=10.0, retries=2, transport=transport)
        app.state.oidc = OIDCClient(settings, oidc_http, transport)
        app.state.readiness_checks["database"] = lambda: ping(engine)
        app.state.readiness_checks["identity provider"] = app.state.oidc.metadata
        try:
            yield
        finally:
            for client in app.state.clients.values():
                await client.aclose()
            await oidc_http.aclose()
            await engine.dispose()

    app = build_app(
        service="portal",
        title="MNR Expert Roster — portal",
        description=(
            "Server-rendered pages for country offices, the Programme Division and experts. "
            "Signs people in with OpenID Connect and calls the services with their own token."
        ),
        version="0.1.0",
        lifespan=lifespan,
        whoami=False,
    )
    app.state.settings = settings
    # Sign-out is a form whose answer redirects to the provider: form-action must allow it.
    app.add_middleware(SecurityHeaders, form_targets=_origin(settings.for_browser(settings.oidc_issuer)))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, home, requests, review, offers):
        app.include_router(module.router)
    _install_page_errors(app)
    return app


def _install_page_errors(app: FastAPI) -> None:
    """Pages answer HTML: a person sees what went wrong and where to go, never a JSON body."""

    async def error_page(request: Request, status: int, message: str | None = None) -> Response:
        page = await page_context(request)
        return page.render("error.html", status=status, status_code=status, message=message)

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='')}", status_code=303)

    @app.exception_handler(SignInAgain)
    async def on_sign_in_again(request: Request, exc: SignInAgain) -> Response:
        page = await page_context(request)
        if page.signed is not None:
            await request.app.state.store.end(page.signed.id)
        response = RedirectResponse(f"/login?next={quote(page.here, safe='')}", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.exception_handler(Forbidden)
    async def on_forbidden(request: Request, exc: Forbidden) -> Response:
        return await error_page(request, 403)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        status = exc.status if exc.status in (403, 404, 409, 503) else 502
        return await error_page(request, status, exc.detail if status in (409, 503) else None)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405 or request.url.path.startswith(("/healthz", "/readyz", "/metrics")):
            return HTMLResponse(str(exc.detail), status_code=exc.status_code)
        return await error_page(request, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        # A malformed id in an address is a page that does not exist.
        return await error_page(request, 404)
