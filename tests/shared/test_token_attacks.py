"""Forged, stale or misdirected tokens are refused with 401 problem+json on a real route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jose import jws, jwt

from dev_issuer.keys import generate_pem, signing_key_from_pem
from mnr_shared.testing import RoutingTransport, bearer

ROUTE = "/v1/reference/capabilities"
ISSUER = "http://identity.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": ["roster"],
        "sub": "attacker",
        "iat": now,
        "exp": now + 600,
        "roles": ["admin"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign_with_issuer(issuer_app: FastAPI, claims: dict[str, Any], **headers: Any) -> str:
    key = issuer_app.state.issuer.key
    return str(jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid, **headers}))


async def _assert_401(roster: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await roster.get(ROUTE, headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert "Traceback" not in response.text
    return body


async def test_genuine_token_reads_capabilities(roster: httpx.AsyncClient, token_for: Any) -> None:
    response = await roster.get(ROUTE, headers=bearer(await token_for("programme_division")))
    assert response.status_code == 200
    body = response.json()
    assert len(body["items"]) == 21
    assert len(body["domains"]) == 6
    assert body["framework_version"] == "MNR-2016"


async def test_missing_token_is_401_with_bearer_challenge(roster: httpx.AsyncClient) -> None:
    response = await roster.get(ROUTE)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_basic_scheme_is_401(roster: httpx.AsyncClient) -> None:
    response = await roster.get(ROUTE, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert response.status_code == 401


async def test_garbage_token_is_401(roster: httpx.AsyncClient) -> None:
    await _assert_401(roster, "not.a.jwt")


async def test_alg_none_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": issuer_app.state.issuer.key.kid}
    token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}."
    await _assert_401(roster, token)


async def test_hs256_signed_with_the_public_key_is_401(
    roster: httpx.AsyncClient, issuer_app: FastAPI, issuer: httpx.AsyncClient
) -> None:
    # The classic key-confusion attack: use the published public key as an HMAC secret.
    jwks = (await issuer.get("/.well-known/jwks.json")).json()
    secret = json.dumps(jwks["keys"][0]).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer_app.state.issuer.key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    body = await _assert_401(roster, f"{signing_input}.{_b64(signature)}")
    assert "algorithm" in body["detail"]


async def test_token_from_a_foreign_key_claiming_our_kid_is_401(
    roster: httpx.AsyncClient, issuer_app: FastAPI
) -> None:
    foreign = signing_key_from_pem(generate_pem())
    token = jwt.encode(
        _claims(), foreign.private_pem, algorithm="RS256", headers={"kid": issuer_app.state.issuer.key.kid}
    )
    await _assert_401(roster, token)


async def test_unknown_kid_is_401_and_refetches_jwks_at_most_once(
    roster: httpx.AsyncClient, transport: RoutingTransport, token_for: Any
) -> None:
    await roster.get(ROUTE, headers=bearer(await token_for("admin")))  # warms the key cache
    fetches_before = transport.seen_hosts.count("identity.test")
    foreign = signing_key_from_pem(generate_pem())
    token = jwt.encode(_claims(), foreign.private_pem, algorithm="RS256", headers={"kid": foreign.kid})
    await _assert_401(roster, token)
    await _assert_401(roster, token)
    refetches = transport.seen_hosts.count("identity.test") - fetches_before
    # One refetch for the unknown kid is allowed; the second attempt inside the interval is not.
    assert refetches <= 1


async def test_jku_header_is_never_followed(roster: httpx.AsyncClient, transport: RoutingTransport) -> None:
    foreign = signing_key_from_pem(generate_pem())
    attacker = FastAPI()

    @attacker.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        return {"keys": [foreign.public_jwk]}

    transport.add("attacker.test", attacker)
    token = jwt.encode(
        _claims(),
        foreign.private_pem,
        algorithm="RS256",
        headers={"kid": foreign.kid, "jku": "http://attacker.test/jwks.json"},
    )
    await _assert_401(roster, token)
    assert "attacker.test" not in transport.seen_hosts


async def test_tampered_payload_is_401(roster: httpx.AsyncClient, token_for: Any) -> None:
    token = await token_for("country_office", offices=["KEN"])
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    await _assert_401(roster, forged)


async def test_expired_token_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    past = int(time.time()) - 3600
    body = await _assert_401(roster, _sign_with_issuer(issuer_app, _claims(iat=past - 600, exp=past)))
    assert "expired" in body["detail"]


async def test_token_within_leeway_is_accepted(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    just_now = int(time.time()) - 5
    token = _sign_with_issuer(issuer_app, _claims(exp=just_now))
    assert (await roster.get(ROUTE, headers=bearer(token))).status_code == 200


async def test_missing_exp_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    claims = _claims()
    del claims["exp"]
    await _assert_401(roster, _sign_with_issuer(issuer_app, claims))


async def test_wrong_audience_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    await _assert_401(roster, _sign_with_issuer(issuer_app, _claims(aud=["matching"])))


async def test_missing_audience_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    claims = _claims()
    del claims["aud"]
    await _assert_401(roster, _sign_with_issuer(issuer_app, claims))


async def test_wrong_issuer_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    await _assert_401(roster, _sign_with_issuer(issuer_app, _claims(iss="http://evil.test")))


async def test_malformed_roles_claim_is_401(roster: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    await _assert_401(roster, _sign_with_issuer(issuer_app, _claims(roles="admin")))


@pytest.mark.parametrize("role", ["country_office", "programme_division", "expert", "admin"])
async def test_every_role_reads_reference_data(roster: httpx.AsyncClient, token_for: Any, role: str) -> None:
    extra = {"offices": ["KEN"]} if role == "country_office" else {}
    token = await token_for(role, **extra)
    for path in ("/v1/reference/capabilities", "/v1/reference/regions", "/v1/reference/languages"):
        assert (await roster.get(path, headers=bearer(token))).status_code == 200


async def test_service_token_reads_reference_data(roster: httpx.AsyncClient, service_token: Any) -> None:
    token = await service_token("matching-service")
    assert (await roster.get(ROUTE, headers=bearer(token))).status_code == 200


def _sign_raw_claims(issuer_app: FastAPI, **literals: str) -> str:
    """A validly signed token whose payload carries each claim as the given raw JSON text."""
    base = {k: v for k, v in _claims().items() if k not in literals}
    members = [json.dumps(base)[1:-1], *(f'"{name}": {text}' for name, text in literals.items())]
    payload = ("{" + ", ".join(members) + "}").encode()
    key = issuer_app.state.issuer.key
    return str(jws.sign(payload, key.private_pem, headers={"kid": key.kid}, algorithm="RS256"))


async def test_raw_claims_helper_signs_an_accepted_token(
    roster: httpx.AsyncClient, issuer_app: FastAPI
) -> None:
    token = _sign_raw_claims(issuer_app, exp=str(int(time.time()) + 600))
    assert (await roster.get(ROUTE, headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("claim", "literal"),
    [
        ("exp", '"9999999999"'),
        ("exp", "true"),
        ("exp", "1e400"),
        ("exp", "-1e400"),
        ("exp", "NaN"),
        ("exp", "Infinity"),
        ("exp", "1e300"),
        ("exp", str(10**400)),
        ("exp", "[9999999999]"),
        ("exp", "null"),
        ("nbf", '"0"'),
        ("nbf", "1e400"),
        ("nbf", "false"),
        ("iat", '"now"'),
        ("iat", "1e400"),
        ("iat", "true"),
    ],
)
async def test_time_claim_that_is_not_a_numeric_date_is_401(
    roster: httpx.AsyncClient, issuer_app: FastAPI, claim: str, literal: str
) -> None:
    body = await _assert_401(roster, _sign_raw_claims(issuer_app, **{claim: literal}))
    assert claim in body["detail"] or "malformed" in body["detail"]


async def test_unknown_critical_header_parameter_is_401(
    roster: httpx.AsyncClient, issuer_app: FastAPI
) -> None:
    token = _sign_with_issuer(
        issuer_app, _claims(), crit=["urn:example:must-check"], **{"urn:example:must-check": 1}
    )
    body = await _assert_401(roster, token)
    assert "critical" in body["detail"]
