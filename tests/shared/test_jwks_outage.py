"""Token verification through an identity-provider outage: shared fetches, throttled failures, stale keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from jose.backends.base import Key
from starlette.types import Receive, Scope, Send

from mnr_shared.auth import JWKSCache
from mnr_shared.testing import RoutingTransport, bearer

ISSUER = "http://identity.test"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"


ServiceFor = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def service_for(service_for: ServiceFor) -> ServiceFor:
    """The shared fixture, with the verified-token cache off: these tests are about the key cache,
    so every request looks its key up (tests/shared/test_verified_token_cache.py covers the other)."""

    def start(**auth: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return service_for(verified_cache_seconds=0, **auth)

    return start


class HangingProvider:
    """An identity provider that accepts connections and never answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await asyncio.Event().wait()


async def _whoami_all(client: httpx.AsyncClient, token: str, count: int) -> list[httpx.Response]:
    calls = [client.get("/v1/whoami", headers=bearer(token)) for _ in range(count)]
    return await asyncio.wait_for(asyncio.gather(*calls), timeout=10)


async def test_hanging_provider_holds_up_no_token_with_a_cached_kid(
    service_for: ServiceFor, transport: RoutingTransport, token_for: Any
) -> None:
    token = await token_for("admin")
    async with service_for(jwks_cache_seconds=0.05, jwks_min_refetch_seconds=0) as client:
        assert (await client.get("/v1/whoami", headers=bearer(token))).status_code == 200
        hanging = HangingProvider()
        transport.add("identity.test", hanging)
        await asyncio.sleep(0.1)  # the cached keys are now due for a refresh

        started = time.perf_counter()
        responses = await _whoami_all(client, token, 20)
        elapsed = time.perf_counter() - started

    assert [r.status_code for r in responses] == [200] * 20
    assert elapsed < 0.2, f"20 requests took {elapsed:.3f} s"
    assert hanging.calls == 1  # one refresh in flight, shared, not one per request


async def test_concurrent_callers_share_one_failed_fetch_and_the_failure_is_throttled(
    service_for: ServiceFor, transport: RoutingTransport, token_for: Any
) -> None:
    token = await token_for("admin")
    transport.down.add("identity.test")
    async with service_for(jwks_min_refetch_seconds=30) as client:
        responses = await _whoami_all(client, token, 20)
        fetch_attempts = transport.seen_hosts.count("identity.test")
        again = await client.get("/v1/whoami", headers=bearer(token))

    assert [r.status_code for r in responses] == [503] * 20
    assert responses[0].headers["content-type"] == "application/problem+json"
    assert 1 <= fetch_attempts <= 3  # one fetch (and the HTTP client's own retries), not twenty
    assert again.status_code == 503
    assert transport.seen_hosts.count("identity.test") == fetch_attempts  # remembered: no new fetch


async def test_stale_keys_verify_while_the_provider_is_down_until_max_staleness(
    service_for: ServiceFor, transport: RoutingTransport, token_for: Any
) -> None:
    token = await token_for("admin")
    async with service_for(
        jwks_cache_seconds=0.05, jwks_max_stale_seconds=0.3, jwks_min_refetch_seconds=0
    ) as client:
        assert (await client.get("/v1/whoami", headers=bearer(token))).status_code == 200
        transport.down.add("identity.test")
        await asyncio.sleep(0.1)
        while_stale = await client.get("/v1/whoami", headers=bearer(token))
        await asyncio.sleep(0.3)
        too_stale = await client.get("/v1/whoami", headers=bearer(token))
        transport.down.discard("identity.test")
        recovered = await client.get("/v1/whoami", headers=bearer(token))

    assert while_stale.status_code == 200
    assert too_stale.status_code == 503
    assert too_stale.headers["content-type"] == "application/problem+json"
    assert recovered.status_code == 200


async def test_each_key_is_built_once(transport: RoutingTransport, issuer: httpx.AsyncClient) -> None:
    kid = (await issuer.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    async with httpx.AsyncClient(transport=transport) as http:
        cache = JWKSCache(client=http, url=JWKS_URL, min_refetch_seconds=0, cache_seconds=3600)
        first = await cache.get(kid)
        second = await cache.get(kid)

    assert first is not None
    assert isinstance(first.key, Key)
    assert second is first
    assert cache.fetches == 1
