"""Admission wait over time per ClusterQueue, by showback's own measure. Pure.

A wait is a Workload's creation to its quota reservation, as showback's `QueueWaits`
keeps it for the `quarterdeck_queue_wait_seconds` metric and QueueObjectives; this
module only cuts it into recent windows (nothing is re-measured here). `QueueWaits.since`
gives the waits of the Workloads reserved since a time, so the waits reserved in
[t0, t1) are those since t0 less those since t1 (the same Workloads give the same
floats). Waits are a ClusterQueue's aggregate, like its usage: shown with the queue.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from quarterdeck.showback.objectives import QueueWaits, percentile

HOUR = 3600.0
#: (label, from seconds ago, to seconds ago): the last hour, then ever longer windows
WINDOWS = (("last hour", HOUR, 0.0), ("1-6 h ago", 6 * HOUR, HOUR),
           ("6-24 h ago", 24 * HOUR, 6 * HOUR), ("1-7 days ago", 7 * 24 * HOUR, 24 * HOUR))


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def admission_waits(waits: QueueWaits, now: float) -> dict[str, list[dict[str, Any]]]:
    """Per ClusterQueue with admitted Workloads: each window of `WINDOWS`, newest first,
    with how many Workloads were admitted in it and their p50 and p95 wait (seconds;
    None when none was)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for cq in waits.queues():
        since = {ago: Counter(waits.since(cq, now - ago)) if ago else Counter()
                 for ago in {a for _, start, end in WINDOWS for a in (start, end)}}
        rows = []
        for label, start, end in WINDOWS:
            window = sorted((since[start] - since[end]).elements())
            rows.append({"window": label, "workloads": len(window),
                         "p50": _seconds(percentile(window, 50)),
                         "p95": _seconds(percentile(window, 95))})
        out[cq] = rows
    return out
