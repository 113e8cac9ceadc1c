"""The dev identity issuer: discovery, public-only JWKS, RFC 6749 client credentials, dev tokens."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt

from dev_issuer.config import ClientConfig, IssuerSettings
from dev_issuer.keys import load_or_create
from dev_issuer.main import create_app
from mnr_shared.auth import PlaceholderSecretError
from mnr_shared.testing import running


async def test_discovery_points_at_jwks_and_token(issuer: httpx.AsyncClient) -> None:
    body = (await issuer.get("/.well-known/openid-configuration")).json()
    assert body["issuer"] == "http://identity.test"
    assert body["jwks_uri"] == "http://identity.test/.well-known/jwks.json"
    assert body["token_endpoint"] == "http://identity.test/token"
    assert body["grant_types_supported"] == ["client_credentials", "authorization_code"]  # dev mode


async def test_jwks_publishes_only_public_key_material(issuer: httpx.AsyncClient) -> None:
    keys = (await issuer.get("/.well-known/jwks.json")).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])


async def test_client_credentials_with_basic_auth(issuer: httpx.AsyncClient) -> None:
    response = await issuer.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=("matching-service", "dev-secret-matching-service"),
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["sub"] == claims["client_id"] == "matching-service"
    assert set(claims["scope"].split()) == {"roster:read", "roster:write", "requests:read", "requests:write"}


async def test_client_credentials_in_the_form_and_narrowed_scope(issuer: httpx.AsyncClient) -> None:
    response = await issuer.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo-integrator",
            "client_secret": "dev-secret-demo-integrator",
            "scope": "roster:read",
        },
    )
    assert response.status_code == 200
    assert jwt.get_unverified_claims(response.json()["access_token"])["scope"] == "roster:read"


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (("matching-service", "wrong-secret"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("nobody", "dev-secret-nobody"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("matching-service", "dev-secret-matching-service"), {}, 400, "invalid_request"),
        (
            ("matching-service", "dev-secret-matching-service"),
            {"grant_type": "password"},
            400,
            "unsupported_grant_type",
        ),
        (
            ("demo-integrator", "dev-secret-demo-integrator"),
            {"grant_type": "client_credentials", "scope": "roster:write"},
            400,
            "invalid_scope",
        ),
    ],
)
async def test_token_endpoint_errors_follow_rfc6749(
    issuer: httpx.AsyncClient, auth: tuple[str, str] | None, form: dict[str, str], status: int, error: str
) -> None:
    if auth is None:
        response = await issuer.post("/token", data=form)
    else:
        response = await issuer.post("/token", data=form, auth=auth)
    assert response.status_code == status
    assert response.json()["error"] == error
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_token_endpoint_refuses_json(issuer: httpx.AsyncClient) -> None:
    response = await issuer.post("/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_dev_token_carries_the_requested_claims(issuer: httpx.AsyncClient) -> None:
    response = await issuer.post(
        "/dev/token",
        json={
            "sub": "co-1",
            "roles": ["country_office"],
            "offices": ["ken", "XKX"],
            "name": "Kenya CO",
            "expires_in": 120,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["offices"] == ["KEN", "XKX"]
    assert claims["roles"] == ["country_office"]
    assert claims["name"] == "Kenya CO"
    assert claims["exp"] - claims["iat"] == 120
    assert set(claims["aud"]) == {"roster", "requests", "matching", "notifier"}


async def test_dev_token_defaults_sub_from_role(issuer: httpx.AsyncClient) -> None:
    response = await issuer.post("/dev/token", json={"roles": ["programme_division"]})
    claims = jwt.get_unverified_claims(response.json()["access_token"])
    assert claims["sub"] == "dev-programme_division"


@pytest.mark.parametrize(
    "body",
    [
        {"roles": []},
        {"roles": ["superuser"]},
        {"roles": ["country_office"]},
        {"roles": ["country_office"], "offices": ["ZZZ"]},
        {"roles": ["expert"], "expert_id": "not-a-uuid"},
        {"roles": ["admin"], "expires_in": 10},
        {"roles": ["admin"], "expires_in": 10**7},
    ],
)
async def test_dev_token_rejects_bad_bodies_with_422_problem(
    issuer: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await issuer.post("/dev/token", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


def _real_clients() -> dict[str, ClientConfig]:
    return {"roster-service": ClientConfig(secret="a-real-secret-from-the-vault", scopes=["requests:read"])}


async def test_dev_token_is_absent_without_dev_mode(signing_key_file: Path) -> None:
    app = create_app(
        IssuerSettings(
            issuer="http://identity.test",
            dev_mode=False,
            signing_key_file=signing_key_file,
            clients=_real_clients(),
        )
    )
    async with running(app, "identity.test") as client:
        response = await client.post("/dev/token", json={"roles": ["admin"]})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_issuer_outside_dev_mode_refuses_to_start_with_placeholder_secrets(signing_key_file: Path) -> None:
    clients = {**_real_clients(), "demo-integrator": ClientConfig(secret="dev-secret-demo-integrator")}
    settings = IssuerSettings(dev_mode=False, signing_key_file=signing_key_file, clients=clients)

    with pytest.raises(PlaceholderSecretError, match=r"AUTH_CLIENTS\[demo-integrator\]\.secret") as refused:
        create_app(settings)

    assert "roster-service" not in str(refused.value)
    assert "dev-secret-demo-integrator" not in str(refused.value)  # names the variable, not the value


def test_issuer_in_dev_mode_starts_with_the_dev_clients(signing_key_file: Path) -> None:
    settings = IssuerSettings(dev_mode=True, signing_key_file=signing_key_file)

    assert (
        create_app(settings).state.issuer.settings.clients["demo-integrator"].secret.startswith("dev-secret-")
    )


def test_signing_key_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "key.pem"
    first = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create(path)
    assert first.kid == second.kid
    assert first.private_pem == second.private_pem


def test_group_readable_signing_key_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    load_or_create(path)
    path.chmod(0o644)
    load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
