"""Settings of the roster service (env prefix `ROSTER_`), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROSTER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    database_url: str = "sqlite:///var/roster.db"
    audience: str = "roster"
    client_id: str = "roster-service"
    # The dev placeholder serves only with AUTH_DEV_MODE: outside it create_app refuses to start
    # until ROSTER_CLIENT_SECRET is set to a real secret.
    client_secret: str = Field(default="dev-secret-roster-service", min_length=8)
    log_level: str = "info"
    # The vetting gate: a safeguarding check older than this many months no longer lets an
    # expert be active, and matching leaves them out (`vetting_expired`).
    vetting_valid_months: int = Field(default=24, ge=1, le=120)


@lru_cache
def get_settings() -> Settings:
    return Settings()
