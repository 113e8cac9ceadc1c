"""The portal as an OpenID Connect relying party: authorization code + PKCE (S256), state and
nonce, ID token verification against the provider's JWKS, RP-initiated logout.

Authlib builds the authorization URL and exchanges the code; joserfc verifies the ID token.
Discovery and keys are fetched once and refreshed when a token names a key we do not have.
"""

from __future__ import annotations

import logging
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal_service.config import Settings

with warnings.catch_warnings():
    # Authlib 1.9 announces a future rename of its httpx integration on import; the API used
    # here (AsyncOAuth2Client) is unchanged by it.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = logging.getLogger("portal.oidc")
ALGORITHMS = ["RS256", "ES256", "PS256"]


class LoginFailed(Exception):
    """The provider's answer cannot be trusted or used; the person is asked to sign in again."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str | None
    expires_in: int
    claims: dict[str, Any]


@dataclass(frozen=True)
class User:
    """Who is signed in, as the portal shows it (authorisation itself stays in the services)."""

    sub: str
    name: str
    roles: tuple[str, ...]
    offices: tuple[str, ...]
    expert_id: str | None

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "name": self.name,
            "roles": list(self.roles),
            "offices": list(self.offices),
            "expert_id": self.expert_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> User:
        return cls(
            sub=str(data["sub"]),
            name=str(data.get("name") or data["sub"]),
            roles=tuple(data.get("roles") or ()),
            offices=tuple(data.get("offices") or ()),
            expert_id=data.get("expert_id"),
        )


def claim(claims: dict[str, Any], dotted: str) -> Any:
    """`a.b.c` reaches into nested claims (Keycloak puts client roles in `resource_access`)."""
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _as_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def user_from_claims(claims: dict[str, Any], settings: Settings) -> User:
    expert_id = claim(claims, settings.claim_expert_id)
    return User(
        sub=str(claims["sub"]),
        name=str(claim(claims, settings.claim_name) or claims.get("preferred_username") or claims["sub"]),
        roles=_as_list(claim(claims, settings.claim_roles)),
        offices=tuple(office.upper() for office in _as_list(claim(claims, settings.claim_offices))),
        expert_id=str(expert_id) if expert_id else None,
    )


class OIDCClient:
    """One provider, one client registration."""

    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = http
        self.transport = transport
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration"
            response = await self.http.get(url)
            response.raise_for_status()
            self._metadata = dict(response.json())
        return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        # Refetch at most every 30 s, so a token with an unknown `kid` cannot hammer the provider.
        if self._keys is None or (refresh and time.monotonic() - self._keys_at > 30):
            response = await self.http.get((await self.metadata())["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
            self._keys_at = time.monotonic()
        return self._keys

    def _oauth(self) -> AsyncOAuth2Client:
        extra: dict[str, Any] = {"transport": self.transport} if self.transport is not None else {}
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            scope=self.settings.oidc_scope,
            redirect_uri=self.settings.redirect_uri,
            code_challenge_method="S256",
            timeout=10.0,
            **extra,
        )

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str, locale: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        client = self._oauth()
        try:
            url, _ = client.create_authorization_url(
                endpoint, state=state, nonce=nonce, code_verifier=code_verifier, ui_locales=locale
            )
        finally:
            await client.aclose()
        return self.settings.for_browser(str(url))

    async def exchange(self, *, code: str, code_verifier: str, nonce: str) -> Tokens:
        meta = await self.metadata()
        client = self._oauth()
        try:
            token = await client.fetch_token(
                meta["token_endpoint"],
                code=code,
                code_verifier=code_verifier,
                grant_type="authorization_code",
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise LoginFailed(f"the code exchange failed: {exc}") from exc
        except Exception as exc:  # Authlib raises its own OAuth errors for an error answer
            raise LoginFailed(f"the provider refused the code: {exc}") from exc
        finally:
            await client.aclose()
        id_token = token.get("id_token")
        if not id_token:
            raise LoginFailed("the provider sent no ID token")
        claims = await self.verify_id_token(str(id_token), nonce=nonce)
        return Tokens(
            access_token=str(token["access_token"]),
            id_token=str(id_token),
            expires_in=int(token.get("expires_in") or 3600),
            claims=claims,
        )

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), algorithms=ALGORITHMS)
            except JoseError:
                decoded = jwt.decode(id_token, await self._key_set(refresh=True), algorithms=ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": (await self.metadata())["issuer"]},
                aud={"essential": True, "value": self.settings.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
                leeway=60,
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise LoginFailed(f"the ID token is not valid: {exc}") from exc
        return dict(decoded.claims)

    async def end_session_url(self, *, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser so the provider ends its session too (None: it has no
        end-session endpoint, and the portal's own logout is all there is)."""
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except httpx.HTTPError:
            return None
        if not endpoint:
            return None
        params = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        if id_token:
            params["id_token_hint"] = id_token
        return self.settings.for_browser(f"{endpoint}?{urlencode(params)}")


def new_login_secrets() -> tuple[str, str, str]:
    """state, nonce and a PKCE code verifier (RFC 7636: 43–128 unreserved characters)."""
    return secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64)
