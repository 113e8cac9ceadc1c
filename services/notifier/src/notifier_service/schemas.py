"""Request and response bodies of the notifier's API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

TEST_EVENT = "webhook.test"
EVENT_TYPE = r"^(\*|[a-z_]+\.[a-z_]+)$"


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.org/mnr",
                    "event_types": ["match.offered", "match.accepted"],
                    "description": "Country programme dashboard",
                }
            ]
        },
    )

    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    event_types: list[Annotated[str, Field(pattern=EVENT_TYPE)]] = Field(
        min_length=1,
        max_length=50,
        description="Event types to receive (see each service's `GET /v1/events`), or `*` for all.",
    )
    description: str | None = Field(default=None, max_length=500)


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="`whsec_…`: shown this once; verify signatures with it.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new `whsec_…` secret, shown this once.")
    previous_valid_until: datetime = Field(description="Until then deliveries are signed with both secrets.")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
