"""The notifier wired to the in-process system, and a webhook receiver it can call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mnr_shared.auth import AuthSettings
from mnr_shared.testing import RoutingTransport, running
from notifier_service import models as notifier_models
from notifier_service.config import Settings as NotifierSettings
from notifier_service.main import create_app as create_notifier


@dataclass
class Receiver:
    """A webhook receiver: records every POST, answers the scripted statuses, then 204."""

    answers: list[int] = field(default_factory=list)
    received: list[httpx.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        self.bodies.append(await request.body())
        self.received.append(httpx.Request("POST", str(request.url), headers=request.headers.raw))
        status = self.answers.pop(0) if self.answers else 204
        headers = {"location": "https://elsewhere.test/"} if 300 <= status < 400 else {}
        return Response(status_code=status, headers=headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.endpoint, methods=["POST"])])


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # real time: receivers check the signed timestamp

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Notifier:
    client: httpx.AsyncClient
    app: FastAPI
    receiver: Receiver
    clock: Clock

    async def pump(self) -> None:
        """Follow every stream to its end, then attempt whatever is due."""
        await self.app.state.follower.sync()
        await self.app.state.webhooks.deliver_due()


@pytest.fixture
async def notifier(
    system: Any, databases: Any, auth_settings: AuthSettings, transport: RoutingTransport
) -> AsyncIterator[Notifier]:
    url = await databases.url("notifier", notifier_models.metadata)
    settings = NotifierSettings(
        database_url=url,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        matching_url="http://matching.test",
        token_url="http://identity.test/token",
    )
    receiver = Receiver()
    receivers = RoutingTransport({"hooks.test": receiver.app()})
    app = create_notifier(
        settings, auth=auth_settings, transport=transport, receiver_transport=receivers, background=False
    )
    transport.add("notifier.test", app)
    async with running(app, "notifier.test") as client:
        clock = Clock()
        app.state.webhooks.clock = clock
        app.state.webhooks.jitter = lambda: 0.5  # the scheduled wait exactly
        yield Notifier(client, app, receiver, clock)
