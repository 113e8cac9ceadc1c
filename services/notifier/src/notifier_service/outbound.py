"""Outbound safety for webhook URLs: only https to public addresses, no redirects, bounded time
and response size (unless private URLs are allowed, as in dev mode).

A URL is checked when a subscription is created and again before every attempt, since what a
name resolves to can change. Every address a name resolves to must be public: one private
answer refuses it (a name that resolves to both is how rebinding attacks start).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx


class UnsafeUrl(ValueError):
    """A webhook URL the notifier will not call; the message says why."""


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise `UnsafeUrl` unless `url` may receive webhooks."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("The URL must be an absolute https URL.")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL must not carry credentials.")
    if allow_private:
        return
    if parts.scheme != "https":
        raise UnsafeUrl("The URL must use https.")
    for address in await _resolve(parts.hostname, parts.port or 443):
        if not address.is_global:
            raise UnsafeUrl(f"The URL's host resolves to a non-public address ({address}).")


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"The URL's host does not resolve ({exc.strerror}).") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in answers]


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: a status code (None when no answer came), latency, and why not."""

    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    allow_private: bool,
    max_response_bytes: int,
) -> Attempt:
    """POST once, following no redirect, reading at most `max_response_bytes` of the answer."""
    started = time.perf_counter()
    try:
        await check_url(url, allow_private=allow_private)
        async with http.stream(
            "POST", url, content=body, headers=headers, follow_redirects=False
        ) as response:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > max_response_bytes:
                    break
            status = response.status_code
    except UnsafeUrl as exc:
        return Attempt(None, _since(started), str(exc))
    except httpx.HTTPError as exc:
        return Attempt(None, _since(started), f"{type(exc).__name__}: {exc}"[:500])
    error = (
        f"redirect to {response.headers.get('location', '?')} not followed" if 300 <= status < 400 else None
    )
    return Attempt(status, _since(started), error)


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
