"""A verified token is remembered for a while, but never past its expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from fastapi import FastAPI
from jose import jwt

from mnr_shared.testing import bearer

ISSUER = "http://identity.test"


ServiceFor = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def _token(issuer_app: FastAPI, *, expires_in: int, sub: str = "cache-test") -> str:
    key = issuer_app.state.issuer.key
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ["roster"],
        "sub": sub,
        "iat": now,
        "exp": now + expires_in,
        "roles": ["admin"],
    }
    return str(jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid}))


async def test_a_remembered_token_is_refused_once_it_expires(
    service_for: ServiceFor, issuer_app: FastAPI
) -> None:
    token = _token(issuer_app, expires_in=2)
    async with service_for(leeway_seconds=0, verified_cache_seconds=60) as svc:
        first = await svc.get("/v1/whoami", headers=bearer(token))
        again = await svc.get("/v1/whoami", headers=bearer(token))
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json()["sub"] == "cache-test"
        await asyncio.sleep(max(0.0, jwt.get_unverified_claims(token)["exp"] - time.time()) + 1.1)
        late = await svc.get("/v1/whoami", headers=bearer(token))
    assert late.status_code == 401, late.text
    assert "expired" in late.json()["detail"]


async def test_a_token_altered_after_it_was_remembered_is_refused(
    service_for: ServiceFor, issuer_app: FastAPI
) -> None:
    token = _token(issuer_app, expires_in=600)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    async with service_for(verified_cache_seconds=60) as svc:
        assert (await svc.get("/v1/whoami", headers=bearer(token))).status_code == 200
        assert (await svc.get("/v1/whoami", headers=bearer(forged))).status_code == 401


async def test_with_the_cache_off_every_request_is_verified(
    service_for: ServiceFor, issuer_app: FastAPI
) -> None:
    token = _token(issuer_app, expires_in=600)
    async with service_for(verified_cache_seconds=0) as svc:
        answers = [await svc.get("/v1/whoami", headers=bearer(token)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
