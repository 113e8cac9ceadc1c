"""Outbound HTTP: one httpx client per upstream, explicit timeouts, safe retries, request-id propagation."""

from __future__ import annotations

import asyncio
import logging
import random

import httpx

from mnr_shared.observability import REQUEST_ID_HEADER, current_request_id

log = logging.getLogger("mnr.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})


def is_retryable_request(request: httpx.Request) -> bool:
    """Only requests that can be repeated without a second effect: idempotent, or keyed."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries connection failures, timeouts and 502/503/504 with exponential backoff and jitter."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        retries: int = 3,
        backoff_seconds: float = 0.1,
        max_backoff_seconds: float = 2.0,
    ) -> None:
        self._inner = inner
        self._retries = retries
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempts = self._retries + 1 if is_retryable_request(request) else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx.TransportError, httpx.TimeoutException):
                if last:
                    raise
                log.info(
                    "retrying after transport error", extra={"url": str(request.url), "attempt": attempt + 1}
                )
            else:
                if response.status_code not in RETRYABLE_STATUSES or last:
                    return response
                await response.aclose()
                log.info(
                    "retrying after upstream status",
                    extra={"url": str(request.url), "status": response.status_code, "attempt": attempt + 1},
                )
            await asyncio.sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        ceiling = min(self._max_backoff, self._backoff * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _add_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and REQUEST_ID_HEADER.lower() not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id


def build_client(
    base_url: str = "",
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 10.0,
    retries: int = 3,
    backoff_seconds: float = 0.1,
    transport: httpx.AsyncBaseTransport | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    """The one way services build outbound clients; `transport` lets tests wire apps in-process."""
    inner = transport or httpx.AsyncHTTPTransport()
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        transport=RetryTransport(inner, retries=retries, backoff_seconds=backoff_seconds),
        auth=auth,
        event_hooks={"request": [_add_request_id]},
        follow_redirects=False,
    )
