"""Webhook subscriptions and their deliveries, per Standard Webhooks 1.0.

Every event a subscription wants becomes one `Delivery` row, recorded in the same transaction
that moves the stream's cursor past it (`record`), so a restart neither loses an event nor
records it twice. `deliver_due` then POSTs each due delivery: `webhook-id` is the event id (the
same on every attempt, so a receiver can drop repeats), `webhook-timestamp` the attempt's time,
`webhook-signature` one `v1,<base64>` per secret in force (two during a rotation's grace
period). 2xx is delivered; 410 disables the subscription; anything else is retried after the
next wait of the schedule (± jitter) until the schedule is used up, and a subscription that has
failed without a success for `disable_after_failing_seconds` is disabled.
"""

from __future__ import annotations

import base64
import random
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from mnr_shared.auth import Principal, Role
from mnr_shared.db import utcnow
from mnr_shared.events import actor_of
from mnr_shared.problems import ProblemError
from notifier_service import outbound
from notifier_service.config import Settings
from notifier_service.models import Delivery, DeliveryStatus, Subscription, SubscriptionStatus
from notifier_service.schemas import (
    TEST_EVENT,
    DeliveryRead,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
)

MAX_LISTED = 200


class NotFound(ProblemError):
    status = 404
    slug = "not-found"


class UnsafeWebhookUrl(ProblemError):
    status = 422
    slug = "unsafe-webhook-url"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def payload_of(event: dict[str, Any]) -> dict[str, Any]:
    """The delivery body of a stream event: `data.id` is the subject's id."""
    return {
        "type": event["type"],
        "timestamp": event["occurred_at"],
        "data": {"id": event["subject"], **event["data"]},
    }


def wants(subscription: Subscription, event_type: str) -> bool:
    return "*" in subscription.event_types or event_type in subscription.event_types


def _after(event: dict[str, Any], subscription: Subscription) -> bool:
    """A subscription hears what happens from its creation on (a backlog the notifier is still
    catching up on is not sent to a subscriber who was not there)."""
    return datetime.fromisoformat(str(event["occurred_at"])) >= subscription.created_at


class Webhooks:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
        settings: Settings,
        allow_private: bool,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.settings = settings
        self.allow_private = allow_private
        self.clock = clock
        self.jitter = jitter

    # --- subscriptions ----------------------------------------------------------------------

    async def _owned(self, session: AsyncSession, by: Principal, subscription_id: uuid.UUID) -> Subscription:
        row = await session.get(Subscription, subscription_id)
        if row is None or not (by.has_role(Role.ADMIN.value) or row.owner == actor_of(by)):
            raise NotFound("No such subscription among yours.")
        return row

    async def create(self, by: Principal, body: SubscriptionCreate) -> SubscriptionCreated:
        try:
            await outbound.check_url(body.url, allow_private=self.allow_private)
        except outbound.UnsafeUrl as exc:
            raise UnsafeWebhookUrl(
                str(exc), extra={"errors": [{"loc": ["body", "url"], "msg": str(exc)}]}
            ) from exc
        row = Subscription(
            owner=actor_of(by),
            url=body.url,
            event_types=sorted(set(body.event_types)),
            description=body.description,
            secret=new_secret(),
        )
        async with self.sessions.begin() as session:
            session.add(row)
        return SubscriptionCreated(**SubscriptionRead.model_validate(row).model_dump(), secret=row.secret)

    async def listed(self, by: Principal) -> list[SubscriptionRead]:
        query = (
            select(Subscription)
            .order_by(col(Subscription.created_at), col(Subscription.id))
            .limit(MAX_LISTED)
        )
        if not by.has_role(Role.ADMIN.value):
            query = query.where(col(Subscription.owner) == actor_of(by))
        async with self.sessions() as session:
            return [SubscriptionRead.model_validate(row) for row in (await session.scalars(query)).all()]

    async def get(self, by: Principal, subscription_id: uuid.UUID) -> SubscriptionRead:
        async with self.sessions() as session:
            return SubscriptionRead.model_validate(await self._owned(session, by, subscription_id))

    async def delete(self, by: Principal, subscription_id: uuid.UUID) -> None:
        async with self.sessions.begin() as session:
            row = await self._owned(session, by, subscription_id)
            # One statement for its deliveries (SQLite does not cascade unless told to).
            await session.execute(delete(Delivery).where(col(Delivery.subscription_id) == row.id))
            await session.delete(row)

    async def rotate(self, by: Principal, subscription_id: uuid.UUID) -> SecretRotated:
        now = self.clock()
        async with self.sessions.begin() as session:
            row = await self._owned(session, by, subscription_id)
            row.previous_secret, row.secret = row.secret, new_secret()
            row.previous_secret_until = now + timedelta(seconds=self.settings.secret_grace_seconds)
            row.updated_at = now
            return SecretRotated(secret=row.secret, previous_valid_until=row.previous_secret_until)

    async def send_test(self, by: Principal, subscription_id: uuid.UUID) -> DeliveryRead:
        now = self.clock()
        async with self.sessions.begin() as session:
            row = await self._owned(session, by, subscription_id)
            event_id = uuid.uuid4()
            delivery = Delivery(
                subscription_id=row.id,
                event_id=event_id,
                event_type=TEST_EVENT,
                payload={"type": TEST_EVENT, "timestamp": now.isoformat(), "data": {"id": str(row.id)}},
                next_attempt_at=now,
            )
            session.add(delivery)
        await self.deliver(delivery.id)
        return await self.delivery(by, delivery.id)

    # --- deliveries ---------------------------------------------------------------------------

    async def deliveries(
        self, by: Principal, *, subscription_id: uuid.UUID | None, status: DeliveryStatus | None, limit: int
    ) -> list[DeliveryRead]:
        query = (
            select(Delivery)
            .join(Subscription, col(Subscription.id) == col(Delivery.subscription_id))
            .order_by(col(Delivery.created_at).desc(), col(Delivery.id))
            .limit(limit)
        )
        if not by.has_role(Role.ADMIN.value):
            query = query.where(col(Subscription.owner) == actor_of(by))
        if subscription_id is not None:
            query = query.where(col(Delivery.subscription_id) == subscription_id)
        if status is not None:
            query = query.where(col(Delivery.status) == status)
        async with self.sessions() as session:
            return [DeliveryRead.model_validate(row) for row in (await session.scalars(query)).all()]

    async def _delivery_owned(self, session: AsyncSession, by: Principal, delivery_id: uuid.UUID) -> Delivery:
        row = await session.get(Delivery, delivery_id)
        if row is None:
            raise NotFound("No such delivery among yours.")
        await self._owned(session, by, row.subscription_id)
        return row

    async def delivery(self, by: Principal, delivery_id: uuid.UUID) -> DeliveryRead:
        async with self.sessions() as session:
            return DeliveryRead.model_validate(await self._delivery_owned(session, by, delivery_id))

    async def retry(self, by: Principal, delivery_id: uuid.UUID) -> DeliveryRead:
        """Attempt again now (a failed delivery gets a fresh schedule; a delivered one is sent again)."""
        async with self.sessions.begin() as session:
            row = await self._delivery_owned(session, by, delivery_id)
            subscription = await self._owned(session, by, row.subscription_id)
            if subscription.status != SubscriptionStatus.ACTIVE:
                subscription.status, subscription.disabled_reason = SubscriptionStatus.ACTIVE, None
                subscription.failing_since = None
            row.status, row.attempts, row.next_attempt_at = DeliveryStatus.PENDING, 0, self.clock()
        await self.deliver(delivery_id)
        return await self.delivery(by, delivery_id)

    # --- fan-out (inside the follower's transaction) ------------------------------------------

    async def record(self, session: AsyncSession, events: Sequence[dict[str, Any]]) -> int:
        """A delivery per (active subscription wanting it, event); answers how many."""
        if not events:
            return 0
        active = (
            await session.scalars(
                select(Subscription).where(col(Subscription.status) == SubscriptionStatus.ACTIVE)
            )
        ).all()
        now = self.clock()
        rows = [
            Delivery(
                subscription_id=subscription.id,
                event_id=uuid.UUID(str(event["id"])),
                event_type=event["type"],
                payload=payload_of(event),
                next_attempt_at=now,
            )
            for event in events
            for subscription in active
            if wants(subscription, event["type"]) and _after(event, subscription)
        ]
        session.add_all(rows)
        return len(rows)

    # --- attempts -----------------------------------------------------------------------------

    def _signature(self, subscription: Subscription, msg_id: str, at: datetime, body: bytes) -> str:
        keys = [subscription.secret]
        if (
            subscription.previous_secret
            and subscription.previous_secret_until
            and at < subscription.previous_secret_until
        ):
            keys.append(subscription.previous_secret)
        return " ".join(Webhook(key).sign(msg_id, at, body) for key in keys)

    async def deliver_due(self, limit: int = 50) -> int:
        """Attempt every delivery that is due (oldest first); answers how many were attempted."""
        async with self.sessions() as session:
            due = (
                await session.scalars(
                    select(col(Delivery.id))
                    .where(
                        col(Delivery.status) == DeliveryStatus.PENDING,
                        col(Delivery.next_attempt_at) <= self.clock(),
                    )
                    .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
                    .limit(limit)
                )
            ).all()
        for delivery_id in due:
            await self.deliver(delivery_id)
        return len(due)

    async def deliver(self, delivery_id: uuid.UUID) -> None:
        """One attempt of one delivery, and what follows from its answer."""
        async with self.sessions() as session:
            delivery = await session.get(Delivery, delivery_id)
            subscription = await session.get(Subscription, delivery.subscription_id) if delivery else None
            if delivery is None or subscription is None or delivery.status != DeliveryStatus.PENDING:
                return
            if subscription.status != SubscriptionStatus.ACTIVE:
                return
            at = self.clock()
            body = orjson.dumps(delivery.payload)
            msg_id = str(delivery.event_id)
            headers = {
                "content-type": "application/json",
                "user-agent": "mnr-expert-roster-notifier/0.1",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": self._signature(subscription, msg_id, at, body),
            }
            url = subscription.url
        attempt = await outbound.post(
            self.http,
            url,
            body=body,
            headers=headers,
            allow_private=self.allow_private,
            max_response_bytes=self.settings.max_response_bytes,
        )
        await self._settle(delivery_id, attempt)

    async def _settle(self, delivery_id: uuid.UUID, attempt: outbound.Attempt) -> None:
        now = self.clock()
        async with self.sessions.begin() as session:
            delivery = await session.get(Delivery, delivery_id)
            subscription = await session.get(Subscription, delivery.subscription_id) if delivery else None
            if delivery is None or subscription is None:
                return  # deleted meanwhile
            delivery.attempts += 1
            delivery.last_status_code, delivery.last_latency_ms = attempt.status_code, attempt.latency_ms
            delivery.last_error = attempt.error
            if attempt.delivered:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                    DeliveryStatus.DELIVERED,
                    now,
                    None,
                )
                subscription.failing_since = None
                return
            if attempt.status_code == 410:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                self._disable(subscription, "The receiver answered 410 Gone.", now)
                return
            schedule = self.settings.retry_schedule_seconds
            if delivery.attempts > len(schedule):
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            else:
                wait = schedule[delivery.attempts - 1]
                spread = self.settings.retry_jitter * wait
                delivery.next_attempt_at = now + timedelta(seconds=wait - spread + 2 * spread * self.jitter())
            subscription.failing_since = subscription.failing_since or now
            failing = (now - subscription.failing_since).total_seconds()
            if failing >= self.settings.disable_after_failing_seconds:
                self._disable(subscription, f"Deliveries failed for {failing / 3600:.0f} hours.", now)

    @staticmethod
    def _disable(subscription: Subscription, reason: str, now: datetime) -> None:
        subscription.status, subscription.disabled_reason, subscription.updated_at = (
            SubscriptionStatus.DISABLED,
            reason,
            now,
        )
