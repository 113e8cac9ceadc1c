"""Test helpers shared by every service's tests: wire several ASGI apps together in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Connection, MetaData, inspect, text
from starlette.types import ASGIApp

from mnr_shared.db import create_engine


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the ASGI app registered for its host; unknown hosts fail to connect.

    Several services and the identity issuer talk real HTTP to each other without sockets;
    `down` marks a host unreachable to exercise failure paths.
    """

    def __init__(self, apps: dict[str, ASGIApp] | None = None) -> None:
        self.apps: dict[str, ASGIApp] = dict(apps or {})
        self.down: set[str] = set()
        self.seen_hosts: list[str] = []

    def add(self, host: str, app: ASGIApp) -> None:
        self.apps[host] = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.seen_hosts.append(host)
        app = self.apps.get(host)
        if app is None or host in self.down:
            raise httpx.ConnectError(f"no route to {host}", request=request)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return await transport.handle_async_request(request)


@asynccontextmanager
async def running(app: FastAPI, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan and give a client that talks to it over in-process HTTP."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Databases:
    """Hands out a clean database URL per name for one test (SQLite file, or a PostgreSQL
    database created for the test session and emptied after each test)."""

    backend: str
    tmp_path: Path
    pg: dict[str, str]
    used: dict[str, tuple[str, MetaData | None]] = field(default_factory=dict)

    async def url(self, name: str, metadata: MetaData | None = None) -> str:
        """A database for `name`, with `metadata`'s tables created when given."""
        url = f"sqlite:///{self.tmp_path / name}.db" if self.backend == "sqlite" else self.pg[name]
        if metadata is not None:
            engine = create_engine(url)
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            await engine.dispose()
        self.used[name] = (url, metadata)
        return url

    async def clean(self) -> None:
        """Empty every table the test used (PostgreSQL; SQLite files die with the test folder).

        Emptying keeps the tables for the next test, which is far cheaper than recreating them.
        """
        if self.backend != "postgresql":
            return
        for url, _ in self.used.values():
            await truncate_everything(url)


async def truncate_everything(url: str) -> None:
    """Empty every table of a PostgreSQL database and restart its sequences."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        if names:
            tables = ", ".join(f'"{name}"' for name in names)
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


async def drop_everything(url: str) -> None:
    """Drop every table in a database (reflected, so tables made by migrations go too)."""
    engine = create_engine(url)
    async with engine.begin() as connection:

        def drop(sync_connection: Connection) -> None:
            existing = MetaData()
            existing.reflect(sync_connection)
            existing.drop_all(sync_connection)

        await connection.run_sync(drop)
    await engine.dispose()
