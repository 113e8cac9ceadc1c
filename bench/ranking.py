"""Ranking benchmark: N synthetic experts ranked for random realistic requests, against a per-expert baseline.

Builds the expert index in memory from synthetic feed items, ranks `--requests` requests
(after a warm-up) and reports the median and p95 wall-clock milliseconds per ranking in one
thread (plus the thread's CPU time, which a busy machine inflates less). Then times the
plain-Python reference scorer (`mnr_devkit.reference_scorer.reference_rank`, same rules, one
expert at a time) on the first `--baseline-sample` experts, scales that to N, and reports the
ratio and the index's bytes per expert. Before timing anything it checks that both scorers give
the same ranking (ids, scores, breakdowns, exclusion counts) over the sample, and exits
non-zero if not.

The last line is machine-readable:
`ranking N=… median_ms=… p95_ms=… baseline_ratio=… bytes_per_expert=…`.
"""

from __future__ import annotations

import os

# One core: keep any BLAS or OpenMP pool numpy might start to a single thread. Must precede
# the numpy import (the ranking itself does not call BLAS).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from matching_service.index import ExpertIndex  # noqa: E402
from matching_service.ranking import DEFAULT_POLICY, RankRequest  # noqa: E402
from matching_service.scoring import rank  # noqa: E402
from mnr_devkit import synthetic  # noqa: E402
from mnr_devkit.reference_scorer import ReferenceExpert, reference_rank  # noqa: E402

AGREEMENT_REQUESTS = 20  # requests on which the two scorers must give the same ranking
WARM_UP = 10


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--experts", type=int, default=100_000, help="experts in the index (default 100000)")
    parser.add_argument("--requests", type=int, default=200, help="requests ranked and timed (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default 1)")
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=2000,
        help="experts the pure-Python baseline scores; its time is scaled to N (default 2000)",
    )
    parser.add_argument(
        "--limit", type=int, default=50, help="items per ranking (default 50, the API default)"
    )
    args = parser.parse_args(argv)
    if args.experts < 1 or args.requests < 1 or args.baseline_sample < 1 or args.limit < 1:
        parser.error("--experts, --requests, --baseline-sample and --limit must be positive")
    return args


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    n, sample_size = args.experts, min(args.baseline_sample, args.experts)
    as_of = synthetic.SYNTHETIC_TODAY

    started = time.perf_counter()
    bodies = synthetic.request_bodies(args.requests, seed=args.seed + 1)
    # Some experts already hold the first requests' windows, so those rankings meet their own holds.
    held = bodies[: max(1, args.requests // 10)]
    projections = synthetic.expert_projections(n, seed=args.seed, holds=held)
    items = synthetic.feed_items(projections)
    requests = [RankRequest.from_mapping(body) for body in bodies]
    print(f"synthetic data: {n} experts, {len(requests)} requests in {_ms(started) / 1000:.1f} s")

    # The benchmark's own scaffolding (N projection dicts, millions of objects) would otherwise
    # be walked by every full collection that the build's and the baseline's allocations
    # trigger: a third of the build time, and a baseline swinging by half from run to run. The
    # service never holds them all at once (it applies the feed page by page), and the index
    # itself keeps almost no Python objects.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    index = ExpertIndex.from_items(items)
    print(f"index build: {_ms(started) / 1000:.2f} s for {len(index)} experts")
    bytes_per_expert = index.nbytes / len(index)
    print(f"index size: {index.nbytes / 1e6:.1f} MB, {bytes_per_expert:.0f} bytes per expert")

    sample = projections[:sample_size]
    references = [ReferenceExpert.from_projection(p) for p in sample]
    sample_index = ExpertIndex.from_items(synthetic.feed_items(sample))
    for request in requests[:AGREEMENT_REQUESTS]:
        fast = rank(sample_index, request, DEFAULT_POLICY, 10, as_of=as_of).to_dict()
        slow = reference_rank(references, request, DEFAULT_POLICY, 10, as_of=as_of).to_dict()
        if fast != slow:
            print(f"DISAGREEMENT on request {request.id}:\n fast {fast}\n baseline {slow}", file=sys.stderr)
            return 1
    print(
        f"agreement: fast and baseline rankings identical on {AGREEMENT_REQUESTS} requests over {sample_size}"
    )

    for request in requests[:WARM_UP]:
        rank(index, request, DEFAULT_POLICY, args.limit, as_of=as_of)
        reference_rank(references, request, DEFAULT_POLICY, args.limit, as_of=as_of)
    fast_ms: list[float] = []
    fast_cpu_ms: list[float] = []
    baseline_ms: list[float] = []
    eligible: list[int] = []
    # Interleaved, request by request, so a burst of load from other processes on this shared
    # machine lands on both scorers alike rather than skewing their ratio.
    for request in requests:
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = rank(index, request, DEFAULT_POLICY, args.limit, as_of=as_of)
        fast_cpu_ms.append((time.thread_time() - started_cpu) * 1000.0)
        fast_ms.append(_ms(started))
        eligible.append(result.eligible)
        started = time.perf_counter()
        reference_rank(references, request, DEFAULT_POLICY, args.limit, as_of=as_of)
        baseline_ms.append(_ms(started) * n / sample_size)

    median, p95 = statistics.median(fast_ms), float(np.percentile(fast_ms, 95))
    baseline_median = statistics.median(baseline_ms)
    ratio = baseline_median / median
    print(
        f"vectorised: {len(fast_ms)} rankings, median {median:.2f} ms, p95 {p95:.2f} ms, "
        f"min {min(fast_ms):.2f} ms, max {max(fast_ms):.2f} ms "
        f"(eligible experts per request: median {statistics.median(eligible):.0f}, max {max(eligible)})"
    )
    print(
        f"vectorised, CPU time of this thread: median {statistics.median(fast_cpu_ms):.2f} ms, "
        f"p95 {float(np.percentile(fast_cpu_ms, 95)):.2f} ms (wall time above includes time other processes "
        "held the core)"
    )
    print(
        f"baseline: {len(baseline_ms)} rankings over {sample_size} experts scaled to {n}: "
        f"median {baseline_median:.0f} ms"
    )
    print(f"ranking N={n} median_ms={median:.2f} p95_ms={p95:.2f} baseline_ratio={ratio:.0f} "
          f"bytes_per_expert={bytes_per_expert:.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
