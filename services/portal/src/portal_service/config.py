"""Settings of the portal (env prefix `PORTAL_`), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8004, ge=1, le=65535)
    # Where browsers reach the portal; the OIDC redirect URI is derived from it. Empty: built
    # from host and port (right for `make run`).
    public_url: str = ""
    database_url: str = "sqlite:///var/portal.db"
    roster_url: str = "http://127.0.0.1:8001"
    requests_url: str = "http://127.0.0.1:8002"
    matching_url: str = "http://127.0.0.1:8003"
    # The OpenID Connect provider: its issuer URL (discovery at /.well-known/openid-configuration)
    # and this portal's client registration there.
    oidc_issuer: str = "http://127.0.0.1:8000"
    # Where browsers reach the provider, when that differs from where the portal does (compose:
    # the portal says http://identity:8000, a browser on the host http://localhost:8000).
    oidc_browser_issuer: str = ""
    client_id: str = "portal"
    # The dev placeholder serves only with AUTH_DEV_MODE: outside it create_app refuses to start
    # until PORTAL_CLIENT_SECRET is set to a real secret.
    client_secret: str = Field(default="dev-secret-portal", min_length=8)
    oidc_scope: str = "openid profile"
    # Claim names in the provider's tokens (Entra ID app roles arrive as `roles`; Keycloak
    # client roles can be mapped to `roles` with a token mapper). Dotted names reach into
    # nested claims, e.g. `resource_access.portal.roles`.
    claim_roles: str = "roles"
    claim_offices: str = "offices"
    claim_expert_id: str = "expert_id"
    claim_name: str = "name"
    # A signed-in session lasts at most this long, and ends after this long unused.
    session_max_age_seconds: int = Field(default=12 * 3600, ge=300)
    session_idle_seconds: int = Field(default=2 * 3600, ge=60)
    # `Secure` cookies: on whenever the public URL is https (set it explicitly behind a proxy).
    cookie_secure: bool | None = None
    log_level: str = "info"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/auth/callback"

    def for_browser(self, url: str) -> str:
        """A provider URL as a browser must be sent to it."""
        inside = self.oidc_issuer.rstrip("/")
        if self.oidc_browser_issuer and url.startswith(inside):
            return self.oidc_browser_issuer.rstrip("/") + url[len(inside) :]
        return url

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.base_url.startswith("https:")


@lru_cache
def get_settings() -> Settings:
    return Settings()
