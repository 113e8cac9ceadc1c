"""API benchmark (`make bench-api`): roster vs bare apps, candidates, creates, import, cold start."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a file (python bench/api.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench import api_report, loadgen, stack, wrk
from bench.loadgen import UNIQUE_MARK, Result, Target

HELP = """\
Starts its own stack with `deploy/run_local.py` (dev issuer, roster, requests, matching, the
demo data) on free loopback ports, in a temporary folder (SQLite) or in throwaway PostgreSQL
databases, plus a bare Starlette and a bare FastAPI app; measures; stops everything it started
(also on Ctrl-C or an error) and deletes what it created. A benchmark, not a test: it prints
figures and exits 0 whatever they are (non-zero only if it could not measure).

Placement: with taskset and at least two cores, every server process runs on core
--server-cpu (0) and the load generator on --load-cpu (1). Load comes from `wrk` when it is
installed (closed loop), else from the Python generator in bench/loadgen.py (raw asyncio,
keep-alive); fixed-rate runs always use the Python generator, which measures latency from each
request's due time (no coordinated omission).

What it measures, in this order:
 1. GET /v1/experts/{id} of a demo expert with a Programme Division token, at --connections
    (16) and then at 1 connection: roster, a bare Starlette app serving the same bytes, and a
    bare FastAPI app returning the same JSON through roster's ExpertRead response model (both
    under roster's uvicorn settings, see bench/bare_apps.py). Interleaved: --rounds rounds of
    all three (order rotated each round), each run --duration seconds after one --warmup per
    app; reports medians of rps, p50, p99 and the median per-round ratio roster/Starlette.
 2. GET /v1/requests/{id}/candidates of a demo request in review, open loop at --rate (100)
    per second for --candidates-duration seconds: achieved rps, p50/p99, errors.
 3. POST /v1/experts (a synthetic expert, a unique email each) at --create-connections (8) for
    --create-duration seconds: rps, p50/p99, errors.
 4. Matching cold start: a fresh matching process (own database, core --server-cpu) is timed
    from its start until /readyz answers 200 (expert index loaded from the roster feed),
    --cold-rounds times, on the demo roster (A). Then --cold-experts synthetic experts
    (mnr_devkit.synthetic) are imported through POST /v1/experts/import as CSV in files of
    --import-chunk rows, one after the other (import throughput: created experts per second),
    and once the stack's own matching has caught up, the cold start is timed again (B).
    Each cold start reports its time to ready and its index load, from the process's log:
    "Application startup complete." (imports, database and policy done; the feed follower
    has just started) to "expert index loaded". Experts per second = (experts B - experts A)
    / (index load B - index load A): the cost per expert, without the fixed costs of starting
    Python and the app; "100k projected" = ready A + (100,000 - experts A) / rate. Without
    those log lines the ready times are used instead (much noisier on a busy machine).
    The fresh process is a second matching replica: it shares the stack's matching database
    (a fresh database would make its start-up recovery "repair" the demo requests that the
    stack's matching has matched) and takes no part in the other measurements.

Stdout gets the results; stderr gets progress. The last line is
  api ratio_starlette=… get_p99_ms=… candidates_p99_ms=… cold_start_experts_per_s=…
(roster/Starlette rps ratio and roster p99 at --connections, candidates p99, cold start rate).
--quick is a smoke run of about a minute (1 round, short runs, 1,000 imported experts).
"""

# Defaults: (full run, --quick). An option given explicitly wins over both.
PROFILE: dict[str, tuple[float, float]] = {
    "rounds": (3, 1),
    "duration": (10, 3),
    "single_duration": (5, 2),
    "warmup": (2, 0.5),
    "candidates_duration": (30, 5),
    "create_duration": (10, 3),
    "cold_experts": (10_000, 1_000),
    "cold_rounds": (3, 1),
}


def _progress(message: str) -> None:
    print(f"[bench-api {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _create_body(projection: dict[str, Any], email: str) -> dict[str, Any]:
    """An `ExpertCreate` body from a synthetic feed projection (lists made unique, as the API requires)."""
    languages = {lang["tag"]: lang["level"] for lang in projection["languages"]}
    return {
        "full_name": projection["full_name"],
        "email": email,
        "nationalities": list(dict.fromkeys(projection["nationalities"])),
        "residence_country": projection["residence_country"],
        "modality": projection["modality"],
        "years_experience": projection["years_experience"],
        "capabilities": projection["capabilities"],
        "languages": [{"tag": tag, "level": level} for tag, level in languages.items()],
        "country_experience": projection["country_experience"],
    }


def _csv_files(projections: list[dict[str, Any]], tag: str, chunk: int) -> list[bytes]:
    """The projections as import CSV files of `chunk` rows (emails unique to this run)."""
    columns = ["full_name", "email", "nationalities", "residence_country", "modality", "status"]
    columns += ["years_experience", "capabilities", "languages", "country_experience"]
    # Active experts need recent reference and safeguarding checks; give every row both.
    columns += ["references_checked_on", "safeguarding_check_on"]
    checked = (date.today() - timedelta(days=30)).isoformat()
    files = []
    for first in range(0, len(projections), chunk):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for number, projection in enumerate(projections[first : first + chunk], start=first):
            body = _create_body(projection, f"bench-{tag}-import-{number}@example.org")
            writer.writerow(
                [
                    body["full_name"],
                    body["email"],
                    "; ".join(body["nationalities"]),
                    body["residence_country"],
                    body["modality"],
                    projection["status"],
                    body["years_experience"],
                    "; ".join(f"{c['capability']}:{c['level']}" for c in body["capabilities"]),
                    "; ".join(f"{lang['tag']}:{lang['level']}" for lang in body["languages"]),
                    "; ".join(body["country_experience"]),
                    checked,
                    checked,
                ]
            )
        files.append(out.getvalue().encode("utf-8"))
    return files


class Bench:
    """One benchmark run: its folder, processes, stack, tokens and the measurements."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.var = folder / "var"
        self.var.mkdir()
        self.tag = stack.run_tag()
        self.procs = stack.Processes(folder)
        self.http = httpx.Client(timeout=60)
        self.urls: dict[str, str] = {}
        self.pg_created = False
        self.cpu: int | None = args.server_cpu if args.pin else None
        self.wrk_path: str | None = None
        if args.loadgen in {"auto", "wrk"}:
            self.wrk_path = args.wrk or shutil.which("wrk")
            if args.loadgen == "wrk" and self.wrk_path is None:
                raise SystemExit("--loadgen wrk: wrk is not installed (or give --wrk PATH)")
        self.loadgen = f"wrk ({self.wrk_path})" if self.wrk_path else "python (bench/loadgen.py)"

    # --- setup and teardown ------------------------------------------------------------------

    def start(self) -> None:
        args = self.args
        names = ("identity", "roster", "requests", "matching", "starlette", "fastapi", "matching_cold")
        self.ports = dict(zip(names, stack.free_ports(len(names)), strict=True))
        self.urls = stack.database_urls(args.database, self.var, args.pg_url, self.tag)
        if args.database == "postgresql":
            _progress(f"creating throwaway databases mnr_bench_{self.tag}_* on {args.pg_url}")
            self.pg_created = True  # dropped at the end even if only some were created
            stack.create_pg_databases(args.pg_url, self.urls)
        self.env = stack.stack_env(self.var, self.ports, self.urls)
        _progress(f"starting the stack (run_local.py, ports {self.ports}) with the demo data")
        argv = [sys.executable, str(stack.ROOT / "deploy" / "run_local.py"), "--var", str(self.var)]
        started = time.monotonic()
        self.stack_process = self.procs.start("stack", stack.pinned(argv, self.cpu), self.env)
        stack.wait_for_stack(
            self.stack_process, self.procs.log("stack"), timeout=args.startup_timeout, progress=_progress
        )
        _progress(f"stack up with the demo data in {time.monotonic() - started:.1f}s")
        self.base = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        token = self.http.post(
            f"{self.base['identity']}/dev/token",
            # A day (the dev issuer's maximum): the default hour could end inside a long run.
            json={
                "sub": "bench-pd",
                "roles": ["programme_division"],
                "name": "API benchmark",
                "expires_in": 86400,
            },
        )
        token.raise_for_status()
        self.auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        experts = self._get(f"{self.base['roster']}/v1/experts", params={"limit": 1}).json()["items"]
        self.expert_id = experts[0]["id"]
        self.expert_path = f"/v1/experts/{self.expert_id}"
        self.expert_body = self._get(f"{self.base['roster']}{self.expert_path}").content
        reviewed = self._get(
            f"{self.base['requests']}/v1/requests", params={"status": "in_review", "limit": 1}
        ).json()["items"]
        if not reviewed:
            raise RuntimeError("the demo data has no request in review")
        self.request_id = reviewed[0]["id"]
        _progress(f"expert {self.expert_id} ({len(self.expert_body)} bytes), request {self.request_id}")
        self._start_bare_apps()

    def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = self.http.get(url, headers=self.auth, **kwargs)
        response.raise_for_status()
        return response

    def _start_bare_apps(self) -> None:
        body_file = self.folder / "expert.json"
        body_file.write_bytes(self.expert_body)
        for kind in ("starlette", "fastapi"):
            argv = [sys.executable, "-m", "bench.bare_apps", kind, "--port", str(self.ports[kind])]
            process = self.procs.start(
                kind, stack.pinned([*argv, "--body-file", str(body_file)], self.cpu), self.env
            )
            stack.wait_http(f"{self.base[kind]}{self.expert_path}", process, timeout=60, interval=0.1)
            served = self.http.get(f"{self.base[kind]}{self.expert_path}").content
            if json.loads(served) != json.loads(self.expert_body):
                _progress(f"warning: the bare {kind} app's JSON differs from roster's")
            elif served != self.expert_body:
                _progress(f"note: the bare {kind} app serves the same JSON with other bytes")
        _progress("bare Starlette and FastAPI apps up")

    def close(self) -> None:
        self.http.close()
        for note in self.procs.stop_all():
            _progress(note)
        _progress("every process stopped")
        if self.pg_created:
            try:
                stack.drop_pg_databases(self.args.pg_url, self.urls)
                _progress(f"dropped the databases mnr_bench_{self.tag}_*")
            except Exception as exc:  # the run's result matters more; say what is left behind
                _progress(f"could not drop mnr_bench_{self.tag}_*: {exc}")

    # --- load ----------------------------------------------------------------------------------

    def target(self, base: str, path: str, **kwargs: Any) -> Target:
        return Target.from_url(
            f"{self.base[base]}{path}", headers={**self.auth, **kwargs.pop("headers", {})}, **kwargs
        )

    def closed(self, label: str, target: Target, connections: int, duration: float) -> Result:
        if self.wrk_path:
            return wrk.closed_loop(
                self.wrk_path,
                target,
                connections=connections,
                duration=duration,
                request_timeout=self.args.timeout,
                label=label,
            )
        return asyncio.run(
            loadgen.closed_loop(
                target,
                connections=connections,
                duration=duration,
                request_timeout=self.args.timeout,
                label=label,
            )
        )

    def get_rounds(self, connections: int, duration: float) -> dict[str, list[Result]]:
        """Interleaved rounds of roster, Starlette and FastAPI, the order rotated every round."""
        order = ["roster", "starlette", "fastapi"]
        targets = {name: self.target(name, self.expert_path) for name in order}
        for name in order:
            self.closed(f"{name} warm-up", targets[name], connections, self.args.warmup)
        results: dict[str, list[Result]] = {name: [] for name in order}
        for number in range(self.args.rounds):
            for name in order[number % 3 :] + order[: number % 3]:
                result = self.closed(name, targets[name], connections, duration)
                results[name].append(result)
                _progress(f"GET expert c={connections} round {number + 1} {name:<9} {result.summary()}")
        return results

    def candidates(self) -> Result:
        target = self.target("matching", f"/v1/requests/{self.request_id}/candidates")
        asyncio.run(loadgen.closed_loop(target, connections=1, duration=self.args.warmup, label="warm-up"))
        result = asyncio.run(
            loadgen.open_loop(
                target,
                rate=self.args.rate,
                duration=self.args.candidates_duration,
                request_timeout=self.args.timeout,
                drain=self.args.drain,
                label="candidates",
            )
        )
        _progress(f"candidates at {self.args.rate:g}/s: {result.summary()}")
        return result

    def creates(self) -> Result:
        from mnr_devkit import synthetic

        projection = synthetic.expert_projections(1, seed=3)[0]
        body = _create_body(projection, f"bench-{self.tag}-create-{UNIQUE_MARK.decode()}@example.org")
        target = self.target(
            "roster",
            "/v1/experts",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        result = self.closed("create", target, self.args.create_connections, self.args.create_duration)
        _progress(f"create expert c={self.args.create_connections}: {result.summary()}")
        return result

    def import_experts(self, count: int) -> api_report.Imported:
        from mnr_devkit import synthetic

        files = _csv_files(synthetic.expert_projections(count, seed=11), self.tag, self.args.import_chunk)
        created = rejected = 0
        started = time.perf_counter()
        for number, content in enumerate(files, start=1):
            response = self.http.post(
                f"{self.base['roster']}/v1/experts/import",
                content=content,
                headers={**self.auth, "Content-Type": "text/csv"},
                timeout=max(60.0, self.args.timeout * 10),
            )
            response.raise_for_status()
            report = response.json()
            summary = report["summary"]
            if summary["rejected"]:
                first = next(row for row in report["rows"] if row["outcome"] == "rejected")
                _progress(f"import file {number}: rejected rows, e.g. row {first['row']}: {first['errors']}")
            created += summary["created"]
            rejected += summary["rejected"]
            _progress(f"import file {number}/{len(files)}: {summary}")
        return api_report.Imported(created=created, rejected=rejected, seconds=time.perf_counter() - started)

    def ranking_total(self, base: str) -> tuple[int, int]:
        """(experts in the index, index seq) as a matching process reports them."""
        body = self._get(
            f"{self.base[base]}/v1/requests/{self.request_id}/candidates", params={"limit": 1}
        ).json()
        return int(body["total"]), int(body["index_seq"])

    def wait_index(self, expected: int) -> None:
        """Until the stack's own matching holds `expected` experts (its feed work would disturb B)."""
        deadline = time.monotonic() + self.args.startup_timeout
        while time.monotonic() < deadline:
            total, _ = self.ranking_total("matching")
            if total >= expected:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the stack's matching did not reach {expected} experts in time")

    def cold_start(self, label: str) -> api_report.ColdStart:
        name = f"matching-cold-{label}"
        env = {**self.env, "MATCHING_PORT": str(self.ports["matching_cold"])}
        argv = stack.pinned([sys.executable, "-m", "matching_service"], self.cpu)
        started = time.monotonic()
        process = self.procs.start(name, argv, env)
        try:
            ready = stack.wait_http(
                f"{self.base['matching_cold']}/readyz",
                process,
                timeout=self.args.cold_timeout,
                marker=(self.procs.log(name), api_report.READY_LOG),
            )
            experts, seq = self.ranking_total("matching_cold")
        finally:
            self.procs.stop(process)
        load = api_report.load_seconds(self.procs.log(name))
        result = api_report.ColdStart(
            seconds=ready - started, load_seconds=load, experts=experts, index_seq=seq
        )
        _progress(
            f"cold start {label}: {experts} experts, ready in {result.seconds:.2f}s, index load {load:.2f}s"
        )
        return result


def measure(bench: Bench) -> dict[str, Any]:
    args = bench.args
    figures: dict[str, Any] = {"load_before": api_report.loadavg()}
    bench.start()
    figures["get_duration"], figures["get1_duration"] = args.duration, args.single_duration
    figures["get"] = bench.get_rounds(args.connections, args.duration)
    figures["get1"] = bench.get_rounds(1, args.single_duration)
    figures["candidates"] = bench.candidates()
    figures["create"] = bench.creates()
    figures["cold_a"] = [bench.cold_start(f"a{n + 1}") for n in range(args.cold_rounds)]
    before = figures["cold_a"][-1].experts
    _progress(f"importing {args.cold_experts} synthetic experts")
    figures["import"] = bench.import_experts(args.cold_experts)
    _progress(f"import: {figures['import'].per_second:.0f} experts/s; waiting for the stack's matching")
    bench.wait_index(before + figures["import"].created)
    figures["cold_b"] = [bench.cold_start(f"b{n + 1}") for n in range(args.cold_rounds)]
    return figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/api.py",
        description=(__doc__ or "").strip(),
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--quick",
        action="store_true",
        help="smoke run of about a minute (1 round, short runs, 1,000 experts)",
    )
    add("--database", choices=["sqlite", "postgresql"], default="sqlite", help="default sqlite")
    add(
        "--pg-url",
        default=os.environ.get("MNR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL superuser URL where throwaway databases are created (default $MNR_TEST_PG_URL "
        "or postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    add("--rounds", type=int, help="interleaved rounds of the GET comparison (3; quick 1)")
    add("--duration", type=float, help="seconds per GET run at --connections (10; quick 3)")
    add("--single-duration", type=float, help="seconds per GET run at 1 connection (5; quick 2)")
    add("--warmup", type=float, help="seconds of warm-up per app and connection count (2; quick 0.5)")
    add("--connections", type=int, default=16, help="GET comparison connections (16)")
    add("--rate", type=float, default=100.0, help="candidates requests per second (100)")
    add("--candidates-duration", type=float, help="seconds of fixed-rate candidates (30; quick 5)")
    add("--drain", type=float, default=10.0, help="seconds to wait for late candidates answers (10)")
    add("--create-connections", type=int, default=8, help="create-expert connections (8)")
    add("--create-duration", type=float, help="seconds of creates (10; quick 3)")
    add("--cold-experts", type=int, help="synthetic experts imported before cold start B (10000; quick 1000)")
    add("--cold-rounds", type=int, help="cold starts before and after the import (3; quick 1)")
    add(
        "--import-chunk", type=int, default=1000, help="rows per import file (1000; the API takes up to 5000)"
    )
    add("--loadgen", choices=["auto", "wrk", "python"], default="auto", help="auto: wrk when installed")
    add("--wrk", help="path of the wrk binary (default: wrk on PATH)")
    add("--server-cpu", type=int, default=0, help="core of every server process (0)")
    add("--load-cpu", type=int, default=1, help="core of the load generator (1)")
    add("--no-pin", dest="pin", action="store_false", help="do not pin processes to cores")
    add("--timeout", type=float, default=30.0, help="seconds before a request counts as an error (30)")
    add("--startup-timeout", type=float, default=300.0, help="seconds for the stack to come up (300)")
    add("--cold-timeout", type=float, default=300.0, help="seconds for a cold start (300)")
    add("--json", type=Path, help="also write every figure to this JSON file")
    add("--keep", action="store_true", help="keep the temporary folder (logs, SQLite files) and say where")
    args = parser.parse_args(argv)
    for name, (full, quick) in PROFILE.items():
        if getattr(args, name) is None:
            setattr(args, name, type(full)(quick if args.quick else full))
    positive = ["rounds", "duration", "single_duration", "connections", "rate", "candidates_duration"]
    positive += ["create_connections", "create_duration", "cold_experts", "cold_rounds", "import_chunk"]
    for name in positive:
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup < 0 or args.import_chunk > 5000:
        parser.error("--warmup must be >= 0 and --import-chunk at most 5000")
    if args.pin and ((os.cpu_count() or 1) < 2 or shutil.which("taskset") is None):
        _progress("fewer than 2 cores or no taskset: processes are not pinned")
        args.pin = False
    return args


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if not stack.become_subreaper():
        _progress("note: could not become a subreaper; cleanup relies on run_local stopping its services")
    if args.pin:
        os.sched_setaffinity(0, {args.load_cpu})
    folder = Path(tempfile.mkdtemp(prefix="mnr-bench-api-"))
    bench: Bench | None = None
    started = time.monotonic()
    try:
        bench = Bench(args, folder)
        _progress(f"{args.database}, load from {bench.loadgen}, working folder {folder}")
        figures = measure(bench)
        lines = api_report.report(
            args, loadgen=bench.loadgen, body_bytes=len(bench.expert_body), figures=figures
        )
        if args.json:
            args.json.write_text(
                json.dumps(figures, default=lambda o: dataclasses.asdict(o), indent=2), encoding="utf-8"
            )
    except KeyboardInterrupt:
        _progress("interrupted: stopping everything")
        return 130
    except (RuntimeError, OSError, httpx.HTTPError, ValueError) as exc:
        _progress(f"failed: {exc}")
        if bench is not None and bench.procs.log("stack").exists():
            _progress(f"stack log (last lines):\n{stack.tail(bench.procs.log('stack'))}")
        return 1
    finally:
        if bench is not None:
            _progress("stopping every process this run started")
            bench.close()
        if args.keep:
            _progress(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    _progress(f"done in {time.monotonic() - started:.0f}s")
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
