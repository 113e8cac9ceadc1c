"""Keeps the in-memory expert index current by following the roster's change feed.

A `delete` on the feed is an erased expert: their name leaves the stored matches (committed
first, so a failure leaves the index behind and the page is read again) and then the index.
While one page is applied the next is already being fetched; pages are applied strictly in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

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

    async def _fetch(self, after: int) -> asyncio.Task[dict[str, Any]]:
        """The page after `after`, fetched in a task of its own; returns once the request is on
        its way (or answered), so that roster works on it while this page is applied."""
        sent = asyncio.Event()
        task = asyncio.create_task(self.roster.changes(after=after, limit=self.page_size, sent=sent))
        on_wire = asyncio.ensure_future(sent.wait())
        try:
            await asyncio.wait((task, on_wire), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled meanwhile: nobody will apply that page
            task.cancel()
            raise
        finally:
            on_wire.cancel()
        return task

    async def sync(self) -> int:
        """Apply every change after the index's seq; returns how many items were applied. A full
        page has the next one fetched while it is applied; a failure drops the fetch under way
        (the next sync reads again from the index's seq)."""
        async with self._lock:
            applied = 0
            pending = await self._fetch(self.index.seq)
            try:
                while True:
                    page = await pending
                    items = page["items"]
                    if len(items) >= self.page_size:
                        pending = await self._fetch(int(page["next_after"]))
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
            finally:
                pending.cancel()  # the fetch of a page that will not be applied now (if any)
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
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
