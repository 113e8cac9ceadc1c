"""HTTP routes of the notifier (thin: parse, call `Webhooks`, return)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from mnr_shared.api import DEFAULT_LIMIT, Limit
from mnr_shared.auth import Principal, Role, require
from mnr_shared.problems import problem_responses
from notifier_service.models import DeliveryStatus
from notifier_service.schemas import (
    DeliveryRead,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
)
from notifier_service.webhooks import Webhooks

MANAGE_SCOPE = "webhooks:manage"
Manager = Annotated[Principal, Depends(require(roles=(Role.ADMIN.value,), scopes=(MANAGE_SCOPE,)))]

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422))


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]


@router.post("/subscriptions", status_code=201, tags=["webhooks"], summary="Subscribe a URL to events")
async def create_subscription(
    body: SubscriptionCreate, who: Manager, webhooks: WebhooksDep
) -> SubscriptionCreated:
    """Admin, or a client with `webhooks:manage` (which then manages only its own). The answer
    carries the signing `secret` — the only time it is shown. The URL must be https and resolve
    to public addresses (unless private URLs are allowed, as in dev mode)."""
    return await webhooks.create(who, body)


@router.get("/subscriptions", tags=["webhooks"], summary="Your subscriptions")
async def list_subscriptions(who: Manager, webhooks: WebhooksDep) -> list[SubscriptionRead]:
    return await webhooks.listed(who)


@router.get(
    "/subscriptions/{subscription_id}",
    tags=["webhooks"],
    summary="A subscription",
    responses=problem_responses(404),
)
async def get_subscription(
    subscription_id: uuid.UUID, who: Manager, webhooks: WebhooksDep
) -> SubscriptionRead:
    return await webhooks.get(who, subscription_id)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    tags=["webhooks"],
    summary="Unsubscribe",
    responses=problem_responses(404),
)
async def delete_subscription(subscription_id: uuid.UUID, who: Manager, webhooks: WebhooksDep) -> Response:
    await webhooks.delete(who, subscription_id)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    tags=["webhooks"],
    summary="Rotate the signing secret",
    responses=problem_responses(404),
)
async def rotate_secret(subscription_id: uuid.UUID, who: Manager, webhooks: WebhooksDep) -> SecretRotated:
    """A new secret, shown once; the old one keeps signing alongside it until `previous_valid_until`."""
    return await webhooks.rotate(who, subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/test",
    tags=["webhooks"],
    summary="Send a test event",
    responses=problem_responses(404),
)
async def send_test(subscription_id: uuid.UUID, who: Manager, webhooks: WebhooksDep) -> DeliveryRead:
    """Sends a signed `webhook.test` event now and answers the delivery with its first attempt."""
    return await webhooks.send_test(who, subscription_id)


@router.get("/deliveries", tags=["webhooks"], summary="Deliveries, newest first")
async def list_deliveries(
    who: Manager,
    webhooks: WebhooksDep,
    subscription_id: uuid.UUID | None = None,
    status: DeliveryStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> list[DeliveryRead]:
    """Attempts, last status code, latency and error of each delivery of your subscriptions."""
    return await webhooks.deliveries(who, subscription_id=subscription_id, status=status, limit=limit)


@router.post(
    "/deliveries/{delivery_id}/retry",
    tags=["webhooks"],
    summary="Retry a delivery now",
    responses=problem_responses(404),
)
async def retry_delivery(delivery_id: uuid.UUID, who: Manager, webhooks: WebhooksDep) -> DeliveryRead:
    """Attempts it again now (re-enabling a disabled subscription) and answers the outcome."""
    return await webhooks.retry(who, delivery_id)
