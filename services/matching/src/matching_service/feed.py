"""Keeps the in-memory expert index current by following the roster's change feed.

A `delete` on the feed is an erased expert: their name leaves the stored matches (committed
first, so a failure leaves the index behind and the page is read again) and then the index.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from matching_service import matches
from matching_service.clients.upstream import RosterClient, UpstreamUnavailable
from matching_service.index import ExpertIndex

log = logging.getLogger("matching.feed")


class IndexFollower:
    """Loads every expert at start-up (paged), then polls for changes and applies them."""

    def __init__(
        self,
        *,
        roster: RosterClient,
        index: ExpertIndex,
        interval_seconds: float,
        page_size: int = 1000,
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.roster = roster
        self.index = index
        self.sessions = sessions
        self.interval = interval_seconds
        self.page_size = page_size
        self.loaded = asyncio.Event()
        self.last_sync: float | None = None
        self._lock = asyncio.Lock()

    @property
    def age_seconds(self) -> float | None:
        return None if self.last_sync is None else time.monotonic() - self.last_sync

    async def sync(self) -> int:
        """Apply every change after the index's seq; returns how many items were applied."""
        async with self._lock:
            applied = 0
            while True:
                page = await self.roster.changes(after=self.index.seq, limit=self.page_size)
                items = page["items"]
                erased = [
                    uuid.UUID(str(item["expert_id"]))
                    for item in items
                    if item["kind"] == "delete" and int(item["seq"]) > self.index.seq
                ]
                if erased and self.sessions is not None:
                    async with self.sessions() as session:
                        await matches.erase_expert_names(session=session, expert_ids=erased)
                if items:
                    self.index.apply(items)
                    applied += len(items)
                if len(items) < self.page_size:
                    break
            self.last_sync = time.monotonic()
            if not self.loaded.is_set():
                self.loaded.set()
                log.info("expert index loaded", extra={"experts": len(self.index), "seq": self.index.seq})
            return applied

    async def run(self) -> None:
        """Poll for ever; an unreachable roster is logged and retried, never fatal."""
        while True:
            try:
                await self.sync()
            except UpstreamUnavailable as exc:
                log.warning("roster feed unavailable", extra={"error": str(exc)})
            except Exception:
                log.exception("feed sync failed")
            await asyncio.sleep(self.interval)
