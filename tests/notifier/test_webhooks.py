"""Webhooks end to end in-process: roster's stream → a delivery → a receiver that verifies it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier_service.outbound import UnsafeUrl, check_url

HOOK = "http://hooks.test/hook"


async def _subscribe(notifier: Any, headers: dict[str, str], types: list[str]) -> dict[str, Any]:
    created = await notifier.client.post(
        "/v1/subscriptions", json={"url": HOOK, "event_types": types, "description": "test"}, headers=headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _deliveries(notifier: Any, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = await notifier.client.get("/v1/deliveries", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()
    return items


async def test_a_subscriber_gets_each_wanted_event_once_signed_per_standard_webhooks(
    notifier: Any, system: Any, people: dict[str, dict[str, str]], make_expert: Any
) -> None:
    admin = people["admin"]
    subscription = await _subscribe(notifier, admin, ["expert.created"])
    assert subscription["secret"].startswith("whsec_")
    assert (
        "secret"
        not in (await notifier.client.get(f"/v1/subscriptions/{subscription['id']}", headers=admin)).json()
    )
    expert = await make_expert(1)
    stream = (await system.roster.get("/v1/events", headers=admin)).json()["items"]
    created = next(e for e in stream if e["type"] == "expert.created")

    await notifier.pump()
    await notifier.pump()  # reading the streams again records nothing new

    assert len(notifier.receiver.received) == 1
    request, body = notifier.receiver.received[0], notifier.receiver.bodies[0]
    verified = Webhook(subscription["secret"]).verify(body, dict(request.headers))
    assert verified == json.loads(body)
    assert verified["type"] == "expert.created"
    assert verified["data"]["id"] == expert["id"]
    assert verified["timestamp"] == created["occurred_at"]
    assert request.headers["webhook-id"] == created["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, dict(request.headers))
    [delivery] = await _deliveries(notifier, admin)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 1, 204)


async def test_failures_back_off_on_the_schedule_with_the_same_webhook_id(
    notifier: Any, people: dict[str, dict[str, str]], make_expert: Any
) -> None:
    admin = people["admin"]
    await _subscribe(notifier, admin, ["*"])
    notifier.receiver.answers = [500, 503]
    await make_expert(1)

    await notifier.pump()
    [first] = await _deliveries(notifier, admin)
    notifier.clock.advance(4)
    await notifier.pump()
    attempted_early = len(notifier.receiver.received)
    notifier.clock.advance(2)  # 6 s after the first failure: past the 5 s wait
    await notifier.pump()
    [second] = await _deliveries(notifier, admin)
    notifier.clock.advance(301)
    await notifier.pump()
    [third] = await _deliveries(notifier, admin)

    assert first["status"] == "pending"
    assert (first["attempts"], first["last_status_code"]) == (1, 500)
    assert attempted_early == 1
    assert (second["attempts"], second["last_status_code"]) == (2, 503)
    assert (third["status"], third["attempts"], third["last_status_code"]) == ("delivered", 3, 204)
    ids = {r.headers["webhook-id"] for r in notifier.receiver.received}
    assert len(notifier.receiver.received) == 3
    assert ids == {first["event_id"]}


async def test_410_disables_the_subscription_and_a_retry_revives_it(
    notifier: Any, people: dict[str, dict[str, str]], make_expert: Any
) -> None:
    admin = people["admin"]
    subscription = await _subscribe(notifier, admin, ["expert.created"])
    notifier.receiver.answers = [410]
    await make_expert(1)
    await notifier.pump()
    await make_expert(2)
    await notifier.pump()

    gone = (await notifier.client.get(f"/v1/subscriptions/{subscription['id']}", headers=admin)).json()
    assert gone["status"] == "disabled"
    assert "410" in gone["disabled_reason"]
    assert len(notifier.receiver.received) == 1  # nothing more went to a receiver that said "gone"
    failed = await _deliveries(notifier, admin, status="failed")
    assert [d["last_status_code"] for d in failed] == [410]

    retried = await notifier.client.post(f"/v1/deliveries/{failed[0]['id']}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "delivered"
    again = (await notifier.client.get(f"/v1/subscriptions/{subscription['id']}", headers=admin)).json()
    assert again["status"] == "active"


async def test_a_rotated_secret_signs_alongside_the_old_one_and_test_events_arrive(
    notifier: Any, people: dict[str, dict[str, str]]
) -> None:
    admin = people["admin"]
    subscription = await _subscribe(notifier, admin, ["expert.created"])
    rotated = await notifier.client.post(
        f"/v1/subscriptions/{subscription['id']}/rotate-secret", headers=admin
    )
    assert rotated.status_code == 200, rotated.text

    sent = await notifier.client.post(f"/v1/subscriptions/{subscription['id']}/test", headers=admin)

    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "delivered"
    request, body = notifier.receiver.received[-1], notifier.receiver.bodies[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (subscription["secret"], rotated.json()["secret"]):
        assert Webhook(secret).verify(body, dict(request.headers))["type"] == "webhook.test"


async def test_redirects_are_not_followed(notifier: Any, people: dict[str, dict[str, str]]) -> None:
    admin = people["admin"]
    subscription = await _subscribe(notifier, admin, ["expert.created"])
    notifier.receiver.answers = [302]

    sent = (await notifier.client.post(f"/v1/subscriptions/{subscription['id']}/test", headers=admin)).json()

    assert sent["status"] == "pending"
    assert sent["last_status_code"] == 302
    assert "redirect" in sent["last_error"]
    assert len(notifier.receiver.received) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[fd00::1]/x",
        "https://localhost/x",
        "https://user:pw@hooks.example.org/x",
        "ftp://hooks.example.org/x",
    ],
)
async def test_private_and_plain_urls_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_private=False)


async def test_public_https_addresses_are_accepted() -> None:
    await check_url("https://93.184.215.14/hook", allow_private=False)
    await check_url("https://[2606:4700::1111]/hook", allow_private=False)


async def test_who_may_manage_subscriptions(
    notifier: Any, people: dict[str, dict[str, str]], service_token: Any
) -> None:
    from mnr_shared.testing import bearer

    body = {"url": HOOK, "event_types": ["expert.created"]}
    assert (
        await notifier.client.post("/v1/subscriptions", json=body, headers=people["pd"])
    ).status_code == 403
    other = bearer(await service_token("demo-integrator"))
    assert (await notifier.client.post("/v1/subscriptions", json=body, headers=other)).status_code == 403
    assert (await notifier.client.post("/v1/subscriptions", json=body)).status_code == 401
    bad = await notifier.client.post(
        "/v1/subscriptions", json={**body, "event_types": ["Not A Type"]}, headers=people["admin"]
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    missing = await notifier.client.get(
        "/v1/subscriptions/00000000-0000-4000-8000-000000000000", headers=people["admin"]
    )
    assert missing.status_code == 404


async def test_a_new_subscription_hears_only_what_happens_after_it(
    notifier: Any, people: dict[str, dict[str, str]], make_expert: Any
) -> None:
    before = await make_expert(1)  # not yet read by the notifier when the subscription is made
    await _subscribe(notifier, people["admin"], ["expert.created"])
    after = await make_expert(2)

    await notifier.pump()

    ids = [json.loads(body)["data"]["id"] for body in notifier.receiver.bodies]
    assert ids == [after["id"]]
    assert before["id"] not in ids


async def test_unsubscribing_removes_the_subscription_and_its_deliveries(
    notifier: Any, people: dict[str, dict[str, str]]
) -> None:
    admin = people["admin"]
    subscription = await _subscribe(notifier, admin, ["expert.created"])
    await notifier.client.post(f"/v1/subscriptions/{subscription['id']}/test", headers=admin)
    assert len(await _deliveries(notifier, admin)) == 1

    gone = await notifier.client.delete(f"/v1/subscriptions/{subscription['id']}", headers=admin)

    assert gone.status_code == 204
    assert (
        await notifier.client.get(f"/v1/subscriptions/{subscription['id']}", headers=admin)
    ).status_code == 404
    assert await _deliveries(notifier, admin) == []
