"""Prometheus metrics of the delivery engine (served by ``qd operator --metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_SECONDS = Histogram(
    "quarterdeck_delivery_reconcile_seconds", "Duration of one delivery pass or self-heal", ["kind"]
)
OBJECTS_APPLIED = Counter(
    "quarterdeck_delivery_objects_applied_total",
    "Objects created or configured by delivery",
    ["application"],
)
OBJECTS_PRUNED = Counter(
    "quarterdeck_delivery_objects_pruned_total", "Objects pruned by delivery", ["application"]
)
DRIFT_OBJECTS = Gauge(
    "quarterdeck_delivery_drift_objects", "Objects found drifted in the last sync", ["application"]
)
