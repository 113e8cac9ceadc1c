"""The notifier wired to the in-process system, and a webhook receiver it can call."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mnr_devkit.mailbox import MailStore, Sink
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import RoutingTransport, running
from notifier_service import models as notifier_models
from notifier_service.config import Mailbox
from notifier_service.config import Settings as NotifierSettings
from notifier_service.main import create_app as create_notifier

KENYA_OFFICE = "kenya.ta@example.org"
PD_MAILBOX = "pd.ta@example.org"


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
    inbox: MailStore

    async def pump(self) -> None:
        """Follow every stream to its end, then attempt whatever webhook and email is due."""
        await self.app.state.follower.sync()
        await self.app.state.webhooks.deliver_due()
        await self.app.state.mailer.send_due()

    def mail(self, to: str | None = None) -> list[dict[str, Any]]:
        """What the SMTP sink received (oldest first), optionally for one address."""
        kept = sorted(self.inbox._messages.values(), key=lambda m: m["id"])
        found: list[dict[str, Any]] = [dict(m) for m in kept]
        return [m for m in found if to is None or to in list(m["to"])]


@pytest.fixture
def smtp_sink(tmp_path: Any) -> Any:
    """A real SMTP server on a free port, keeping what it receives (the dev inbox's store)."""
    store = MailStore(tmp_path / "mail")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(store), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield store, port
    finally:
        controller.stop()


@pytest.fixture
async def notifier(
    system: Any, databases: Any, auth_settings: AuthSettings, transport: RoutingTransport, smtp_sink: Any
) -> AsyncIterator[Notifier]:
    inbox, smtp_port = smtp_sink
    url = await databases.url("notifier", notifier_models.metadata)
    settings = NotifierSettings(
        database_url=url,
        roster_url="http://roster.test",
        requests_url="http://requests.test",
        matching_url="http://matching.test",
        token_url="http://identity.test/token",
        smtp_port=smtp_port,
        portal_url="https://portal.example.org",
        pd_mailbox=Mailbox(address=PD_MAILBOX, language="en"),
        office_mailboxes={"KEN": Mailbox(address=KENYA_OFFICE, language="fr")},
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
        app.state.mailer.clock = clock
        yield Notifier(client, app, receiver, clock, inbox)
