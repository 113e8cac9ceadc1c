"""Settings of the requests service (env prefix `REQUESTS_`), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REQUESTS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8002, ge=1, le=65535)
    database_url: str = "sqlite:///var/requests.db"
    audience: str = "requests"
    client_id: str = "requests-service"
    # The dev placeholder serves only with AUTH_DEV_MODE: outside it create_app refuses to start
    # until REQUESTS_CLIENT_SECRET is set to a real secret.
    client_secret: str = Field(default="dev-secret-requests-service", min_length=8)
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()
