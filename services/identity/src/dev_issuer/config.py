"""Settings of the dev identity issuer (env prefix `AUTH_`, shared with the services' `AUTH_ISSUER`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientConfig(BaseModel):
    secret: str = Field(min_length=8)
    scopes: list[str] = Field(default_factory=list)
    # Where the dev-mode sign-in (`/authorize`) may send a code, and `/logout` may send a browser
    # back to: exact URIs, except that an http loopback URI matches on any port (RFC 8252 §7.3).
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)


def _default_clients() -> dict[str, ClientConfig]:
    # Dev-only credentials; the services' own defaults match them so `make run` needs no setup.
    # Production never runs this issuer: a real OIDC provider holds the clients there.
    # README "Scopes" lists what each scope grants and who holds it. `roster:pii` (email, phone,
    # daily rate, gender, vetting) goes to no dev client: matching needs only what `roster:read`
    # shows (names, nationalities and residence for its nationality preference and region
    # score), and the integrator only the public shape. The notifier holds it, for experts' email addresses.
    return {
        "roster-service": ClientConfig(secret="dev-secret-roster-service", scopes=["requests:read"]),
        "requests-service": ClientConfig(secret="dev-secret-requests-service", scopes=["roster:read"]),
        "matching-service": ClientConfig(
            secret="dev-secret-matching-service",
            scopes=["roster:read", "roster:write", "requests:read", "requests:write"],
        ),
        "demo-integrator": ClientConfig(
            secret="dev-secret-demo-integrator",
            scopes=["roster:read", "requests:read", "matching:read", "events:read"],
        ),
        # The notifier follows every service's event stream, reads the requests it writes about
        # and the addresses of the experts it writes to.
        "notifier": ClientConfig(
            secret="dev-secret-notifier", scopes=["events:read", "requests:read", "roster:read", "roster:pii"]
        ),
        # The web portal signs people in with the authorization code flow; it calls the services
        # with the person's token, so it holds no scope of its own.
        "portal": ClientConfig(
            secret="dev-secret-portal",
            scopes=[],
            redirect_uris=["http://127.0.0.1:8004/auth/callback", "http://localhost:8004/auth/callback"],
            post_logout_redirect_uris=["http://127.0.0.1:8004/", "http://localhost:8004/"],
        ),
    }


class IssuerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    issuer: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    dev_mode: bool = False
    signing_key_file: Path | None = Path("var/dev-issuer-key.pem")
    token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    audiences: list[str] = Field(default_factory=lambda: ["roster", "requests", "matching", "notifier"])
    clients: dict[str, ClientConfig] = Field(default_factory=_default_clients)
    # `/token` answers 429 to a client id, or a client address, with this many failed attempts
    # inside the window; an address hosts several clients, so it gets more room.
    token_failures_per_client: int = Field(default=10, ge=1)
    token_failures_per_address: int = Field(default=30, ge=1)
    token_failure_window_seconds: float = Field(default=60.0, gt=0)
    # Dev mode: extra people for the sign-in page, a JSON list of
    # `{"label", "role", "offices", "expert_id", "name", "sub"}` (the demo loader writes one).
    # Read on every sign-in page, so it may appear after the issuer starts.
    personas_file: Path | None = None
    log_level: str = "info"


@lru_cache
def get_settings() -> IssuerSettings:
    return IssuerSettings()
