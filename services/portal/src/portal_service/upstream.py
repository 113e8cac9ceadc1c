"""Calls to roster, requests and matching with the signed-in person's own token, so every
authorisation rule stays in the services. Problems come back as `ApiError`; a 401 means the
token no longer works and the person signs in again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from mnr_shared.http import build_client
from portal_service.config import Settings

SERVICES = ("roster", "requests", "matching")


class SignInAgain(Exception):
    """The service refused the token (expired or revoked)."""


@dataclass
class ApiError(Exception):
    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")

    @property
    def slug(self) -> str:
        """The last part of the problem `type` (e.g. `request-not-open`)."""
        return str(self.problem.get("type", "")).rstrip("/").rsplit("/", 1)[-1]

    def field_errors(self) -> dict[str, str]:
        """`errors` of a 422 keyed by field path without the leading `body`: `title`,
        `capabilities.0.min_level`, or `` for the whole body."""
        found: dict[str, str] = {}
        for error in self.problem.get("errors") or []:
            loc = [str(part) for part in error.get("loc", []) if part not in ("body", "query")]
            found.setdefault(".".join(loc), str(error.get("msg", "")))
        return found


@dataclass(frozen=True)
class Answer:
    data: Any
    etag: str | None


def build_clients(
    settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> dict[str, httpx.AsyncClient]:
    urls = {
        "roster": settings.roster_url,
        "requests": settings.requests_url,
        "matching": settings.matching_url,
    }
    # Retries only for safe methods and connection failures (mnr_shared.http); a page waits at
    # most a few seconds for a service before it says the service is unavailable.
    return {
        name: build_client(url, connect_timeout=2.0, read_timeout=15.0, retries=2, transport=transport)
        for name, url in urls.items()
    }


class Api:
    """One person's view of the services for one page."""

    def __init__(self, clients: dict[str, httpx.AsyncClient], token: str, lang: str) -> None:
        self.clients = clients
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang}

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        try:
            response = await self.clients[service].request(
                method, path, params=params, json=json, headers={**self.headers, **(headers or {})}
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                503, {"title": "Service Unavailable", "detail": f"{service}: {type(exc).__name__}"}
            ) from exc
        if response.status_code == 401:
            raise SignInAgain()
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase}
            raise ApiError(response.status_code, problem if isinstance(problem, dict) else {})
        data = response.json() if response.content else None
        return Answer(data, response.headers.get("etag"))

    async def get(self, service: str, path: str, params: Any = None) -> Any:
        return (await self.call(service, "GET", path, params=params)).data

    async def post(
        self, service: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        return (await self.call(service, "POST", path, json=json, headers=headers)).data
