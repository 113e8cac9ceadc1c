"""The dev identity issuer app: discovery, JWKS, `/token` (client credentials) and, in dev mode,
`/dev/token` and the authorization-code sign-in of `dev_issuer.login`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from jose import jwt
from pydantic import BaseModel, Field, model_validator

from dev_issuer.authorization import Params
from dev_issuer.config import ClientConfig, IssuerSettings, get_settings
from dev_issuer.keys import SigningKey, load_or_create
from dev_issuer.login import Login, add_login_routes, oauth_error
from dev_issuer.throttle import TokenThrottle
from mnr_shared.app import build_app
from mnr_shared.auth import Role, refuse_placeholder_secrets
from mnr_shared.problems import problem_response, problem_responses
from mnr_shared.reference import ISO3

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PERSON_CLAIMS = ["sub", "name", "roles", "offices", "expert_id"]


class DevTokenRequest(BaseModel):
    sub: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    offices: list[ISO3] = Field(default_factory=list, max_length=50)
    expert_id: uuid.UUID | None = None
    name: str | None = Field(default=None, max_length=200)
    scope: str | None = Field(default=None, max_length=1000)
    expires_in: int | None = Field(default=None, ge=60, le=86400)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "sub": "co-ken-1",
                    "roles": ["country_office"],
                    "offices": ["KEN"],
                    "name": "Kenya Country Office",
                },
                {"roles": ["programme_division"]},
                {"sub": "expert-1", "roles": ["expert"], "expert_id": "6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11"},
            ]
        }
    }

    @model_validator(mode="after")
    def _office_needs_offices(self) -> DevTokenRequest:
        if Role.COUNTRY_OFFICE in self.roles and not self.offices:
            raise ValueError("a country_office token needs at least one ISO3 office")
        return self


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    scope: str | None = None
    id_token: str | None = Field(default=None, description="Grant `authorization_code` only (dev mode).")


class Issuer:
    """Signs tokens; the only holder of the private key."""

    def __init__(self, settings: IssuerSettings, key: SigningKey) -> None:
        self.settings = settings
        self.key = key

    def sign(self, claims: dict[str, Any], *, expires_in: int) -> str:
        now = int(time.time())
        payload = {
            "iss": self.settings.issuer,
            "aud": self.settings.audiences,
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return str(jwt.encode(payload, self.key.signer, algorithm="RS256", headers={"kid": self.key.kid}))


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def secret_matches(client: ClientConfig | None, presented: str, stand_in: bytes) -> bool:
    """Constant time whether or not the client exists: an unknown id is compared with a stand-in."""
    expected = client.secret.encode() if client is not None else stand_in
    # Digests have one length, so the time taken tells nothing about the secret's length either.
    same = hmac.compare_digest(hashlib.sha256(expected).digest(), hashlib.sha256(presented.encode()).digest())
    return same and client is not None


@dataclass(frozen=True)
class TokenCall:
    """A `/token` request from an authenticated client: who, and the form it sent."""

    client_id: str
    client: ClientConfig
    form: Params


def _too_many_attempts(request: Request, retry_after: int) -> JSONResponse:
    return problem_response(
        status=429,
        request=request,
        detail=f"Too many failed attempts; try again in {retry_after} s.",
        slug="too-many-attempts",
        headers={**NO_STORE, "Retry-After": str(retry_after)},
    )


def create_app(settings: IssuerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    refuse_placeholder_secrets(
        dev_mode=settings.dev_mode,
        **{f"AUTH_CLIENTS[{client_id}].secret": c.secret for client_id, c in settings.clients.items()},
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_app(
        service="identity",
        title="MNR dev identity issuer",
        description=(
            "Development and test identity provider for the MNR Expert Roster. Publishes its "
            "signing keys as JWKS, issues client-credentials tokens to the services and "
            "integrators configured in `AUTH_CLIENTS`, and — only with `AUTH_DEV_MODE` on — "
            "mints a token for any role at `POST /dev/token` and signs people in to the portal "
            "with the authorization code flow and PKCE (`/authorize`, a persona page without "
            "passwords). Production uses a real OIDC provider instead."
        ),
        version="0.1.0",
        lifespan=lifespan,
    )
    issuer = Issuer(settings, load_or_create(settings.signing_key_file))
    app.state.issuer = issuer
    throttle = TokenThrottle(settings)
    stand_in_secret = secrets.token_bytes(32)
    login = Login(settings, issuer) if settings.dev_mode else None
    app.state.login = login

    @app.get("/.well-known/openid-configuration", tags=["discovery"])
    async def discovery() -> dict[str, Any]:
        base = settings.issuer.rstrip("/")
        metadata: dict[str, Any] = {
            "issuer": settings.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }
        if login is not None:
            metadata.update(
                {
                    "authorization_endpoint": f"{base}/authorize",
                    "userinfo_endpoint": f"{base}/userinfo",
                    "end_session_endpoint": f"{base}/logout",
                    "grant_types_supported": ["client_credentials", "authorization_code"],
                    "response_types_supported": ["code"],
                    "response_modes_supported": ["query"],
                    "code_challenge_methods_supported": ["S256"],
                    "scopes_supported": ["openid", "profile"],
                    "claims_supported": PERSON_CLAIMS,
                    "authorization_response_iss_parameter_supported": True,
                }
            )
        return metadata

    @app.get("/.well-known/jwks.json", tags=["discovery"])
    async def jwks() -> dict[str, Any]:
        return {"keys": [issuer.key.public_jwk]}

    async def authenticate_client(request: Request) -> TokenCall | JSONResponse:
        """The client of a `/token` request (HTTP Basic or form credentials, RFC 6749 §2.3.1),
        or the error to answer: every grant authenticates, and is throttled, the same way."""
        address = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(address=address, client_id=None)
        if wait is not None:
            return _too_many_attempts(request, wait)
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return oauth_error("invalid_request", "use application/x-www-form-urlencoded")
        form = await request.form()
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, secret = basic
        else:
            client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        # Only configured ids get a count of their own: invented ones would only fill memory.
        client = settings.clients.get(client_id)
        counted_id = client_id if client is not None else None
        wait = throttle.retry_after(address=address, client_id=counted_id)
        if wait is not None:
            return _too_many_attempts(request, wait)
        if not client_id:
            throttle.failed(address=address, client_id=None)
            return oauth_error(
                "invalid_client",
                "client authentication is required",
                401,
                {"WWW-Authenticate": 'Basic realm="token"'},
            )
        matched = secret_matches(client, secret, stand_in_secret)
        if not matched or client is None:  # a match implies a client; the type checker needs telling
            throttle.failed(address=address, client_id=counted_id)
            return oauth_error(
                "invalid_client",
                "unknown client or wrong secret",
                401,
                {"WWW-Authenticate": 'Basic realm="token"'},
            )
        return TokenCall(client_id=client_id, client=client, form=form)

    def client_credentials(call: TokenCall) -> JSONResponse:
        requested = str(call.form.get("scope", "")).split()
        if not set(requested) <= set(call.client.scopes):
            return oauth_error(
                "invalid_scope", f"this client may ask only for: {' '.join(call.client.scopes)}"
            )
        scopes = requested or call.client.scopes
        ttl = settings.token_ttl_seconds
        access_token = issuer.sign(
            {"sub": call.client_id, "client_id": call.client_id, "scope": " ".join(scopes), "roles": []},
            expires_in=ttl,
        )
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": " ".join(scopes),
            },
            headers=NO_STORE,
        )

    grants = ["client_credentials", *(["authorization_code"] if login is not None else [])]

    @app.post(
        "/token",
        tags=["tokens"],
        response_model=TokenResponse,
        summary="Client-credentials token (RFC 6749 §4.4); in dev mode also authorization code (§4.1.3)",
        responses=problem_responses(429),
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": grants},
                                "scope": {"type": "string", "example": "roster:read"},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                                **(
                                    {
                                        "code": {"type": "string"},
                                        "redirect_uri": {"type": "string"},
                                        "code_verifier": {"type": "string"},
                                    }
                                    if login is not None
                                    else {}
                                ),
                            },
                        }
                    }
                }
            }
        },
    )
    async def token(request: Request) -> JSONResponse:
        """Any client in `AUTH_CLIENTS`, with HTTP Basic or form credentials; errors as RFC 6749 §5.2.
        Failed client authentication counts against the client id and the caller's address; past
        `AUTH_TOKEN_FAILURES_PER_CLIENT` or `AUTH_TOKEN_FAILURES_PER_ADDRESS` failures within
        `AUTH_TOKEN_FAILURE_WINDOW_SECONDS` the answer is 429 problem+json with `Retry-After`.
        In dev mode `grant_type=authorization_code` trades a sign-in code (`code`,
        `redirect_uri`, `code_verifier`) for an access token and an ID token."""
        call = await authenticate_client(request)
        if isinstance(call, JSONResponse):
            return call
        grant_type = call.form.get("grant_type")
        if not grant_type:
            return oauth_error("invalid_request", "grant_type is required")
        if grant_type == "authorization_code" and login is not None:
            return login.exchange(call.form, client_id=call.client_id)
        if grant_type != "client_credentials":
            return oauth_error("unsupported_grant_type", f"supported: {' '.join(grants)}")
        return client_credentials(call)

    if login is not None:  # dev mode

        @app.post(
            "/dev/token",
            tags=["tokens"],
            response_model=TokenResponse,
            summary="Mint a token for any role (dev mode only)",
        )
        async def dev_token(body: Annotated[DevTokenRequest, Body()]) -> JSONResponse:
            ttl = body.expires_in or settings.token_ttl_seconds
            sub = body.sub or f"dev-{body.roles[0].value}"
            claims: dict[str, Any] = {
                "sub": sub,
                "roles": [r.value for r in body.roles],
                "offices": body.offices,
            }
            if body.expert_id is not None:
                claims["expert_id"] = str(body.expert_id)
            if body.name is not None:
                claims["name"] = body.name
            if body.scope:
                claims["scope"] = body.scope
            access_token = issuer.sign(claims, expires_in=ttl)
            return JSONResponse(
                {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl}, headers=NO_STORE
            )

        add_login_routes(app, login)

    return app
