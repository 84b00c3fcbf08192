"""Queue-wait and utilisation objectives of a ClusterQueue, with their error budget. Pure.

Wait is a Workload's creation to its admission (Kueue's `QuotaReserved` time), for
Workloads admitted in the window. The error budget is the share of allowed misses
(`1 - target` of the Workloads may wait longer than `waitP95`) not yet used: 1.0 is
untouched, 0 is spent, below 0 is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quarterdeck.api.duration import parse_duration
from quarterdeck.api.showback import QueueObjectiveSpec


@dataclass(frozen=True)
class ObjectiveState:
    workloads: int
    wait_p50: float | None
    wait_p95: float | None
    utilisation: float | None
    error_budget_remaining: float | None
    met: bool
    message: str


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def evaluate(
    spec: QueueObjectiveSpec, waits: Sequence[float], utilisation: float | None
) -> ObjectiveState:
    p50, p95 = percentile(waits, 50), percentile(waits, 95)
    problems = []
    budget = None
    if spec.wait_p50 and p50 is not None and p50 > parse_duration(spec.wait_p50):
        problems.append(f"p50 wait {p50:.0f}s > {spec.wait_p50}")
    if spec.wait_p95:
        limit = parse_duration(spec.wait_p95)
        if p95 is not None and p95 > limit:
            problems.append(f"p95 wait {p95:.0f}s > {spec.wait_p95}")
        if waits:
            allowed = (1 - spec.target) * len(waits)
            misses = sum(1 for w in waits if w > limit)
            budget = 1 - misses / allowed if allowed else (1.0 if not misses else -1.0)
    floor = spec.utilisation
    if floor is not None and utilisation is not None and utilisation * 100 < floor:
        problems.append(f"utilisation {utilisation * 100:.1f}% < {spec.utilisation:g}%")
    met = not problems
    return ObjectiveState(
        len(waits),
        p50,
        p95,
        utilisation,
        budget,
        met,
        "objectives met" if met else "; ".join(problems),
    )
