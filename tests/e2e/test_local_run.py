"""`make run` end to end: real processes on free loopback ports, real HTTP, real tokens, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mnr_shared.testing import drop_everything

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = {"identity": "AUTH", "roster": "ROSTER", "requests": "REQUESTS", "matching": "MATCHING"}

pytestmark = pytest.mark.e2e


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


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


@pytest.fixture
def system(
    tmp_path: Path, backend: str, pg_databases: dict[str, str]
) -> Iterator[tuple[dict[str, int], subprocess.Popen[str]]]:
    ports = dict(zip(PREFIXES, _free_ports(4), strict=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(PREFIXES.values()))}
    for name, port in ports.items():
        env[f"{PREFIXES[name]}_PORT"] = str(port)
    if backend == "postgresql":
        for name in ("roster", "requests", "matching"):
            env[f"{PREFIXES[name]}_DATABASE_URL"] = pg_databases[name]
            asyncio.run(drop_everything(pg_databases[name]))  # migrations start from nothing
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "run_local.py"), "--var", str(tmp_path / "var")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            pytest.fail("run_local exited early:\n" + "".join(output))
        output.append(line)
        if "Press Ctrl-C" in line:
            break
    else:
        process.kill()
        pytest.fail("the system did not come up:\n" + "".join(output))
    try:
        yield ports, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if backend == "postgresql":
            for name in ("roster", "requests", "matching"):
                asyncio.run(drop_everything(pg_databases[name]))


def test_whole_system_runs_serves_tokens_and_stops_cleanly(
    system: tuple[dict[str, int], subprocess.Popen[str]], tmp_path: Path
) -> None:
    ports, process = system
    for name, port in ports.items():
        status, _, body = _call("GET", f"http://127.0.0.1:{port}/healthz")
        assert (status, body["service"]) == (200, name)
        if name != "identity":
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
