"""Closed-loop runs with `wrk` (when installed), reported as `bench.loadgen.Result`s."""

# A generated Lua script prints wrk's own figures in one machine-readable line when the run is
# done (duration, responses, latency percentiles, errors by kind), so nothing depends on wrk's
# human-readable report. A body template's unique marker becomes `<nonce>-<thread>-<count>`,
# unique across threads and runs. wrk has no open-loop mode (that is wrk2's `-R`), so fixed-rate
# runs always use the Python generator.

from __future__ import annotations

import re
import secrets
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench.loadgen import UNIQUE_MARK, Result, Target

_RESULT = re.compile(r"^WRK-RESULT (.*)$", re.MULTILINE)

_SCRIPT = """\
wrk.method = "{method}"
local template = {template}
local nonce = "{nonce}"
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

if template ~= nil then
  request = function()
    counter = counter + 1
    local unique = nonce .. "-" .. tostring(tid) .. "-" .. tostring(counter)
    local body = string.gsub(template, "{mark}", unique)
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT duration_us=%d requests=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def script(target: Target) -> str:
    """The Lua script for one target (method, unique bodies, the result line)."""
    template = "nil"
    if target.body_template is not None:
        text = target.body_template.decode("utf-8")
        if "]==]" in text:
            raise ValueError("a body template must not contain ']==]'")
        template = f"[==[{text}]==]"
    return _SCRIPT.format(
        method=target.method, template=template, nonce=secrets.token_hex(4), mark=UNIQUE_MARK.decode()
    )


def parse(output: str, *, label: str, connections: int) -> Result:
    """The Result of a wrk run from its output (ValueError when the result line is missing)."""
    found = _RESULT.search(output)
    if found is None:
        raise ValueError(f"wrk printed no result line:\n{output[-2000:]}")
    values = {key: int(value) for key, value in (pair.split("=") for pair in found.group(1).split())}
    errors: Counter[str] = Counter()
    for kind in ("connect", "read", "write", "timeout"):
        if values[kind]:
            errors[kind] += values[kind]
    if values["status"]:
        errors["status non-2xx/3xx"] += values["status"]
    return Result(
        label=label,
        mode="wrk",
        connections=connections,
        seconds=values["duration_us"] / 1e6,
        responses=values["requests"],
        p50_ms=values["p50_us"] / 1000.0,
        p90_ms=values["p90_us"] / 1000.0,
        p99_ms=values["p99_us"] / 1000.0,
        max_ms=values["max_us"] / 1000.0,
        errors=dict(errors),
    )


def closed_loop(
    wrk: str,
    target: Target,
    *,
    connections: int,
    duration: float,
    request_timeout: float = 30.0,
    threads: int = 1,
    label: str = "",
) -> Result:
    """Run wrk against `target` with `connections` connections for `duration` seconds."""
    seconds = max(1, round(duration))
    with tempfile.TemporaryDirectory(prefix="mnr-bench-wrk-") as folder:
        lua = Path(folder) / "bench.lua"
        lua.write_text(script(target), encoding="utf-8")
        argv = [
            wrk,
            f"-t{max(1, min(threads, connections))}",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={max(1, round(request_timeout))}s",
            "-s",
            str(lua),
        ]
        for name, value in target.headers:
            argv += ["-H", f"{name}: {value}"]
        argv.append(target.url)
        finished = subprocess.run(  # noqa: S603 - our own argv, loopback URL
            argv, capture_output=True, text=True, timeout=seconds + request_timeout + 30, check=False
        )
    if finished.returncode != 0:
        raise RuntimeError(f"wrk exited with {finished.returncode}: {finished.stderr[-2000:]}")
    return parse(finished.stdout, label=label, connections=connections)
