"""The whole path across real processes on loopback ports, and a matching crash mid-saga."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config

from mnr_shared.testing import drop_everything

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
MODULES = {
    "identity": "dev_issuer",
    "roster": "roster_service",
    "requests": "requests_service",
    "matching": "matching_service",
}
PREFIX = {"identity": "AUTH", "roster": "ROSTER", "requests": "REQUESTS", "matching": "MATCHING"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 20
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Cluster:
    """Four real processes; matching can be killed and started again."""

    def __init__(self, tmp: Path, urls: dict[str, str]) -> None:
        self.ports = {name: _free_port() for name in MODULES}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(PREFIX.values()))}
        self.env.update(
            {
                "AUTH_DEV_MODE": "1",
                "AUTH_SIGNING_KEY_FILE": str(tmp / "key.pem"),
                "AUTH_ISSUER": self.url("identity"),
                "MATCHING_ROSTER_URL": self.url("roster"),
                "MATCHING_REQUESTS_URL": self.url("requests"),
                "MATCHING_POLL_INTERVAL_SECONDS": "0.2",
                "MATCHING_RECOVERY_INTERVAL_SECONDS": "0.5",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name, port in self.ports.items():
            self.env[f"{PREFIX[name]}_PORT"] = str(port)
        for name, url in urls.items():
            self.env[f"{PREFIX[name]}_DATABASE_URL"] = url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = tmp

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, **extra_env: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", MODULES[name]],
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait(lambda: self._healthy(name), f"{name} to start")

    def _healthy(self, name: str) -> bool:
        if self.processes[name].poll() is not None:
            pytest.fail(f"{name} exited: {(self.logs / f'{name}.log').read_text()[-2000:]}")
        try:
            return _call("GET", f"{self.url(name)}/healthz", timeout=1)[0] == 200
        except OSError:
            return False

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def token(self, *roles: str, **claims: Any) -> str:
        status, body = _call("POST", f"{self.url('identity')}/dev/token", {"roles": list(roles), **claims})
        assert status == 200, body
        return str(body["access_token"])


@pytest.fixture
def cluster(tmp_path: Path, backend: str, pg_databases: dict[str, str]) -> Iterator[Cluster]:
    services = ("roster", "requests", "matching")
    urls = (
        {s: f"sqlite:///{tmp_path}/{s}.db" for s in services}
        if backend == "sqlite"
        else {s: pg_databases[s] for s in services}
    )
    for service in services:
        if backend == "postgresql":
            asyncio.run(drop_everything(urls[service]))  # earlier tests leave (empty) tables
        config = Config(str(ROOT / "services" / service / "alembic.ini"))
        config.attributes["database_url"] = urls[service]
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")
    cluster = Cluster(tmp_path, urls)
    try:
        for name in ("identity", "roster", "requests"):
            cluster.start(name)
        yield cluster
    finally:
        cluster.stop()
        if backend == "postgresql":
            for service in services:
                asyncio.run(drop_everything(urls[service]))


def _prepare(cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An active expert and a request in review; returns them and a PD token."""
    pd = cluster.token("programme_division", sub="pd-e2e")
    office = cluster.token("country_office", sub="co-e2e", offices=["KEN"])
    status, expert = _call(
        "POST",
        f"{cluster.url('roster')}/v1/experts",
        {
            "full_name": "Real Process",
            "email": "real.process@example.org",
            "status": "active",
            "vetting": {
                "references_checked_on": (date.today() - timedelta(days=30)).isoformat(),
                "safeguarding_check_on": (date.today() - timedelta(days=30)).isoformat(),
            },
            "capabilities": [{"capability": 3, "level": 4}],
            "languages": [{"tag": "en", "level": "C2"}],
            "country_experience": ["KEN"],
        },
        pd,
    )
    assert status == 201, expert
    status, request = _call(
        "POST",
        f"{cluster.url('requests')}/v1/requests",
        {
            "country": "KEN",
            "title": "Review draft OCSEA legislation",
            "description": "Review the draft bill.",
            "modality": "remote",
            "capabilities": [{"capability": 3, "min_level": 3, "importance": "required"}],
            "start_date": "2027-06-01",
            "end_date": "2027-06-30",
            "effort_days": 5,
        },
        office,
    )
    assert status == 201, request
    for action, token in (("submit", office), ("start_review", pd)):
        status, request = _call(
            "POST",
            f"{cluster.url('requests')}/v1/requests/{request['id']}/transitions",
            {"action": action},
            token,
        )
        assert status == 200, request
    return expert, request, pd


def _shortlisted(cluster: Cluster, request_id: str, pd: str) -> bool:
    status, body = _call("GET", f"{cluster.url('matching')}/v1/requests/{request_id}/candidates", token=pd)
    return status == 200 and bool(body["items"])


def _holds(cluster: Cluster, expert_id: str, pd: str) -> list[dict[str, Any]]:
    status, body = _call(
        "GET",
        f"{cluster.url('roster')}/v1/experts/{expert_id}/calendar?from=2027-01-01&to=2027-12-31",
        token=pd,
    )
    assert status == 200, body
    return [b for b in body["bookings"] if b["status"] != "released"]


def test_whole_path_over_real_http(cluster: Cluster) -> None:
    cluster.start("matching")
    expert, request, pd = _prepare(cluster)
    _wait(lambda: _shortlisted(cluster, request["id"], pd), "the expert to reach the index")
    status, match = _call(
        "POST",
        f"{cluster.url('matching')}/v1/matches",
        {"request_id": request["id"], "expert_id": expert["id"]},
        pd,
    )
    assert (status, match["status"]) == (201, "offered"), match
    me = cluster.token("expert", sub="expert-e2e", expert_id=expert["id"])
    status, accepted = _call("POST", f"{cluster.url('matching')}/v1/matches/{match['id']}/accept", token=me)
    assert (status, accepted["status"]) == (200, "accepted"), accepted
    status, final = _call("GET", f"{cluster.url('requests')}/v1/requests/{request['id']}", token=pd)
    assert final["status"] == "fulfilled"
    assert [b["status"] for b in _holds(cluster, expert["id"], pd)] == ["confirmed"]


def test_matching_killed_between_hold_and_request_update_recovers(cluster: Cluster) -> None:
    cluster.start("matching", MATCHING_DEBUG_PAUSE_AFTER_HOLD_SECONDS="60")
    expert, request, pd = _prepare(cluster)
    _wait(lambda: _shortlisted(cluster, request["id"], pd), "the expert to reach the index")
    outcome: dict[str, Any] = {}

    def approve() -> None:
        try:
            outcome["answer"] = _call(
                "POST",
                f"{cluster.url('matching')}/v1/matches",
                {"request_id": request["id"], "expert_id": expert["id"]},
                pd,
                timeout=90,
            )
        except OSError as exc:  # the connection dies with the process
            outcome["error"] = exc

    caller = threading.Thread(target=approve, daemon=True)
    caller.start()
    _wait(lambda: len(_holds(cluster, expert["id"], pd)) == 1, "the hold to be placed")
    cluster.kill("matching")  # SIGKILL: no chance to clean up
    caller.join(timeout=10)
    assert "answer" not in outcome
    _, half = _call("GET", f"{cluster.url('requests')}/v1/requests/{request['id']}", token=pd)
    assert half["status"] == "in_review"  # the hold exists, the request has not moved

    cluster.start("matching")  # no pause: the worker runs at start-up
    _wait(
        lambda: (
            _call("GET", f"{cluster.url('requests')}/v1/requests/{request['id']}", token=pd)[1]["status"]
            == "matched"
        ),
        "the worker to complete the saga",
    )
    _status, matches = _call(
        "GET", f"{cluster.url('matching')}/v1/matches?request_id={request['id']}", token=pd
    )
    assert [m["status"] for m in matches["items"]] == ["offered"]
    [hold] = _holds(cluster, expert["id"], pd)
    assert hold["match_id"] == matches["items"][0]["id"]
