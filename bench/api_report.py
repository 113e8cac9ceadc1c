"""Figures of the API benchmark: cold starts and imports, the matching log's timings, the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.loadgen import Result

# Log messages of a matching process: its app has started (imports, database and policy done,
# the feed follower just started), its index is loaded.
START_LOG = "Application startup complete."
READY_LOG = "expert index loaded"


@dataclasses.dataclass
class ColdStart:
    seconds: float  # process start to /readyz 200
    load_seconds: float  # START_LOG to READY_LOG in the process's log (NaN if absent)
    experts: int
    index_seq: int


def load_seconds(log: Path) -> float:
    """Seconds between START_LOG and READY_LOG in a JSON-lines log (NaN when either is missing)."""
    times: dict[str, datetime] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
            if record.get("message") in {START_LOG, READY_LOG}:
                times.setdefault(record["message"], datetime.fromisoformat(record["time"]))
        except (ValueError, KeyError, TypeError):
            continue
    if START_LOG not in times or READY_LOG not in times:
        return math.nan
    return (times[READY_LOG] - times[START_LOG]).total_seconds()


@dataclasses.dataclass
class Imported:
    created: int
    rejected: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.created / self.seconds if self.seconds > 0 else math.nan


def median(values: list[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {system}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def fmt(value: float, digits: int = 1) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def report(args: argparse.Namespace, *, loadgen: str, body_bytes: int, figures: dict[str, Any]) -> list[str]:
    """The results as lines for stdout, ending with the machine-readable line."""
    lines = [
        f"api benchmark: {args.database}, load {loadgen}, "
        + (f"servers on core {args.server_cpu}, load on core {args.load_cpu}" if args.pin else "unpinned"),
        f"machine: {machine()}; load average {figures['load_before']} before, {loadavg()} after",
    ]
    ratio = math.nan
    for connections, key in ((args.connections, "get"), (1, "get1")):
        rounds: dict[str, list[Result]] = figures[key]
        lines.append(
            f"GET /v1/experts/{{id}} ({body_bytes} bytes), {connections} connection(s), "
            f"median of {args.rounds} x {figures[key + '_duration']:g}s:"
        )
        for name, results in rounds.items():
            errors = sum(r.error_count for r in results)
            lines.append(
                f"  {name:<9} {median([r.rps for r in results]):8.1f} rps  "
                f"p50 {median([r.p50_ms for r in results]):7.1f} ms  "
                f"p99 {median([r.p99_ms for r in results]):7.1f} ms  errors {errors}"
            )
        ratios = {
            other: [
                r.rps / s.rps if s.rps else math.nan
                for r, s in zip(rounds["roster"], rounds[other], strict=True)
            ]
            for other in ("starlette", "fastapi")
        }
        lines.append(
            f"  roster/starlette {fmt(median(ratios['starlette']), 3)} "
            f"(rounds: {' '.join(fmt(v, 3) for v in ratios['starlette'])}), "
            f"roster/fastapi {fmt(median(ratios['fastapi']), 3)}"
        )
        if key == "get":
            ratio = median(ratios["starlette"])
    candidates: Result = figures["candidates"]
    lines.append(
        f"candidates at {args.rate:g}/s for {args.candidates_duration:g}s: "
        f"achieved {candidates.rps:.1f} rps, "
        f"p50 {fmt(candidates.p50_ms)} ms, p99 {fmt(candidates.p99_ms)} ms, "
        f"errors {candidates.error_count} {candidates.errors or ''}".rstrip()
    )
    create: Result = figures["create"]
    lines.append(
        f"create expert, {args.create_connections} connections, {args.create_duration:g}s: "
        f"{create.rps:.1f} rps, "
        f"p50 {fmt(create.p50_ms)} ms, p99 {fmt(create.p99_ms)} ms, errors {create.error_count}"
    )
    imported: Imported = figures["import"]
    lines.append(
        f"import: {imported.created} experts created ({imported.rejected} rejected) "
        f"in {imported.seconds:.1f}s "
        f"= {fmt(imported.per_second, 0)} experts/s (files of {args.import_chunk} rows)"
    )
    cold_a: list[ColdStart] = figures["cold_a"]
    cold_b: list[ColdStart] = figures["cold_b"]
    seconds_a, seconds_b = median([c.seconds for c in cold_a]), median([c.seconds for c in cold_b])
    load_a, load_b = median([c.load_seconds for c in cold_a]), median([c.load_seconds for c in cold_b])
    experts_a, experts_b = median([c.experts for c in cold_a]), median([c.experts for c in cold_b])
    by_load = (experts_b - experts_a) / (load_b - load_a) if load_b > load_a else math.nan
    by_ready = (experts_b - experts_a) / (seconds_b - seconds_a) if seconds_b > seconds_a else math.nan
    logged = not math.isnan(load_a) and not math.isnan(load_b)
    rate = by_load if logged else by_ready
    projected = seconds_a + (100_000 - experts_a) / rate if rate > 0 else math.nan
    lines += [
        f"matching cold start, median of {args.cold_rounds} (ready: process start to /readyz 200; "
        f"index load: {START_LOG!r} to {READY_LOG!r} in its log):",
        f"  A {experts_a:6.0f} experts  ready {seconds_a:6.2f}s  index load {fmt(load_a, 2)}s",
        f"  B {experts_b:6.0f} experts  ready {seconds_b:6.2f}s  index load {fmt(load_b, 2)}s",
        f"  per expert (B - A): {fmt(by_load, 0)} experts/s on index load, {fmt(by_ready, 0)} on ready "
        f"times; 100k projected {fmt(projected)}s" + ("" if rate > 0 else " (B - A is within the noise)"),
    ]
    get_p99 = median([r.p99_ms for r in figures["get"]["roster"]])
    lines.append(
        f"api ratio_starlette={fmt(ratio, 3)} get_p99_ms={fmt(get_p99)} "
        f"candidates_p99_ms={fmt(candidates.p99_ms)} cold_start_experts_per_s={fmt(rate, 0)}"
    )
    return lines
