"""Settings of the matching service (env prefix `MATCHING_`), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8003, ge=1, le=65535)
    database_url: str = "sqlite:///var/matching.db"
    audience: str = "matching"
    client_id: str = "matching-service"
    client_secret: str = Field(default="dev-secret-matching-service", min_length=8)
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()
