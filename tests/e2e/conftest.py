"""The local system as `make run` starts it, on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from mnr_shared.testing import drop_everything

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = {
    "identity": "AUTH",
    "roster": "ROSTER",
    "requests": "REQUESTS",
    "matching": "MATCHING",
    "portal": "PORTAL",
    "notifier": "NOTIFIER",
}
# The dev mail inbox: two ports of its own, so a test run never meets an open `make run`.
MAILBOX_PORTS = ("MAILBOX_SMTP_PORT", "MAILBOX_HTTP_PORT")
DATABASES = ("roster", "requests", "matching", "portal", "notifier")


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


@dataclass
class LocalRun:
    ports: dict[str, int]
    process: subprocess.Popen[str]
    var: Path

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


@contextmanager
def local_run(
    var: Path, backend: str, pg_databases: dict[str, str], timeout: float = 120
) -> Iterator[LocalRun]:
    """`deploy/run_local.py` with demo data, every service on a free port; killed at the end."""
    *service_ports, smtp, inbox = free_ports(len(PREFIXES) + len(MAILBOX_PORTS))
    ports = dict(zip(PREFIXES, service_ports, strict=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith((*PREFIXES.values(), "MAILBOX_"))}
    for name, port in ports.items():
        env[f"{PREFIXES[name]}_PORT"] = str(port)
    env.update(dict(zip(MAILBOX_PORTS, (str(smtp), str(inbox)), strict=True)))
    ports["mailbox"] = inbox
    if backend == "postgresql":
        for name in DATABASES:
            env[f"{PREFIXES[name]}_DATABASE_URL"] = pg_databases[name]
            asyncio.run(drop_everything(pg_databases[name]))  # migrations start from nothing
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "run_local.py"), "--var", str(var)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + timeout
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
    # Keep reading what the services log: a pipe nobody reads fills up, and then every process
    # writing to it blocks mid-request.
    tail: collections.deque[str] = collections.deque(output, maxlen=2000)
    stdout = process.stdout
    drain = threading.Thread(target=lambda: tail.extend(iter(stdout.readline, "")), daemon=True)
    drain.start()
    try:
        yield LocalRun(ports, process, var)
    finally:
        # As Ctrl-C would: run_local stops every service it started. Killing it outright
        # would leave them running.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if backend == "postgresql":
            for name in DATABASES:
                asyncio.run(drop_everything(pg_databases[name]))


@pytest.fixture
def local_system(tmp_path: Path, backend: str, pg_databases: dict[str, str]) -> Iterator[LocalRun]:
    """A fresh local system for one test (its own folder and databases)."""
    with local_run(tmp_path / "var", backend, pg_databases) as run:
        yield run


@pytest.fixture(scope="module")
def shared_system(
    tmp_path_factory: pytest.TempPathFactory, backend: str, pg_databases: dict[str, str]
) -> Iterator[LocalRun]:
    """One local system for every test of a module (the browser tests share one)."""
    with local_run(tmp_path_factory.mktemp("system") / "var", backend, pg_databases) as run:
        yield run
