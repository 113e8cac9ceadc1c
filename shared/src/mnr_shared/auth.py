"""Bearer-token verification (DESIGN §8), the principal, and FastAPI auth dependencies."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError, JWTError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mnr_shared.problems import Forbidden, ServiceUnavailable, Unauthorized

log = logging.getLogger("mnr.auth")

# Asymmetric algorithms only: `none` and HS* can never verify, whatever a token's header says.
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})


class Role(StrEnum):
    COUNTRY_OFFICE = "country_office"
    PROGRAMME_DIVISION = "programme_division"
    EXPERT = "expert"
    ADMIN = "admin"


class AuthSettings(BaseSettings):
    """How a service trusts tokens. `AUTH_ISSUER` is the `iss` every token must carry."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    issuer: str = "http://127.0.0.1:8000"
    jwks_url: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_min_refetch_seconds: float = Field(default=30.0, ge=0)
    jwks_cache_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("algorithms")
    @classmethod
    def _only_asymmetric(cls, value: list[str]) -> list[str]:
        bad = set(value) - ALLOWED_ALGORITHMS
        if bad or not value:
            raise ValueError(f"only {sorted(ALLOWED_ALGORITHMS)} are accepted, not {sorted(bad)}")
        return value

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or self.issuer.rstrip("/") + "/.well-known/jwks.json"


class Principal(BaseModel):
    """Who is calling: a person (roles, offices, expert_id) or a client (scopes, client_id)."""

    model_config = ConfigDict(frozen=True)

    sub: str
    roles: frozenset[str] = frozenset()
    offices: frozenset[str] = frozenset()
    expert_id: uuid.UUID | None = None
    scopes: frozenset[str] = frozenset()
    name: str | None = None
    client_id: str | None = None

    @property
    def is_service(self) -> bool:
        return self.client_id is not None

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    def has_scopes(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope", "")
        scopes = scope.split() if isinstance(scope, str) else list(scope or [])
        return cls(
            sub=claims["sub"],
            roles=frozenset(_str_list(claims.get("roles"))),
            offices=frozenset(o.upper() for o in _str_list(claims.get("offices"))),
            expert_id=claims.get("expert_id"),
            scopes=frozenset(scopes),
            name=claims.get("name"),
            client_id=claims.get("client_id"),
        )


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return value


class JWKSCache:
    """Public keys from the issuer, by `kid`; refetched on an unknown kid at most once per interval."""

    def __init__(
        self, *, client: httpx.AsyncClient, url: str, min_refetch_seconds: float, cache_seconds: float
    ) -> None:
        self._client = client
        self._url = url
        self._min_refetch = min_refetch_seconds
        self._cache_seconds = cache_seconds
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self, kid: str) -> dict[str, Any] | None:
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self._cache_seconds:
            return self._keys[kid]
        async with self._lock:
            if kid in self._keys and time.monotonic() - self._fetched_at < self._cache_seconds:
                return self._keys[kid]
            if time.monotonic() - self._fetched_at >= self._min_refetch or not self._keys:
                await self._refresh()
            return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks fetch failed", extra={"url": self._url, "error": str(exc)})
            if not self._keys:
                raise ServiceUnavailable("The identity provider's keys cannot be fetched.") from exc
            return
        self.fetches += 1
        self._fetched_at = time.monotonic()
        keys = document.get("keys", []) if isinstance(document, dict) else []
        self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


class TokenVerifier:
    """Verifies a bearer JWT for one audience: allow-listed alg, signature, iss, aud, exp."""

    def __init__(self, *, settings: AuthSettings, audience: str, jwks: JWKSCache) -> None:
        self._settings = settings
        self._audience = audience
        self._jwks = jwks
        self._algorithms = [a for a in settings.algorithms if a in ALLOWED_ALGORITHMS]

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise Unauthorized("The bearer token is malformed.") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self._algorithms:
            raise Unauthorized("The token's signing algorithm is not accepted.")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("The token names no signing key (kid).")
        # `jku`/`x5u`/`jwk` in the header are deliberately never looked at: keys come from our JWKS.
        key = await self._jwks.get(kid)
        if key is None:
            raise Unauthorized("The token was signed by an unknown key.")
        if key.get("alg") and key["alg"] != alg:
            raise Unauthorized("The token's algorithm does not match its key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._settings.issuer,
                options={
                    "require_exp": True,
                    "require_iss": True,
                    "require_aud": True,
                    "require_sub": True,
                    "leeway": self._settings.leeway_seconds,
                },
            )
        except ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except JWTClaimsError as exc:
            raise Unauthorized(f"The token's claims are not accepted: {exc}.") from exc
        except JWTError as exc:
            raise Unauthorized("The token's signature or format is invalid.") from exc
        try:
            return Principal.from_claims(claims)
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("The token's claims are malformed.") from exc


_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider.")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 problem+json with `WWW-Authenticate: Bearer` otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(
    *, roles: Iterable[str] = (), scopes: Iterable[str] = ()
) -> Callable[[Principal], Awaitable[Principal]]:
    """Allow a person holding any of `roles`, or a client holding all of `scopes`; else 403."""
    role_set, scope_set = tuple(roles), tuple(scopes)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if role_set and principal.has_role(*role_set):
            return principal
        if scope_set and principal.is_service and principal.has_scopes(*scope_set):
            return principal
        raise Forbidden("Your role or scopes do not allow this operation.")

    return dependency


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Only people holding one of `roles`."""
    return require(roles=roles)


def require_scopes(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Only clients (client-credentials tokens) holding every one of `scopes`."""
    return require(scopes=scopes)


AnyPerson = Annotated[Principal, Depends(require_roles(*[r.value for r in Role]))]
