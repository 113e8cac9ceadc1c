"""Tables of the portal: signed-in sessions and logins under way. No domain data lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field

from mnr_shared.db import UTCDateTime, utcnow
from portal_service.db import Base, metadata

__all__ = ["Base", "PendingLogin", "PortalSession", "metadata"]


class PortalSession(Base, table=True):
    """One signed-in browser. The cookie holds a random value; only its SHA-256 is stored, so a
    copy of this table does not let anyone sign in as the people in it."""

    __tablename__ = "portal_sessions"

    id: str = Field(primary_key=True, max_length=64, description="SHA-256 of the cookie value")
    sub: str = Field(max_length=200, index=True)
    user: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    access_token: str = Field(sa_column=Column(Text, nullable=False))
    id_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    access_expires_at: datetime = Field(sa_type=UTCDateTime)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class PendingLogin(Base, table=True):
    """A login sent to the provider and not yet back: its `state`, `nonce`, PKCE verifier and
    the page to return to. Used once, then deleted."""

    __tablename__ = "portal_pending_logins"

    state: str = Field(primary_key=True, max_length=64)
    nonce: str = Field(max_length=64)
    code_verifier: str = Field(max_length=128)
    return_to: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
