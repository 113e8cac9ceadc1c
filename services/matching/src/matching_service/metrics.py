"""Prometheus metrics of the saga and the reconciler, on the app's own registry (`/metrics`).

Every label comes from a fixed set — saga steps, failure causes, refusal statuses, kinds of
inconsistency — never from an id or a message, so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

# The refusal statuses counted on their own; any other 4xx is counted as `4xx`.
REFUSAL_STATUSES = frozenset({400, 403, 404, 409, 412, 422})


def refusal_label(status: int) -> str:
    """A bounded label for an upstream 4xx."""
    return str(status) if status in REFUSAL_STATUSES else "4xx"


class MatchingMetrics:
    """The saga's and the reconciler's counters and gauges (one set per app)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry(auto_describe=True)
        self.step_stuck = Counter(
            "matching_saga_step_stuck_total",
            "Saga steps that could not run (upstream unavailable or an error), once per episode",
            ["step", "cause"],
            registry=registry,
        )
        self.step_refused = Counter(
            "matching_saga_step_refused_total",
            "Saga steps an upstream refused for good (4xx): failed or compensated, never retried",
            ["step", "status"],
            registry=registry,
        )
        self.stuck_steps = Gauge(
            "matching_saga_stuck_steps",
            "Matches whose saga step has failed repeatedly, at the last reconciliation",
            ["step"],
            registry=registry,
        )
        self.inconsistencies_open = Gauge(
            "matching_inconsistencies_open",
            "Inconsistencies between matches, bookings and requests the reconciler could not repair",
            ["kind"],
            registry=registry,
        )
        self.repairs = Counter(
            "matching_inconsistency_repairs_total",
            "Inconsistencies the reconciler repaired",
            ["kind"],
            registry=registry,
        )
        self.passes = Counter(
            "matching_reconcile_passes_total",
            "Reconciliation passes, by outcome (ok; partial when an upstream could not be read)",
            ["outcome"],
            registry=registry,
        )
