"""Processes and databases of the API benchmark: the stack on free ports, cleanup, throwaway databases."""

# Every process is started in a session of its own (a Ctrl-C at the terminal reaches only the
# benchmark, which then stops them in order) with a parent-death signal, and the benchmark makes
# itself the subreaper of everything below it, so `Processes.stop_all` finds the services that
# `deploy/run_local.py` started even if run_local is gone. Processes are stopped by their ids
# only: SIGTERM first, SIGKILL for what is still there after a grace period.

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("identity", "roster", "requests", "matching")
_PREFIX = {"identity": "AUTH", "roster": "ROSTER", "requests": "REQUESTS", "matching": "MATCHING"}
# What run_local prints once the demo data is in (the banner), or when there was nothing to load.
READY_MARKERS = ("Press Ctrl-C to stop every service.", "MNR Expert Roster is running")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Orphaned descendants (a service whose run_local died) are re-parented to this process."""
    return sys.platform.startswith("linux") and _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held together while chosen, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """`argv` run on one core with taskset (unchanged when `cpu` is None)."""
    if cpu is None:
        return argv
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("pinning needs taskset")
    return [taskset, "-c", str(cpu), *argv]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as file:
                found += [int(child) for child in file.read().split()]
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), parents before children."""
    order: list[int] = []
    pending = _children(pid)
    while pending and len(order) < 10_000:
        child = pending.pop(0)
        if child not in order:
            order.append(child)
            pending += _children(child)
    return order


def _alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel whether it still exists
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as file:
        return file.read().rsplit(")", 1)[-1].split()[0] != "Z"
    return True


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    return left


class Processes:
    """The processes this benchmark started, each with a log file, and their orderly end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # no threads in this process
            )
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM to the process and its descendants, SIGKILL after `grace` seconds."""
        pids = [process.pid, *descendants(process.pid)]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in _wait_gone(pids[1:], 2.0):
            _signal(pid, signal.SIGKILL)

    def stop_all(self, grace: float = 3.0) -> list[str]:
        """End every process below this one; returns notes on what needed force.

        SIGTERM to the processes started here (run_local stops its services), then after `grace`
        seconds SIGTERM to every process still below this one (say a demo-data loader that
        run_local waits for), then SIGKILL after 5 seconds more."""
        notes: list[str] = []
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        try:
            below = descendants(os.getpid())
            for _, process in reversed(self.started):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            left = _wait_gone([p.pid for _, p in self.started], grace)
            left = sorted(set(left) | set(descendants(os.getpid())) | {p for p in below if _alive(p)})
            for pid in left:
                _signal(pid, signal.SIGTERM)
            for pid in _wait_gone(left, 5.0):
                notes.append(f"process {pid} ignored SIGTERM: killed")
                _signal(pid, signal.SIGKILL)
            _wait_gone(left, 2.0)
            for _, process in self.started:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=1)
        finally:
            signal.signal(signal.SIGINT, previous)
        return notes


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


# --- databases --------------------------------------------------------------------------------


def database_urls(backend: str, var: Path, pg_url: str, tag: str) -> dict[str, str]:
    """A URL per service database."""
    names = ("roster", "requests", "matching")
    if backend == "sqlite":
        return {name: f"sqlite:///{var / name}.db" for name in names}
    base = pg_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    return {name: f"{base}/mnr_bench_{tag}_{name}" for name in names}


async def _pg_admin(pg_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        await connection.execute(statement, timeout=120)
    finally:
        await connection.close()


def _names(urls: dict[str, str]) -> list[str]:
    return [url.rsplit("/", 1)[1] for url in urls.values()]


async def _create(pg_url: str, urls: dict[str, str]) -> None:
    for name in _names(urls):
        await _pg_admin(pg_url, f'CREATE DATABASE "{name}"')


async def _drop(pg_url: str, urls: dict[str, str]) -> None:
    """Side by side: each DROP DATABASE takes seconds on a busy server (it waits for a checkpoint)."""
    statements = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in _names(urls)]
    await asyncio.gather(*(_pg_admin(pg_url, statement) for statement in statements))


def create_pg_databases(pg_url: str, urls: dict[str, str]) -> None:
    asyncio.run(_create(pg_url, urls))


def drop_pg_databases(pg_url: str, urls: dict[str, str]) -> None:
    asyncio.run(_drop(pg_url, urls))


# --- the stack --------------------------------------------------------------------------------


def stack_env(var: Path, ports: dict[str, int], urls: dict[str, str]) -> dict[str, str]:
    """The caller's environment with everything that places the stack overridden (ports, databases,
    issuer, signing key, upstream URLs); settings such as log levels pass through."""
    env = dict(os.environ)
    for derived in ("AUTH_JWKS_URL", "MATCHING_TOKEN_URL"):
        env.pop(derived, None)
    for service in SERVICES:
        env[f"{_PREFIX[service]}_HOST"] = "127.0.0.1"
        env[f"{_PREFIX[service]}_PORT"] = str(ports[service])
        if service != "identity":
            env[f"{_PREFIX[service]}_DATABASE_URL"] = urls[service]
    env["AUTH_ISSUER"] = f"http://127.0.0.1:{ports['identity']}"
    env["AUTH_DEV_MODE"] = "1"
    env["AUTH_SIGNING_KEY_FILE"] = str(var / "dev-issuer-key.pem")
    env["MATCHING_ROSTER_URL"] = f"http://127.0.0.1:{ports['roster']}"
    env["MATCHING_REQUESTS_URL"] = f"http://127.0.0.1:{ports['requests']}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _lines(path: Path) -> Iterator[str]:
    """Yields each new complete line of a growing file, and "" whenever there is none yet."""
    offset, partial = 0, ""
    while True:
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                file.seek(offset)
                chunk = file.read()
                offset = file.tell()
        except OSError:
            chunk = ""
        partial += chunk
        *complete, partial = partial.split("\n")
        yield from complete
        yield ""


def wait_for_stack(
    process: subprocess.Popen[bytes], log: Path, *, timeout: float, progress: Callable[[str], None]
) -> None:
    """Until run_local says the demo data is loaded; its own progress lines are passed on."""
    deadline = time.monotonic() + timeout
    for line in _lines(log):
        if any(marker in line for marker in READY_MARKERS):
            return
        if line.startswith(("[run]", "[demo-data]", "seed:")):
            progress(f"stack: {line}")
        if not line:
            if process.poll() is not None:
                raise RuntimeError(f"run_local exited with {process.returncode}:\n{tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack was not up within {timeout:.0f}s:\n{tail(log)}")
            time.sleep(0.1)
    raise AssertionError("unreachable")


def wait_http(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    timeout: float,
    interval: float = 0.05,
    marker: tuple[Path, str] | None = None,
) -> float:
    """Poll `url` until it answers 200; returns the monotonic time it did.

    With `marker` (a log file and a text), the URL is polled every `interval` only once the
    text has appeared in the log (checked every 10 ms) and every 0.25 s before, so the polling
    itself costs the server little while it starts.
    """
    deadline = time.monotonic() + timeout
    seen = marker is None
    lines = _lines(marker[0]) if marker is not None else None
    next_poll = time.monotonic()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        if lines is not None and not seen:
            assert marker is not None
            while line := next(lines):
                if marker[1] in line:
                    seen = True
                    next_poll = time.monotonic()
                    break
        if time.monotonic() >= next_poll:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return time.monotonic()
            except (urllib.error.URLError, OSError):
                pass
            next_poll = time.monotonic() + (interval if seen else 0.25)
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def run_tag() -> str:
    return uuid.uuid4().hex[:8]
