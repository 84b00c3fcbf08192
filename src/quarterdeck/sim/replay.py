"""Replay a trace in time through the product's own admission path.

Tasks arrive at their creation time and leave after their traced duration. Each QoS
class of the trace stands for a team (the trace has no team column): one ClusterQueue
per class, all in one cohort so idle quota can be borrowed, nominal GPU quota from
`quotas` (GPUs per class; default: the cluster split evenly). After every batch of
simultaneous events (or on every `tick`) one pass runs exactly as a controller pass
decides: the snapshot is configured by the `QueueingConfig`, `cycle()` decides with the
placer `placer_from(config)` builds (the one the operator uses, keeping exact device
state), and `decisions.apply` carries the decisions out. A victim of preemption loses
its work and queues again.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement import MILLI_PER_GPU, ClusterState, NodeSpec
from quarterdeck.queueing.config import QueueingConfig, configure, placer_from
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Decisions, apply
from quarterdeck.queueing.model import (
    AdmittedWorkload,
    ClusterQueue,
    Flavor,
    FlavorQuota,
    Node,
    PodSet,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
)
from quarterdeck.sim.events import EventLoop
from quarterdeck.sim.trace import Task

F64 = NDArray[np.float64]
GPU = "nvidia.com/gpu"
GPU_MODEL_LABEL = "nvidia.com/gpu.product"
MIB = 1024 * 1024 * 1000  # memory in milli-bytes, as the cycle counts it
FLAVOR = "default"
COHORT = "trace"

Observer = Callable[[Snapshot, Decisions], None]
"""Called with every pass's snapshot and decisions (the parity test records them)."""


@dataclass(frozen=True)
class ReplayRun:
    policy: str
    waits: F64  # simulated seconds from arrival to (last) start, for tasks that started
    never_started: int  # still queued when the trace ended
    unschedulable: int  # no empty node could ever hold them
    untimed: int  # rows without creation/deletion time: not replayed, counted here
    times: F64  # pass times (s)
    allocation: F64  # GPU allocation ratio after each pass
    gpu_hours: dict[str, float]  # finished work by QoS class (evicted work not counted)
    evictions: int = 0

    def peak_allocation(self) -> float:
        return float(self.allocation.max()) if self.allocation.size else 0.0

    def mean_allocation(self) -> float:
        """Time-weighted GPU allocation ratio from the first to the last pass."""
        if self.times.size < 2:
            return float(self.allocation[-1]) if self.allocation.size else 0.0
        span = np.diff(self.times)
        total = span.sum()
        return float((self.allocation[:-1] * span).sum() / total) if total else 0.0


def trace_queues(
    teams: Sequence[str],
    quotas: Mapping[str, int],
    nodes: Sequence[NodeSpec],
    preemption: Preemption = Preemption(),
) -> dict[str, ClusterQueue]:
    """One ClusterQueue per team in cohort `trace`; CPU and memory quota = the cluster."""
    cpu = sum(n.cpu_milli for n in nodes)
    mem = sum(n.memory_mib for n in nodes) * MIB
    out = {}
    for team in teams:
        gpus = quotas[team] * MILLI_PER_GPU
        res = {"cpu": Quota(cpu), "memory": Quota(mem), GPU: Quota(gpus)}
        group = ResourceGroup(("cpu", "memory", GPU), (FlavorQuota(FLAVOR, res),))
        out[team] = ClusterQueue(team, (group,), cohort=COHORT, preemption=preemption)
    return out


def trace_nodes(nodes: Sequence[NodeSpec]) -> tuple[Node, ...]:
    """The trace's nodes as the cycle sees Kubernetes Nodes."""
    return tuple(
        Node(
            n.name,
            {GPU_MODEL_LABEL: n.gpu_model} if n.gpu_model else {},
            {"cpu": n.cpu_milli, "memory": n.memory_mib * MIB, GPU: n.gpu_count * MILLI_PER_GPU},
        )
        for n in nodes
    )


def trace_workload(task: Task, now: float) -> Workload:
    """One task as a one-pod Workload (GPU models as a node-affinity `In` term)."""
    req = task.request
    requests = {"cpu": req.cpu_milli, "memory": req.memory_mib * MIB, GPU: req.gpu_demand_milli}
    affinity = ((GPU_MODEL_LABEL, tuple(sorted(req.gpu_models))),) if req.gpu_models else ()
    pod_set = PodSet("main", 1, {k: v for k, v in requests.items() if v}, node_affinity=affinity)
    return Workload(f"trace/{task.name}", task.qos or "-", (pod_set,), created=now)


def run_replay(
    nodes: Sequence[NodeSpec],
    tasks: Sequence[Task],
    config: QueueingConfig,
    quotas: Mapping[str, int] | None = None,
    compress: float = 1.0,
    tick: float = 0.0,
    observe: Observer | None = None,
    preemption: Preemption = Preemption(),
) -> ReplayRun:
    """Replay `tasks` through snapshot -> cycle -> apply under `config`.

    `compress` > 1 brings arrivals closer (creation time / compress); `tick` > 0 runs
    passes only on multiples of `tick` simulated seconds (a controller's cadence).
    """
    if compress <= 0 or tick < 0:
        raise ValueError("compress must be > 0 and tick >= 0")
    empty = ClusterState(nodes)
    placer = placer_from(config)
    timed = [i for i, t in enumerate(tasks) if t.creation_time is not None and t.duration]
    teams = sorted({tasks[i].qos or "-" for i in timed})
    total_gpus = sum(n.gpu_count for n in nodes)
    quotas = dict(quotas or {t: total_gpus // max(len(teams), 1) for t in teams})
    missing = [t for t in teams if t not in quotas]
    if missing:
        raise ValueError(f"no quota for team(s) {', '.join(missing)}")
    snapshot = configure(
        Snapshot(
            trace_queues(teams, quotas, nodes, preemption),
            {FLAVOR: Flavor(FLAVOR)},
            nodes=trace_nodes(nodes),
        ),
        config,
    )
    by_key: dict[str, int] = {}
    arrived_at: dict[int, float] = {}
    started: dict[int, float] = {}
    waits: dict[int, float] = {}
    times: list[float] = []
    alloc: list[float] = []
    hours: dict[str, float] = defaultdict(float)
    loop = EventLoop()
    unschedulable = evictions = 0
    dirty = False

    def schedule(now: float) -> None:
        nonlocal dirty
        if not dirty:
            dirty = True
            loop.at(math.ceil(now / tick) * tick if tick else now, run_pass)

    def run_pass(now: float) -> None:
        nonlocal dirty, snapshot, evictions
        dirty = False
        snap = replace(snapshot, now=now)
        decisions = cycle(snap, placer)
        if observe is not None:
            observe(snap, decisions)
        snapshot = apply(snap, decisions, now)
        evictions += len(decisions.preempted)
        for pre in decisions.preempted:
            started.pop(by_key[pre.victim.workload.key], None)
        for adm in decisions.admitted:
            index = by_key[adm.workload.key]
            started[index] = now
            waits[index] = now - arrived_at[index]
            loop.at(now + float(tasks[index].duration or 0), partial(leave, index, now))
        times.append(now)
        used = sum(a.usage().get((FLAVOR, GPU), 0) for a in snapshot.admitted)
        alloc.append(used / max(total_gpus * MILLI_PER_GPU, 1))

    def leave(index: int, since: float, now: float) -> None:
        nonlocal snapshot
        if started.get(index) != since:
            return  # evicted meanwhile: this run of it never finishes
        del started[index]
        task = tasks[index]
        key = f"trace/{task.name}"
        admitted: tuple[AdmittedWorkload, ...] = tuple(
            a for a in snapshot.admitted if a.workload.key != key
        )
        snapshot = replace(snapshot, admitted=admitted)
        gpus = task.request.gpu_demand_milli / MILLI_PER_GPU
        hours[task.qos or "-"] += gpus * float(task.duration or 0) / 3600
        schedule(now)

    def arrive(index: int, now: float) -> None:
        nonlocal unschedulable, snapshot
        if not empty.could_ever_fit(tasks[index].request):
            unschedulable += 1
            return
        wl = trace_workload(tasks[index], now)
        by_key[wl.key] = index
        arrived_at[index] = now
        snapshot = replace(snapshot, pending=(*snapshot.pending, wl))
        schedule(now)

    for index in timed:
        loop.at(float(tasks[index].creation_time or 0) / compress, partial(arrive, index))
    loop.run()
    return ReplayRun(
        policy=config.policy,
        waits=np.array(list(waits.values()), dtype=np.float64),
        never_started=len(snapshot.pending),
        unschedulable=unschedulable,
        untimed=len(tasks) - len(timed),
        times=np.array(times, dtype=np.float64),
        allocation=np.array(alloc, dtype=np.float64),
        gpu_hours=dict(hours),
        evictions=evictions,
    )
