"""HTTP/1.1 load generator over keep-alive loopback connections: closed-loop and open-loop (fixed-rate)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

USAGE = """\
Used by `bench/api.py` when `wrk` is not installed, and runnable on its own:

    python -m bench.loadgen http://127.0.0.1:8001/v1/experts/<id> -c 16 -d 10 -H "Authorization: Bearer $T"
    python -m bench.loadgen http://127.0.0.1:8003/v1/requests/<id>/candidates --rate 100 -d 30 -H ...

Closed loop: N connections, each sends a request as soon as the previous answer has arrived,
for a duration; latency is measured from the send. Open loop: requests are due at a fixed rate
(request i at start + i/rate) whether or not earlier answers have come back, on as many
connections as are needed (up to a cap), and latency is measured from the time the request was
due, not from when it could be sent: a server that falls behind shows its queueing in the
percentiles instead of slowing the load down (no coordinated omission). Requests still
unanswered when the drain time ends count as errors ("incomplete") and enter the percentiles
with the time they had waited so far (a lower bound).

Responses are parsed just enough to find their end (Content-Length, or a chunked body's last
chunk); every status is counted and anything but 2xx is an error. The parser is raw asyncio
(no HTTP client library) so that the generator costs far less CPU than the servers it drives.
"""

# In a body template, this marker is replaced by a number unique within the process.
UNIQUE_MARK = b"@N@"
_SEQUENCE = itertools.count(1)


@dataclass(frozen=True)
class Target:
    """One kind of request: where it goes, its headers and (optionally) a body template."""

    host: str
    port: int
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body_template: bytes | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// URLs are supported, not {url!r}")
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        return cls(
            host=parts.hostname,
            port=parts.port or 80,
            path=path,
            method=method,
            headers=tuple((headers or {}).items()),
            body_template=body,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def renderer(self) -> Callable[[], bytes]:
        """A function returning the bytes of the next request (a constant when there is no body)."""
        head = f"{self.method} {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        template = self.body_template
        if template is None:
            fixed = (head + "\r\n").encode("latin-1")
            return lambda: fixed
        prefix = head.encode("latin-1")
        if UNIQUE_MARK not in template:
            fixed = prefix + f"Content-Length: {len(template)}\r\n\r\n".encode() + template
            return lambda: fixed

        def render() -> bytes:
            body = template.replace(UNIQUE_MARK, str(next(_SEQUENCE)).encode())
            return prefix + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

        return render


@dataclass
class Result:
    """What one run measured. `rps` counts every response (any status) per second of the run."""

    label: str
    mode: str  # "closed", "open" or "wrk"
    connections: int
    seconds: float
    responses: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    rate: float | None = None  # the open loop's target rate

    @property
    def rps(self) -> float:
        return self.responses / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "0"
        return (
            f"{self.rps:8.1f} rps  p50 {self.p50_ms:8.1f} ms  p90 {self.p90_ms:8.1f} ms  "
            f"p99 {self.p99_ms:8.1f} ms  max {self.max_ms:8.1f} ms  errors {errors}"
        )

    @classmethod
    def build(
        cls,
        *,
        label: str,
        mode: str,
        connections: int,
        seconds: float,
        responses: int,
        latencies_ms: list[float],
        errors: Counter[str],
        rate: float | None = None,
    ) -> Result:
        ordered = sorted(latencies_ms)
        return cls(
            label=label,
            mode=mode,
            connections=connections,
            seconds=seconds,
            responses=responses,
            p50_ms=percentile(ordered, 50),
            p90_ms=percentile(ordered, 90),
            p99_ms=percentile(ordered, 99),
            max_ms=ordered[-1] if ordered else math.nan,
            errors=dict(errors),
            rate=rate,
        )


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self._status = 0
        self._end = -1  # buffer offset where the current response ends, once known
        self._chunked = False
        self._body_at = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._end < 0 and not self._chunked:
            split = self.buffer.find(b"\r\n\r\n")
            if split < 0:
                return
            head = bytes(self.buffer[:split]).decode("latin-1")
            self._status = int(head[9:12])
            self._body_at = split + 4
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    self._chunked = True
            if not self._chunked:
                self._end = self._body_at + length
        if self._chunked:
            last = self.buffer.find(b"0\r\n\r\n", self._body_at)
            if last < 0 or (last > self._body_at and self.buffer[last - 2 : last] != b"\r\n"):
                return
            self._end = last + 5
        if len(self.buffer) < self._end:
            return
        del self.buffer[: self._end]
        self._end, self._chunked = -1, False
        waiter.set_result(self._status)

    async def send(self, data: bytes, limit: float) -> int:
        """Send one request and return the response's status (TimeoutError, ConnectionError)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self.waiter = waiter
        self.transport.write(data)
        expiry = loop.call_later(limit, _expire, waiter)
        try:
            return await waiter
        finally:
            expiry.cancel()
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _expire(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer in time"))


async def _connect(target: Target, limit: float) -> _Connection:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(limit):
        _, protocol = await loop.create_connection(_Connection, target.host, target.port)
    return protocol


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return "connection"


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """No garbage-collection pauses inside a measured run (the runs are short and bounded)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def closed_loop(
    target: Target, *, connections: int, duration: float, request_timeout: float = 30.0, label: str = ""
) -> Result:
    """`connections` connections, each sending its next request when the last one was answered."""
    render = target.renderer()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    start = time.perf_counter()
    deadline = start + duration
    answered_in_time = 0

    async def worker() -> None:
        nonlocal answered_in_time
        connection: _Connection | None = None
        while time.perf_counter() < deadline:
            if connection is None or connection.closed:
                try:
                    connection = await _connect(target, request_timeout)
                except (OSError, TimeoutError) as exc:
                    errors[_error_name(exc)] += 1
                    connection = None
                    await asyncio.sleep(0.01)
                    continue
            sent = time.perf_counter()
            try:
                status = await connection.send(render(), request_timeout)
            except (OSError, TimeoutError) as exc:
                errors[_error_name(exc)] += 1
                connection.close()
                connection = None
                continue
            done = time.perf_counter()
            latencies.append((done - sent) * 1000.0)
            if done <= deadline:
                answered_in_time += 1
            if not 200 <= status < 300:
                errors[f"status {status}"] += 1
        if connection is not None:
            connection.close()

    with _quiet_gc():
        await asyncio.gather(*(worker() for _ in range(connections)))
    return Result.build(
        label=label,
        mode="closed",
        connections=connections,
        seconds=duration,
        responses=answered_in_time,
        latencies_ms=latencies,
        errors=errors,
    )


async def open_loop(
    target: Target,
    *,
    rate: float,
    duration: float,
    request_timeout: float = 30.0,
    max_connections: int = 64,
    drain: float = 10.0,
    label: str = "",
) -> Result:
    """Requests due at `rate` per second for `duration`; latency counted from when each was due."""
    render = target.renderer()
    total = max(1, int(rate * duration))
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    idle: list[_Connection] = []
    slots = asyncio.Semaphore(max_connections)
    last_answer = 0.0
    answered = 0

    async def one(due: float) -> None:
        nonlocal last_answer, answered
        async with slots:
            connection = idle.pop() if idle else None
            try:
                if connection is None or connection.closed:
                    connection = await _connect(target, request_timeout)
                status = await connection.send(render(), request_timeout)
            except (OSError, TimeoutError) as exc:
                errors[_error_name(exc)] += 1
                if connection is not None:
                    connection.close()
                return
            except asyncio.CancelledError:  # still unanswered when the drain time ran out
                if connection is not None:
                    connection.close()
                raise
            done = time.perf_counter()
            latencies.append((done - due) * 1000.0)
            last_answer, answered = done, answered + 1
            idle.append(connection)
            if not 200 <= status < 300:
                errors[f"status {status}"] += 1

    with _quiet_gc():
        start = time.perf_counter() + 0.01
        tasks: dict[asyncio.Task[None], float] = {}
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks[asyncio.create_task(one(due))] = due
        _, pending = await asyncio.wait(tasks, timeout=drain)
        now = time.perf_counter()
        for task in pending:
            task.cancel()
            errors["incomplete"] += 1
            latencies.append((now - tasks[task]) * 1000.0)
        await asyncio.gather(*pending, return_exceptions=True)
        for connection in idle:
            connection.close()
    seconds = max(duration, last_answer - start) if answered else duration
    return Result.build(
        label=label,
        mode="open",
        connections=max_connections,
        seconds=seconds,
        responses=answered,
        latencies_ms=latencies,
        errors=errors,
        rate=rate,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="http://host:port/path (plain HTTP only)")
    parser.add_argument("-c", "--connections", type=int, default=16, help="closed loop (default 16)")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--rate", type=float, help="open loop at this many requests per second instead")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value' (repeatable)")
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("--body", help=f"request body; {UNIQUE_MARK.decode()} becomes a unique number")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds (default 30)")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--connections, --duration and --rate must be positive")
    headers = dict(h.split(":", 1) for h in args.header)
    target = Target.from_url(
        args.url,
        method=args.method,
        headers={k.strip(): v.strip() for k, v in headers.items()},
        body=args.body.encode() if args.body is not None else None,
    )
    if args.rate is not None:
        result = asyncio.run(
            open_loop(target, rate=args.rate, duration=args.duration, request_timeout=args.timeout)
        )
    else:
        result = asyncio.run(
            closed_loop(
                target, connections=args.connections, duration=args.duration, request_timeout=args.timeout
            )
        )
    print(result.summary())
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
