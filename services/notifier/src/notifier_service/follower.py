"""Follows the event streams of roster, requests and matching with a durable cursor each.

A page of events and the cursor past it are written in one transaction, together with the
webhook deliveries and emails they cause (`Webhooks.record`, `Mailer.record`): a crash before
the commit reads the page again, a crash after it never does — at-least-once reading,
exactly-once recording.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mnr_shared.db import utcnow
from notifier_service.emails import Mailer
from notifier_service.models import StreamCursor
from notifier_service.webhooks import Webhooks

log = logging.getLogger("notifier.follower")


class StreamFollower:
    def __init__(
        self,
        *,
        streams: dict[str, httpx.AsyncClient],
        sessions: async_sessionmaker[AsyncSession],
        webhooks: Webhooks,
        mailer: Mailer,
        page_size: int,
    ) -> None:
        self.streams = streams
        self.sessions = sessions
        self.webhooks = webhooks
        self.mailer = mailer
        self.page_size = page_size

    async def cursor(self, stream: str) -> int:
        async with self.sessions() as session:
            row = await session.get(StreamCursor, stream)
            return row.after if row else 0

    async def sync(self) -> int:
        """Read every stream to its end; answers how many events were read."""
        total = 0
        for stream in self.streams:
            total += await self.sync_stream(stream)
        return total

    async def sync_stream(self, stream: str) -> int:
        read = 0
        while True:
            after = await self.cursor(stream)
            response = await self.streams[stream].get(
                "/v1/events", params={"after": after, "limit": self.page_size}
            )
            response.raise_for_status()
            page: dict[str, Any] = response.json()
            async with self.sessions.begin() as session:
                row = await session.get(StreamCursor, stream, with_for_update=True)
                if row is None:
                    row = StreamCursor(stream=stream, after=0)
                    session.add(row)
                if row.after != after:
                    continue  # another reader moved it meanwhile: read from where it is now
                recorded = await self.webhooks.record(session, page["items"])
                emails = await self.mailer.record(session, page["items"])
                row.after, row.updated_at = int(page["next_after"]), utcnow()
            read += len(page["items"])
            if recorded or emails:
                log.info("recorded %d deliveries and %d emails from %s", recorded, emails, stream)
            if len(page["items"]) < self.page_size:
                return read
