"""Kueue's scheduler-performance baseline as API objects, and the summary of one run.

Pure: no client, no clock. The shapes are Kueue v0.17.0's
`test/performance/scheduler/configs/baseline/generator.yaml` (the same as
`bench/queueing_kueue_baseline.py`): 5 cohorts x 6 ClusterQueues of nominal 20 CPU,
borrowing limit 100, reclaimWithinCohort Any, withinClusterQueue LowerPriority; per
queue 350 small (1 CPU, 200 ms, priority 50, one every 100 ms), 100 medium (5 CPU,
500 ms, priority 100, every 500 ms), 50 large (20 CPU, 1 s, priority 200, every
1.2 s), each set created concurrently after one interval. One namespace and
LocalQueue per ClusterQueue, as Kueue's generator makes them.

The same objects go to Kueue (`kueue.x-k8s.io/v1beta2`) and to quarterdeck
(`queueing.quarterdeck.dev`); only the group and the cohort field's name differ.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

COHORTS, QUEUES_PER_COHORT = 5, 6
NOMINAL_CPU, BORROWING_CPU = 20, 100
FLAVOR = "rf"
# class, count, creation interval ms, runtime ms, priority, CPU
SETS = (
    ("small", 350, 100, 200, 50, 1),
    ("medium", 100, 500, 500, 100, 5),
    ("large", 50, 1200, 1000, 200, 20),
)
RUNTIME_LABEL = "bench.quarterdeck.dev/runtime-ms"
CLASS_LABEL = "bench.quarterdeck.dev/class"


@dataclass(frozen=True)
class Api:
    """The API a controller serves: group/version and how a ClusterQueue names its cohort."""

    name: str
    api_version: str
    cohort_field: str


KUEUE = Api("kueue", "kueue.x-k8s.io/v1beta2", "cohortName")
QD = Api("qd", "queueing.quarterdeck.dev/v1alpha1", "cohort")


@dataclass(frozen=True)
class WorkloadPlan:
    namespace: str
    name: str
    cls: str
    due_ms: float  # creation time after the start of the run
    runtime_ms: int
    priority: int
    cpu: int


def queue_names() -> list[str]:
    return [f"cq-{q}-cohort-{c}" for c in range(COHORTS) for q in range(QUEUES_PER_COHORT)]


def queue_objects(api: Api) -> list[dict[str, Any]]:
    """ResourceFlavor, then per queue a ClusterQueue, its Namespace and its LocalQueue."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": api.api_version, "kind": "ResourceFlavor",
         "metadata": {"name": FLAVOR}, "spec": {}},
    ]  # fmt: skip
    for name in queue_names():
        cohort = name.split("-", 2)[2]
        quota = {"name": "cpu", "nominalQuota": str(NOMINAL_CPU),
                 "borrowingLimit": str(BORROWING_CPU)}  # fmt: skip
        spec = {
            api.cohort_field: cohort,
            "namespaceSelector": {},
            "resourceGroups": [
                {"coveredResources": ["cpu"],
                 "flavors": [{"name": FLAVOR, "resources": [quota]}]}
            ],
            "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
        }  # fmt: skip
        docs += [
            {"apiVersion": api.api_version, "kind": "ClusterQueue",
             "metadata": {"name": name}, "spec": spec},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            {"apiVersion": api.api_version, "kind": "LocalQueue",
             "metadata": {"name": name, "namespace": name}, "spec": {"clusterQueue": name}},
        ]  # fmt: skip
    return docs


def plan(scale: float) -> list[WorkloadPlan]:
    """Every Workload with its creation time, in creation order; `scale` shrinks the counts."""
    out = []
    for name in queue_names():
        for s, (cls, count, every, runtime, priority, cpu) in enumerate(SETS):
            for k in range(max(1, round(count * scale))):
                out.append(
                    WorkloadPlan(name, f"{cls}-{s}-{k}", cls, (k + 1) * every, runtime,
                                 priority, cpu)
                )  # fmt: skip
    out.sort(key=lambda p: p.due_ms)
    return out


def workload_object(api: Api, p: WorkloadPlan) -> dict[str, Any]:
    container = {"name": "c", "image": "pause",
                 "resources": {"requests": {"cpu": str(p.cpu)}}}  # fmt: skip
    return {
        "apiVersion": api.api_version,
        "kind": "Workload",
        "metadata": {
            "name": p.name,
            "namespace": p.namespace,
            "labels": {RUNTIME_LABEL: str(p.runtime_ms), CLASS_LABEL: p.cls},
        },
        "spec": {
            "queueName": p.namespace,
            "priority": p.priority,
            "podSets": [
                {"name": "main", "count": 1, "template": {"spec": {"containers": [container]}}}
            ],
        },
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == type_), None)


def is_true(obj: dict[str, Any], type_: str) -> bool:
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


@dataclass
class Timeline:
    """What the runner saw happen to one Workload, in seconds since the run started."""

    plan: WorkloadPlan
    created: float | None = None
    admissions: list[float] = field(default_factory=list)
    evictions: list[float] = field(default_factory=list)
    finished: float | None = None


def summarize(timelines: list[Timeline]) -> dict[str, float]:
    """Wall time to the last admission, usage (reserved and useful), evictions, waits.

    Useful usage counts only the run that finished: CPU x runtime of finished Workloads
    over (time to the last finish x total nominal quota). Reserved usage also counts
    quota held by runs that were later evicted, as a ClusterQueue's status shows it.
    """
    quota = NOMINAL_CPU * len(queue_names())
    created = [t for t in timelines if t.created is not None]
    admitted = [t for t in created if t.admissions]
    finished = [t for t in created if t.finished is not None]
    last_admission = max((t.admissions[-1] for t in admitted), default=0.0)
    span = max((t.finished or 0.0 for t in finished), default=0.0) or 1e-9
    useful = sum(t.plan.cpu * t.plan.runtime_ms / 1000 for t in finished)
    reserved = 0.0
    for t in admitted:
        ends = sorted([*t.evictions, *([t.finished] if t.finished is not None else [])])
        for start in t.admissions:
            end = next((e for e in ends if e >= start), span)
            reserved += t.plan.cpu * max(0.0, end - start)
    out: dict[str, float] = {
        "workloads": len(timelines),
        "created": len(created),
        "admitted": len(admitted),
        "finished": len(finished),
        "wall_s": last_admission,
        "span_s": span,
        "floor_s": sum(t.plan.cpu * t.plan.runtime_ms / 1000 for t in timelines) / quota,
        "useful_pct": 100 * useful / (span * quota),
        "reserved_pct": 100 * reserved / (span * quota),
        "evictions": sum(len(t.evictions) for t in created),
        "evicted_workloads": sum(1 for t in created if t.evictions),
    }
    waits: dict[str, list[float]] = defaultdict(list)
    for t in admitted:
        assert t.created is not None
        waits[t.plan.cls].append(t.admissions[-1] - t.created)
    for cls, values in sorted(waits.items()):
        out[f"wait_s_{cls}"] = sum(values) / len(values)
    return out
