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
    # The dev placeholder serves only with AUTH_DEV_MODE: outside it create_app refuses to start
    # until MATCHING_CLIENT_SECRET is set to a real secret.
    client_secret: str = Field(default="dev-secret-matching-service", min_length=8)
    log_level: str = "info"
    roster_url: str = "http://127.0.0.1:8001"
    requests_url: str = "http://127.0.0.1:8002"
    token_url: str | None = Field(
        default=None, description="Client-credentials endpoint; default: AUTH_ISSUER + /token."
    )
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=300)
    recovery_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    offer_ttl_days: float = Field(default=7.0, gt=0, le=365)
    # A hold whose answer was lost is only released after this long, so that a request still in
    # flight cannot land after the release and leave an orphan hold.
    compensation_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # The reconciler compares matches, roster bookings and request statuses this often, repairs
    # what it can and reports the rest (`GET /v1/admin/inconsistencies`).
    reconcile_interval_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Matches that came to rest this recently are checked against their booking on every pass.
    reconcile_lookback_hours: float = Field(default=24.0, gt=0, le=2160)
    # A saga step that has failed this many times in a row is reported as stuck.
    stuck_step_attempts: int = Field(default=5, ge=1, le=1000)
    # Rankings read the scoring policy from memory: replaced at once when this process changes
    # it, and read again from the database when older than this (another replica may change it).
    policy_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    # Candidates reuse a request read from the requests service this recently (0: never); the
    # saga, approvals and the reconciler always read it fresh, and drop it when they move it.
    request_cache_seconds: float = Field(default=2.0, ge=0, le=300)
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    upstream_read_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    upstream_retries: int = Field(default=2, ge=0, le=10)
    # Fault injection for the crash-recovery test only: sleep this long between the hold and the
    # request update, so a test can kill the process there. Never set in production.
    debug_pause_after_hold_seconds: float = Field(default=0.0, ge=0, le=600)


@lru_cache
def get_settings() -> Settings:
    return Settings()
