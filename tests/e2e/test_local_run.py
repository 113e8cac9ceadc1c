"""`make run` end to end: real processes on free loopback ports, real HTTP, real tokens, clean stop."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def _call(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    if body is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def test_whole_system_runs_serves_tokens_and_stops_cleanly(local_system: Any, tmp_path: Path) -> None:
    ports, process = local_system.ports, local_system.process
    for name, port in ports.items():
        status, _, body = _call("GET", f"http://127.0.0.1:{port}/healthz")
        assert (status, body["service"]) == (200, name)
        if name not in ("identity", "mailbox"):  # neither has dependencies to be ready for
            assert _call("GET", f"http://127.0.0.1:{port}/readyz")[0] == 200

    status, _, body = _call(
        "POST", f"http://127.0.0.1:{ports['identity']}/dev/token", {"roles": ["programme_division"]}
    )
    assert status == 200
    token = body["access_token"]
    capabilities = f"http://127.0.0.1:{ports['roster']}/v1/reference/capabilities"
    status, _, body = _call("GET", capabilities, token=token)
    assert status == 200
    assert len(body["items"]) == 21
    assert len(body["domains"]) == 6

    status, headers, body = _call("GET", capabilities)
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"] == "Bearer"

    for name in ("requests", "matching"):
        status, _, body = _call("GET", f"http://127.0.0.1:{ports[name]}/v1/whoami", token=token)
        assert (status, body["roles"]) == (200, ["programme_division"])

    # The demo data went in through the APIs, requests through the status machine and the saga.
    roster = f"http://127.0.0.1:{ports['roster']}"
    status, _, body = _call("GET", f"{roster}/v1/experts?limit=200", token=token)
    assert status == 200
    assert len(body["items"]) == 200
    requests = f"http://127.0.0.1:{ports['requests']}"
    status, _, body = _call("GET", f"{requests}/v1/requests?limit=200", token=token)
    statuses = {r["status"] for r in body["items"]}
    assert len(body["items"]) == 20
    assert {"draft", "submitted", "in_review", "matched", "fulfilled"} <= statuses

    key_file = tmp_path / "var" / "dev-issuer-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var" / "demo" / "experts.json").exists()

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    for port in ports.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
