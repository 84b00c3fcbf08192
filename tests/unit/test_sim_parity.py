"""Parity: the simulator decides exactly as the live path does.

One seeded trace of a few hundred workloads goes through `qd simulate replay`'s loop
and, pass by pass, through the functions a controller pass runs: Workload objects ->
`snapshot_from_objects` -> `configure` -> `cycle` with `placer_from(config)` -> Workload
status written back (`workload_status`, `admission_of`, `quota_released`). Every pass
must give identical admissions (flavors, nodes, GPUs), preemptions and pending reasons.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import pytest

from quarterdeck.api.meta import Condition
from quarterdeck.api.queueing import Workload as ApiWorkload
from quarterdeck.api.queueing import load_documents
from quarterdeck.api.queueing.manifests import QueueingObject
from quarterdeck.api.queueing.workload import FINISHED, PREEMPTED, WorkloadStatus
from quarterdeck.queueing.config import QueueingConfig, configure, placer_from
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Decisions
from quarterdeck.queueing.model import Node, Preemption, Snapshot
from quarterdeck.queueing.snapshot import node_from_object, snapshot_from_objects
from quarterdeck.queueing.status import quota_released, workload_status
from quarterdeck.sim.replay import COHORT, FLAVOR, GPU, GPU_MODEL_LABEL, run_replay
from quarterdeck.sim.synthetic import synthetic_nodes, synthetic_tasks
from quarterdeck.sim.trace import Task

V = "queueing.quarterdeck.dev/v1alpha1"
NS = "trace"
RECLAIM = Preemption(reclaim_within_cohort="Any")


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(milli: int) -> str:
    return f"{milli}m"


def _static_objects(snap: Snapshot) -> list[dict[str, Any]]:
    """The ResourceFlavor, ClusterQueues and LocalQueues of the replay, as manifests."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": V, "kind": "ResourceFlavor", "metadata": {"name": FLAVOR}}
    ]
    for name, cq in snap.cluster_queues.items():
        (group,) = cq.resource_groups
        (fq,) = group.flavors
        resources = [
            {"name": r, "nominalQuota": _quantity(fq.resources[r].nominal)} for r in group.covered
        ]
        docs.append(
            {
                "apiVersion": V,
                "kind": "ClusterQueue",
                "metadata": {"name": name},
                "spec": {
                    "cohort": COHORT,
                    "namespaceSelector": {},
                    "preemption": {"reclaimWithinCohort": cq.preemption.reclaim_within_cohort},
                    "resourceGroups": [
                        {
                            "coveredResources": list(group.covered),
                            "flavors": [{"name": FLAVOR, "resources": resources}],
                        }
                    ],
                },
            }
        )
        docs.append(
            {
                "apiVersion": V,
                "kind": "LocalQueue",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"clusterQueue": name},
            }
        )
    return docs


def _node_object(node: Node) -> dict[str, Any]:
    return {
        "metadata": {"name": node.name, "labels": dict(node.labels)},
        "status": {"allocatable": {r: _quantity(v) for r, v in node.allocatable.items()}},
    }


def _workload_object(task: Task, team: str, created: float) -> dict[str, Any]:
    req = task.request
    requests = {"cpu": req.cpu_milli, "memory": req.memory_mib * 1024 * 1024 * 1000}
    requests[GPU] = req.gpu_demand_milli
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "resources": {"requests": {r: _quantity(v) for r, v in requests.items() if v}},
            }
        ]
    }
    if req.gpu_models:
        term = {"key": GPU_MODEL_LABEL, "operator": "In", "values": sorted(req.gpu_models)}
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [term]}]
                }
            }
        }
    return {
        "apiVersion": V,
        "kind": "Workload",
        "metadata": {"name": task.name, "namespace": NS, "creationTimestamp": _stamp(created)},
        "spec": {
            "queueName": team,
            "podSets": [{"name": "main", "count": 1, "template": {"spec": spec}}],
        },
    }


class LivePath:
    """The controller's pure pass over Workload objects kept in memory."""

    def __init__(self, config: QueueingConfig, tasks: dict[str, Task]) -> None:
        self.config = config
        self.placer = placer_from(config)
        self.tasks = tasks
        self.static: list[QueueingObject] | None = None
        self.nodes: tuple[Node, ...] = ()
        self.workloads: dict[str, ApiWorkload] = {}

    def sync(self, sim: Snapshot) -> None:
        """Create the Workloads that arrived; mark Finished those whose job ended."""
        if self.static is None:
            self.static = load_documents(_static_objects(sim))
            self.nodes = tuple(node_from_object(_node_object(n), "test") for n in sim.nodes)
        present = {w.key: w for w in (*sim.pending, *(a.workload for a in sim.admitted))}
        for key, wl in present.items():
            if key not in self.workloads:
                name = key.split("/", 1)[1]
                doc = _workload_object(self.tasks[name], wl.cluster_queue, wl.created)
                (obj,) = load_documents([doc])
                assert isinstance(obj, ApiWorkload)
                self.workloads[key] = obj
        for key, obj in self.workloads.items():
            status = obj.status
            if key not in present and not (status and status.is_true(FINISHED)):
                done = Condition(type=FINISHED, status="True", reason="Succeeded")
                conds = [*(status.conditions if status else []), done]
                base = status or WorkloadStatus()
                self.workloads[key] = msgspec.structs.replace(
                    obj, status=msgspec.structs.replace(base, conditions=conds)
                )

    def decide(self, now: float) -> tuple[Snapshot, Decisions]:
        assert self.static is not None
        objects = [*self.static, *self.workloads.values()]
        snap = snapshot_from_objects(objects, self.nodes, {NS: {}}, now)
        snap = configure(snap, self.config)
        return snap, cycle(snap, self.placer)

    def write(self, decisions: Decisions, now: float) -> None:
        stamp = _stamp(now)
        for pre in decisions.preempted:
            key = pre.victim.workload.key
            status = workload_status(self.workloads[key].status, pre, stamp)
            assert status.condition(PREEMPTED) is not None
            # The victim's pods stop at once, as `decisions.apply` assumes.
            self._set(key, quota_released(status, stamp))
        for adm in decisions.admitted:
            key = adm.workload.key
            self._set(key, workload_status(self.workloads[key].status, adm, stamp))
        for pen in decisions.pending:
            key = pen.workload.key
            self._set(key, workload_status(self.workloads[key].status, pen, stamp))

    def _set(self, key: str, status: Any) -> None:
        self.workloads[key] = msgspec.structs.replace(self.workloads[key], status=status)


def _view(d: Decisions) -> dict[str, Any]:
    return {
        "admitted": sorted(
            (
                a.workload.key,
                a.borrows,
                tuple((p.name, dict(p.flavors), p.nodes, p.devices) for p in a.pod_sets),
            )
            for a in d.admitted
        ),
        "preempted": sorted((p.victim.workload.key, p.preemptor, p.reason) for p in d.preempted),
        "pending": sorted((p.workload.key, p.reason, p.message) for p in d.pending),
    }


def _trace(count: int, seed: int) -> tuple[list[Any], list[Task]]:
    nodes = synthetic_nodes(10, seed=seed)
    models = tuple(sorted({n.gpu_model for n in nodes}))
    rng = np.random.default_rng(seed)
    # team-a comes first and borrows the idle quota of team-b, which reclaims it later.
    tasks = [
        replace(t, qos="team-a" if i < count // 3 else str(rng.choice(["team-a", "team-b"])))
        for i, t in enumerate(synthetic_tasks(count, seed=seed, models=models))
    ]
    # Arrivals five times closer than traced: queues fill, borrow and get reclaimed.
    tasks = [replace(t, creation_time=(t.creation_time or 0) // 5 // 30 * 30) for t in tasks]
    return nodes, tasks


@pytest.mark.parametrize("policy", ["bestfit", "fgd"])
def test_simulator_and_live_path_decide_identically(policy: str) -> None:
    nodes, tasks = _trace(260, seed=11)
    config = QueueingConfig(policy=policy, recent_admitted=100)
    gpus = sum(n.gpu_count for n in nodes)
    quotas = {"team-a": gpus // 5, "team-b": gpus - gpus // 5}
    live = LivePath(config, {t.name: t for t in tasks})
    passes = {"n": 0, "admitted": 0, "preempted": 0, "shared": 0}

    def observe(sim_snap: Snapshot, sim: Decisions) -> None:
        live.sync(sim_snap)
        live_snap, got = live.decide(sim_snap.now)
        assert {a.workload.key: a.pod_sets for a in live_snap.admitted} == {
            a.workload.key: a.pod_sets for a in sim_snap.admitted
        }, f"pass at {sim_snap.now}: running workloads differ"
        assert _view(got) == _view(sim), f"pass at {sim_snap.now}: decisions differ"
        live.write(got, sim_snap.now)
        passes["n"] += 1
        passes["admitted"] += len(sim.admitted)
        passes["preempted"] += len(sim.preempted)
        passes["shared"] += sum(
            1 for a in sim.admitted if 0 < a.pod_sets[0].usage.get(GPU, 0) < 1000
        )

    run = run_replay(nodes, tasks, config, quotas, tick=30.0, observe=observe, preemption=RECLAIM)
    # The trace exercised what parity is about: many passes, shares, reclaim.
    assert passes["n"] > 50 and passes["admitted"] >= 220
    assert passes["shared"] > 50 and passes["preempted"] > 0
    assert run.evictions == passes["preempted"]
