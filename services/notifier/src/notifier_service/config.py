"""Settings of the notifier (env prefix `NOTIFIER_`), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Standard Webhooks' suggested schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class Mailbox(BaseModel):
    """A shared mailbox and the language its messages are written in."""

    address: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    language: Literal["en", "fr", "es", "ar"] = "en"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8005, ge=1, le=65535)
    database_url: str = "sqlite:///var/notifier.db"
    audience: str = "notifier"
    client_id: str = "notifier"
    # The dev placeholder serves only with AUTH_DEV_MODE: outside it create_app refuses to start
    # until NOTIFIER_CLIENT_SECRET is set to a real secret.
    client_secret: str = Field(default="dev-secret-notifier", min_length=8)
    token_url: str = ""
    # The event streams it follows (each service's GET /v1/events).
    roster_url: str = "http://127.0.0.1:8001"
    requests_url: str = "http://127.0.0.1:8002"
    matching_url: str = "http://127.0.0.1:8003"
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    deliver_interval_seconds: float = Field(default=1.0, gt=0)
    page_size: int = Field(default=200, ge=1, le=1000)
    # Seconds to wait after each failed attempt; once they are used up the delivery has failed.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE), min_length=1
    )
    # A retry waits its scheduled time ± this share of it, so receivers are not hit in waves.
    retry_jitter: float = Field(default=0.1, ge=0, le=0.5)
    # A subscription whose deliveries have failed without a success for this long is disabled.
    disable_after_failing_seconds: float = Field(default=5 * 24 * 3600, gt=0)
    # After a secret is rotated, the old one keeps signing (alongside the new) for this long.
    secret_grace_seconds: float = Field(default=24 * 3600, ge=0)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    max_response_bytes: int = Field(default=64 * 1024, ge=0)
    # Deliver to http and to private, loopback and link-local addresses (dev: local receivers).
    # Unset: on exactly when AUTH_DEV_MODE is.
    allow_private_urls: bool | None = None
    # Email over SMTP (the dev inbox of `make run` by default).
    email_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = "MNR Expert Roster <roster@mnr.invalid>"
    # Where links in emails point (the portal's public URL).
    portal_url: str = "http://127.0.0.1:8004"
    # The Programme Division's mailbox, and each country office's by ISO3 (JSON:
    # {"KEN": {"address": "kenya.ta@example.org", "language": "en"}}).
    pd_mailbox: Mailbox = Mailbox(address="programme.division@mnr.invalid")
    office_mailboxes: dict[str, Mailbox] = Field(default_factory=dict)
    # An expert who has not answered an offer is reminded this long before it lapses, once.
    offer_reminder_hours: float = Field(default=48, gt=0)
    # Attempts before an email that could not be handed to the SMTP server is given up.
    email_attempts: int = Field(default=5, ge=1, le=50)
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()
