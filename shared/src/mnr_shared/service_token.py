"""Client-credentials tokens for service-to-service calls (RFC 6749 §4.4), cached until near expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import httpx

from mnr_shared.problems import ServiceUnavailable


class ServiceTokenClient:
    """Fetches and caches this service's own access token from the issuer's `/token`."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        refresh_margin_seconds: float = 30.0,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._margin = refresh_margin_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self, *, force: bool = False) -> str:
        if not force and self._token and time.monotonic() < self._expires_at - self._margin:
            return self._token
        async with self._lock:
            if not force and self._token and time.monotonic() < self._expires_at - self._margin:
                return self._token
            form = {"grant_type": "client_credentials"}
            if self._scope:
                form["scope"] = self._scope
            try:
                response = await self._http.post(
                    self._token_url, data=form, auth=(self._client_id, self._client_secret)
                )
            except httpx.HTTPError as exc:
                raise ServiceUnavailable("The identity provider cannot be reached.") from exc
            if response.status_code != 200:
                raise ServiceUnavailable(
                    f"The identity provider refused this service's credentials ({response.status_code})."
                )
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
            self.fetches += 1
            return self._token

    def invalidate(self) -> None:
        self._token = None


class ServiceTokenAuth(httpx.Auth):
    """httpx auth flow: attach the service token; on a 401, fetch a fresh one and retry once."""

    def __init__(self, tokens: ServiceTokenClient) -> None:
        self._tokens = tokens

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._tokens.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._tokens.token(force=True)}"
            yield request
