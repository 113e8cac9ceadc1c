"""Server-side sessions: tokens stay in the portal's database; the browser holds one opaque,
random cookie. Each session carries its own CSRF token for the forms it renders."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mnr_shared.db import utcnow
from portal_service.config import Settings
from portal_service.models import PendingLogin, PortalSession
from portal_service.oidc import Tokens, User

COOKIE = "mnr_portal"
LOGIN_COOKIE = "mnr_login"
LOGIN_TTL = timedelta(minutes=10)
# A session's last-seen time is written at most this often (not on every page view).
TOUCH_EVERY = timedelta(minutes=1)


def _digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


@dataclass(frozen=True)
class Signed:
    """The session a request arrived with."""

    id: str
    user: User
    access_token: str
    id_token: str | None
    access_expires_at: datetime
    csrf_token: str

    @property
    def token_expired(self) -> bool:
        return utcnow() >= self.access_expires_at


class SessionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    async def start_login(self, *, state: str, nonce: str, code_verifier: str, return_to: str) -> None:
        async with self.sessions.begin() as session:
            # Logins abandoned at the provider are swept here rather than by a job.
            await session.execute(delete(PendingLogin).where(PendingLogin.created_at < utcnow() - LOGIN_TTL))  # type: ignore[arg-type]
            session.add(
                PendingLogin(state=state, nonce=nonce, code_verifier=code_verifier, return_to=return_to)
            )

    async def take_login(self, state: str) -> PendingLogin | None:
        """The login with this `state`, deleted in the same step: a state works once."""
        async with self.sessions.begin() as session:
            pending = await session.get(PendingLogin, state)
            if pending is None:
                return None
            await session.delete(pending)
            if pending.created_at < utcnow() - LOGIN_TTL:
                return None
            session.expunge(pending)
            return pending

    async def create(self, user: User, tokens: Tokens) -> str:
        """A new session; answers the cookie value (only its digest is stored)."""
        cookie_value = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.sessions.begin() as session:
            await session.execute(delete(PortalSession).where(PortalSession.expires_at < now))  # type: ignore[arg-type]
            session.add(
                PortalSession(
                    id=_digest(cookie_value),
                    sub=user.sub,
                    user=user.as_dict(),
                    access_token=tokens.access_token,
                    id_token=tokens.id_token,
                    # A little early, so a page never starts with a token about to lapse.
                    access_expires_at=now + timedelta(seconds=max(tokens.expires_in - 30, 0)),
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(seconds=self.settings.session_max_age_seconds),
                )
            )
        return cookie_value

    async def load(self, cookie_value: str | None) -> Signed | None:
        if not cookie_value or len(cookie_value) > 200:
            return None
        now = utcnow()
        idle = timedelta(seconds=self.settings.session_idle_seconds)
        async with self.sessions.begin() as session:
            row = await session.get(PortalSession, _digest(cookie_value))
            if row is None:
                return None
            if row.expires_at <= now or row.last_seen_at + idle <= now:
                await session.delete(row)
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
            return Signed(
                id=row.id,
                user=User.from_dict(row.user),
                access_token=row.access_token,
                id_token=row.id_token,
                access_expires_at=row.access_expires_at,
                csrf_token=row.csrf_token,
            )

    async def end(self, session_id: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(PortalSession).where(PortalSession.id == session_id))  # type: ignore[arg-type]
