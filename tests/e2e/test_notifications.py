"""Over real processes: an approval's offer reaches the expert's inbox and a subscribed local
receiver gets `match.offered`, signed and verifiable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from standardwebhooks.webhooks import Webhook

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = {
    "identity": "AUTH",
    "roster": "ROSTER",
    "requests": "REQUESTS",
    "matching": "MATCHING",
    "notifier": "NOTIFIER",
}


def _call(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()


def _until(found: Any, what: str, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} did not arrive in {timeout:.0f} s")


def test_an_approval_mails_the_expert_and_signs_a_webhook(local_system: Any, receiver: Any) -> None:
    url = local_system.url
    token = {
        role: _call("POST", f"{url('identity')}/dev/token", {"roles": [role], "sub": f"{role}-e2e"})[
            "access_token"
        ]
        for role in ("admin", "programme_division")
    }
    hook, received = receiver
    subscription = _call(
        "POST",
        f"{url('notifier')}/v1/subscriptions",
        {"url": hook, "event_types": ["match.offered"], "description": "e2e"},
        token["admin"],
    )
    in_review = _call(
        "GET", f"{url('requests')}/v1/requests?status=in_review&limit=50", token=token["programme_division"]
    )
    live = {
        m["request_id"]
        for m in _call("GET", f"{url('matching')}/v1/matches?limit=200", token=token["admin"])["items"]
        if m["status"] in ("pending", "offered", "accepted")
    }
    request = next(r for r in in_review["items"] if r["id"] not in live)
    candidates = _call(
        "GET", f"{url('matching')}/v1/requests/{request['id']}/candidates", token=token["programme_division"]
    )
    expert_id = candidates["items"][0]["expert_id"]
    match = _call(
        "POST",
        f"{url('matching')}/v1/matches",
        {"request_id": request["id"], "expert_id": expert_id},
        token["programme_division"],
    )
    email = _call("GET", f"{url('roster')}/v1/experts/{expert_id}", token=token["programme_division"])[
        "email"
    ]

    mails = _until(
        lambda: [
            m
            for m in _call("GET", f"{url('mailbox')}/api/v1/messages?{urlencode({'to': email})}")
            if m["subject"].startswith(f"[{request['reference']}]")
        ],
        "the offer email",
    )
    headers, body = _until(lambda: next(iter(received), None), "the webhook")
    time.sleep(2)  # anything else the notifier would (wrongly) send arrives meanwhile

    assert len(mails) == 1
    assert len(received) == 1  # only what happened after subscribing
    assert "/offers" in mails[0]["text"]
    event = Webhook(subscription["secret"]).verify(body, headers)
    assert event["type"] == "match.offered"
    assert event["data"]["id"] == match["id"]
    assert event["data"]["request_id"] == request["id"]
    assert "full_name" not in json.dumps(event)


def test_make_demo_walks_the_path_and_shows_what_the_notifier_sent(local_system: Any) -> None:
    ports = local_system.ports
    env = {
        **os.environ,
        **{f"{prefix}_PORT": str(ports[name]) for name, prefix in PREFIXES.items()},
        "MAILBOX_HTTP_PORT": str(ports["mailbox"]),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Demo complete" in done.stdout
    assert "You are offered an assignment" in done.stdout
    assert "The expert accepted" in done.stdout
    assert "match.offered about" in done.stdout
    assert "match.accepted about" in done.stdout
