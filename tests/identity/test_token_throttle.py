"""`/token` throttles failed client authentication per client id and per address (429 problem+json)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dev_issuer.config import ClientConfig, IssuerSettings
from dev_issuer.main import create_app, secret_matches
from dev_issuer.throttle import FailureThrottle
from mnr_shared.testing import running

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def strict_issuer(signing_key_file: Path) -> FastAPI:
    return create_app(
        IssuerSettings(
            issuer="http://identity.test",
            dev_mode=True,
            signing_key_file=signing_key_file,
            token_failures_per_client=3,
            token_failures_per_address=6,
        )
    )


@pytest.fixture
async def strict(strict_issuer: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(strict_issuer, "identity.test") as client:
        yield client


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post("/token", data=GRANT, auth=(client_id, secret))


def _assert_429(response: httpx.Response, window: float = 60) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["type"] == "urn:mnr:problem:too-many-attempts"
    assert body["status"] == 429
    assert body["instance"] == "/token"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    return retry_after


async def test_wrong_secrets_for_one_client_are_throttled(strict: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await _token(strict, "matching-service", "guess")).status_code == 401

    _assert_429(await _token(strict, "matching-service", "guess"))
    # Locked even with the right secret, so a run of guesses cannot end on the right one.
    _assert_429(await _token(strict, "matching-service", "dev-secret-matching-service"))
    assert (await _token(strict, "demo-integrator", "dev-secret-demo-integrator")).status_code == 200


async def test_failures_from_one_address_are_throttled_across_client_ids(
    strict: httpx.AsyncClient, strict_issuer: FastAPI
) -> None:
    for i in range(6):
        response = await _token(strict, f"nobody-{i}", "dev-secret-nobody")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"

    _assert_429(await _token(strict, "demo-integrator", "dev-secret-demo-integrator"))
    _assert_429(await strict.post("/token", data=GRANT))
    elsewhere = httpx.ASGITransport(app=strict_issuer, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://identity.test") as other:
        assert (await _token(other, "demo-integrator", "dev-secret-demo-integrator")).status_code == 200


async def test_missing_credentials_count_as_failures(strict: httpx.AsyncClient) -> None:
    for _ in range(6):
        assert (await strict.post("/token", data=GRANT)).status_code == 401

    _assert_429(await strict.post("/token", data=GRANT))


async def test_successes_do_not_count(strict: httpx.AsyncClient) -> None:
    for _ in range(10):
        assert (await _token(strict, "demo-integrator", "dev-secret-demo-integrator")).status_code == 200


async def test_a_guessing_run_meets_429_with_the_default_settings(issuer: httpx.AsyncClient) -> None:
    statuses = [(await _token(issuer, "matching-service", f"guess-{i}")).status_code for i in range(300)]

    assert statuses.count(401) == 10
    assert set(statuses) == {401, 429}


def test_failures_are_forgotten_once_out_of_the_window() -> None:
    now = [1000.0]
    throttle = FailureThrottle(limit=2, window_seconds=60, clock=lambda: now[0])
    throttle.failed("a")
    now[0] += 30
    throttle.failed("a")

    assert throttle.retry_after("a") == 30
    assert throttle.retry_after("b") is None
    now[0] += 29.5
    assert throttle.retry_after("a") == 1
    now[0] += 0.5
    assert throttle.retry_after("a") is None
    throttle.failed("a")
    assert throttle.retry_after("a") == 30


def test_throttle_holds_a_bounded_number_of_keys() -> None:
    throttle = FailureThrottle(limit=1, window_seconds=60, max_keys=3)
    for key in ("a", "b", "c", "d"):
        throttle.failed(key)

    assert throttle.retry_after("a") is None  # forgotten, the least recently failing
    assert [throttle.retry_after(k) is not None for k in ("b", "c", "d")] == [True, True, True]


def test_an_unknown_client_never_matches_even_the_stand_in_secret() -> None:
    stand_in = b"stand-in-secret-bytes"
    known = ClientConfig(secret="s3cret-value")

    assert secret_matches(known, "s3cret-value", stand_in)
    assert not secret_matches(known, "s3cret-valu", stand_in)
    assert not secret_matches(None, stand_in.decode(), stand_in)
