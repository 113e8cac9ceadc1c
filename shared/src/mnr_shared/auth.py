"""Bearer-token verification (DESIGN §8), the principal, and FastAPI auth dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import jwk, jws, jwt
from jose.exceptions import ExpiredSignatureError, JWSError, JWTClaimsError, JWTError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mnr_shared.problems import Forbidden, ServiceUnavailable, Unauthorized

log = logging.getLogger("mnr.auth")

# Asymmetric algorithms only: `none` and HS* can never verify, whatever a token's header says.
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})
# The algorithm a JWK without `alg` is used with, by key type.
_DEFAULT_ALGORITHM = {"RSA": "RS256", "EC": "ES256"}
# NumericDate claims beyond this cannot be exact in a JSON number, and no real token needs them.
_MAX_NUMERIC_DATE = 2**53
_TIME_CLAIMS = ("exp", "nbf", "iat")
# Where the guard (mnr_shared.guard) leaves the principal it verified, so it is verified once.
VERIFIED_PRINCIPAL_SCOPE_KEY = "mnr.verified_principal"
PLACEHOLDER_SECRET_PREFIX = "dev-secret-"  # noqa: S105 - how the dev defaults begin, not a secret


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
    # While the provider cannot be reached, keys this far past `jwks_cache_seconds` still verify.
    jwks_max_stale_seconds: float = Field(default=86400.0, ge=0)
    # A verified token is remembered this long (never past its `exp`): a caller's next requests
    # skip the signature check. 0 verifies every request.
    verified_cache_seconds: float = Field(default=60.0, ge=0, le=600)
    # `AUTH_DEV_MODE`, as `make run` sets it: dev placeholder secrets are allowed only then.
    dev_mode: bool = False

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


@dataclass(frozen=True)
class VerificationKey:
    """One published key, parsed once: building an RSA key from its JWK costs more than verifying."""

    kid: str
    algorithm: str
    key: Any  # jose's backend key object
    jwk: dict[str, Any]


def _verification_keys(document: Any, previous: dict[str, VerificationKey]) -> dict[str, VerificationKey]:
    keys: dict[str, VerificationKey] = {}
    entries = document.get("keys", []) if isinstance(document, dict) else []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        kid = entry["kid"]
        algorithm = entry.get("alg") or _DEFAULT_ALGORITHM.get(str(entry.get("kty")))
        if algorithm not in ALLOWED_ALGORITHMS or entry.get("use", "sig") != "sig":
            continue
        known = previous.get(kid)
        if known is not None and known.jwk == entry:
            keys[kid] = known
            continue
        try:
            key = jwk.construct(entry, algorithm=algorithm)
        except Exception as exc:  # one malformed key must not hide the others
            log.warning("jwks key unusable", extra={"kid": kid, "error": str(exc)})
            continue
        keys[kid] = VerificationKey(kid=kid, algorithm=str(algorithm), key=key, jwk=entry)
    return keys


class JWKSCache:
    """The issuer's public keys by `kid`, built once, that keep working through a provider outage.

    Concurrent callers share one in-flight fetch. Any fetch, failed or not, counts: an unknown
    kid refetches at most once per `min_refetch_seconds`. Keys older than `cache_seconds` keep
    verifying while a background refresh runs, and while the provider cannot be reached, for at
    most `max_stale_seconds` more; after that every token is 503 until a fetch succeeds.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        url: str,
        min_refetch_seconds: float,
        cache_seconds: float,
        max_stale_seconds: float = 86400.0,
    ) -> None:
        self._client = client
        self._url = url
        self._min_refetch = min_refetch_seconds
        self._cache_seconds = cache_seconds
        self._max_stale = max_stale_seconds
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0

    async def get(self, kid: str) -> VerificationKey | None:
        """The key for `kid`; None when the issuer does not publish it; 503 when no key is trusted."""
        age = time.monotonic() - self._fetched_at
        key = self._keys.get(kid)
        if key is not None and age < self._cache_seconds:
            return key
        if key is not None and age < self._cache_seconds + self._max_stale:
            # Answer with the stale key now; a hanging provider must not hold callers up.
            self._refresh_unless_throttled()
            return key
        refresh = self._refresh_unless_throttled()
        if refresh is not None:
            await asyncio.shield(refresh)
        if time.monotonic() - self._fetched_at >= self._cache_seconds + self._max_stale:
            raise ServiceUnavailable("The identity provider's keys cannot be fetched.")
        return self._keys.get(kid)

    def _refresh_unless_throttled(self) -> asyncio.Task[None] | None:
        """The fetch in flight, or a new one unless one was tried within `min_refetch_seconds`."""
        if self._inflight is not None:
            return self._inflight
        now = time.monotonic()
        if now - self._attempted_at < self._min_refetch:
            return None
        self._attempted_at = now
        task = asyncio.create_task(self._refresh(), name="jwks-refresh")
        task.add_done_callback(self._refreshed)
        self._inflight = task
        return task

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _refresh(self) -> None:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            document = response.json()
        except Exception as exc:  # whatever failed, the keys we hold stay as they are
            error = str(exc) or type(exc).__name__
            log.warning("jwks fetch failed", extra={"url": self._url, "error": error})
            return
        self.fetches += 1
        self._fetched_at = time.monotonic()
        self._keys = _verification_keys(document, self._keys)

    async def aclose(self) -> None:
        """Stop a refresh still in flight (at shutdown, before its HTTP client closes)."""
        task = self._inflight
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _check_time_claims(token: str) -> None:
    """Refuse a token whose `exp`, `nbf` or `iat` is not a JSON number in range.

    python-jose coerces these with int(): it takes `"exp": "9999999999"` and crashes on `1e400`.
    Read before the signature is checked, so it can only refuse a token, never admit one.
    """

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        claims = json.loads(jws.get_unverified_claims(token), parse_constant=no_constant)
    except (JWSError, ValueError) as exc:
        raise Unauthorized("The token's claims are malformed.") from exc
    if not isinstance(claims, dict):
        raise Unauthorized("The token's claims are malformed.")
    for name in _TIME_CLAIMS:
        if name in claims and not _is_numeric_date(claims[name]):
            raise Unauthorized(f"The token's `{name}` claim is not a valid NumericDate.")


def _is_numeric_date(value: Any) -> bool:
    # bool is an int to Python, not a number to JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # NaN and ±inf fail this comparison too; an int never becomes a float that could overflow.
    return abs(value) < _MAX_NUMERIC_DATE


# Verified tokens remembered at once: far more than the callers of one replica in a minute.
VERIFIED_CACHE_ENTRIES = 10_000


class TokenVerifier:
    """Verifies a bearer JWT for one audience: allow-listed alg, signature, iss, aud, exp."""

    def __init__(self, *, settings: AuthSettings, audience: str, jwks: JWKSCache) -> None:
        self._settings = settings
        self._audience = audience
        self._jwks = jwks
        self._algorithms = [a for a in settings.algorithms if a in ALLOWED_ALGORITHMS]
        # token → (principal, unix time until which it stands verified); oldest entries go first.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The token's principal; a token verified in the last `verified_cache_seconds` (and not
        expired since) is answered from memory, anything else is checked in full."""
        remembered = self._verified.get(token)
        if remembered is not None:
            if time.time() < remembered[1]:
                return remembered[0]
            del self._verified[token]
        principal, exp = await self._verify(token)
        keep = self._settings.verified_cache_seconds
        if keep > 0:
            # Expiry as decode judges it (with the leeway): the cache never outlives a token.
            self._verified[token] = (principal, min(exp + self._settings.leeway_seconds, time.time() + keep))
            if len(self._verified) > VERIFIED_CACHE_ENTRIES:
                self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise Unauthorized("The bearer token is malformed.") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self._algorithms:
            raise Unauthorized("The token's signing algorithm is not accepted.")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("The token names no signing key (kid).")
        # RFC 7515 §4.1.11: a critical extension we do not implement means the token must not be used.
        if "crit" in header:
            raise Unauthorized("The token names critical header parameters this service does not support.")
        # `jku`/`x5u`/`jwk` in the header are deliberately never looked at: keys come from our JWKS.
        _check_time_claims(token)
        key = await self._jwks.get(kid)
        if key is None:
            raise Unauthorized("The token was signed by an unknown key.")
        if key.algorithm != alg:
            raise Unauthorized("The token's algorithm does not match its key.")
        try:
            claims = jwt.decode(
                token,
                key.key,
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
            return Principal.from_claims(claims), float(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("The token's claims are malformed.") from exc


_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider.")


def missing_token() -> Unauthorized:
    """The 401 for a request without a usable `Authorization: Bearer …` header."""
    return Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization` header, read as HTTPBearer reads it; 401 otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if not scheme or not token or scheme.lower() != "bearer":
        raise missing_token()
    return token


async def verify_once(request: Request, token: str) -> Principal:
    """The principal `token` stands for, verified at most once per request (guard, then dependency)."""
    verified = request.scope.get(VERIFIED_PRINCIPAL_SCOPE_KEY)
    if verified is not None and verified[0] == token:
        principal: Principal = verified[1]
        return principal
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token)
    request.scope[VERIFIED_PRINCIPAL_SCOPE_KEY] = (token, principal)
    return principal


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 problem+json with `WWW-Authenticate: Bearer` otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise missing_token()
    principal = await verify_once(request, credentials.credentials)
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


class PlaceholderSecretError(RuntimeError):
    """A service is about to start outside dev mode with a missing or dev placeholder secret."""


def refuse_placeholder_secrets(*, dev_mode: bool, **secrets: str | SecretStr | None) -> None:
    """Outside dev mode, refuse to start while a secret is missing or still a `dev-secret-…` default.

    Each keyword names the environment variable that sets the secret, so the error says what to
    fix: `refuse_placeholder_secrets(dev_mode=auth.dev_mode, ROSTER_CLIENT_SECRET=settings.client_secret)`.
    """
    if dev_mode:
        return
    bad = sorted(
        name
        for name, value in secrets.items()
        if not (plain := value.get_secret_value() if isinstance(value, SecretStr) else value)
        or plain.startswith(PLACEHOLDER_SECRET_PREFIX)
    )
    if bad:
        raise PlaceholderSecretError(
            f"{', '.join(bad)} missing or still a {PLACEHOLDER_SECRET_PREFIX}… placeholder: set a real "
            "secret, or AUTH_DEV_MODE=1 for local development only."
        )
