"""The portal wired in-process to the issuer and the three services, and a browser-like login."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from dev_issuer.config import ClientConfig, IssuerSettings
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import Databases, RoutingTransport
from portal_service import models as portal_models
from portal_service.config import Settings as PortalSettings
from portal_service.main import create_app as create_portal

PORTAL = "http://portal.test"
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def issuer_settings(signing_key_file: Any) -> IssuerSettings:
    """The dev issuer with the portal registered at its in-process address."""
    settings = IssuerSettings(issuer="http://identity.test", dev_mode=True, signing_key_file=signing_key_file)
    settings.clients["portal"] = ClientConfig(
        secret="dev-secret-portal",
        redirect_uris=[f"{PORTAL}/auth/callback"],
        post_logout_redirect_uris=[f"{PORTAL}/"],
    )
    return settings


@pytest.fixture
async def portal_app(
    system: Any, databases: Databases, auth_settings: AuthSettings, transport: RoutingTransport
) -> AsyncIterator[FastAPI]:
    url = await databases.url("portal", portal_models.metadata)
    settings = PortalSettings(
        database_url=url,
        public_url=PORTAL,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        matching_url="http://matching.test",
        oidc_issuer="http://identity.test",
    )
    app = create_portal(settings, auth_settings=auth_settings, transport=transport)
    transport.add("portal.test", app)
    async with app.router.lifespan_context(app):
        yield app


class Kit:
    """What portal tests need: signed-in browsers, and readers for the pages they get back."""

    def __init__(self, transport: RoutingTransport) -> None:
        self.transport = transport
        self.clients: list[httpx.AsyncClient] = []

    async def browser(self, **persona: Any) -> httpx.AsyncClient:
        """A cookie-keeping client; with a persona (`role`, `offices`, `expert_id`, `name`) it
        signs in through the real flow: /login → issuer /authorize (custom persona) → callback."""
        client = httpx.AsyncClient(transport=self.transport, base_url=PORTAL)
        self.clients.append(client)
        if persona:
            page = await self.sign_in(client, **persona)
            assert page.status_code == 200, page.text
        return client

    @staticmethod
    async def sign_in(
        client: httpx.AsyncClient,
        *,
        role: str,
        offices: str = "",
        expert_id: str = "",
        name: str = "",
        next: str = "/",
    ) -> httpx.Response:
        started = await client.get("/login", params={"next": next})
        assert started.status_code == 303, started.text
        authorize = started.headers["location"]
        assert authorize.startswith("http://identity.test/authorize?")
        shown = await client.get(authorize)
        assert shown.status_code == 200, shown.text
        params = dict(parse_qsl(urlsplit(authorize).query))
        chosen = await client.post(
            "http://identity.test/authorize",
            data={**params, "role": role, "offices": offices, "expert_id": expert_id, "name": name},
        )
        assert chosen.status_code == 303, chosen.text
        back = chosen.headers["location"]
        assert back.startswith(f"{PORTAL}/auth/callback?")
        landed = await client.get(back)
        assert landed.status_code == 303, landed.text
        return await client.get(landed.headers["location"])

    @staticmethod
    def csrf(html: str) -> str:
        # Every form on the page carries the same, non-empty token (a macro that lost
        # its context renders an empty one, and the browser's post is refused).
        found: set[str] = set(CSRF.findall(html))
        assert found, "no CSRF token on the page"
        assert len(found) == 1, found
        assert "" not in found, "a form on the page has an empty CSRF token"
        return found.pop()

    @staticmethod
    def h1(html: str) -> str:
        headings = re.findall(r"<h1[^>]*>(.*?)</h1>", html, flags=re.S)
        assert len(headings) == 1, headings
        return re.sub(r"<[^>]+>", "", headings[0]).strip()

    @staticmethod
    def text(html: str) -> str:
        """The page as a person reads it: tags gone, whitespace folded."""
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
async def kit(portal_app: FastAPI, transport: RoutingTransport) -> AsyncIterator[Kit]:
    tools = Kit(transport)
    yield tools
    for client in tools.clients:
        await client.aclose()
