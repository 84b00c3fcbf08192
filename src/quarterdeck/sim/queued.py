"""Replay a trace through the queueing cycle (`quarterdeck.queueing.cycle`) with
placement-aware admission by `quarterdeck.placement`.

Each QoS class of the trace stands for a team (the trace has no team column): one
ClusterQueue per class, all in one cohort so idle quota can be borrowed, nominal GPU
quota from `quotas` (GPUs per class; default: the cluster split evenly). After every
batch of simultaneous arrivals or departures one cycle runs on a fresh snapshot; what it
admits starts at once and leaves after its traced duration.

The cycle's node view (`_TraceView`, a queueing `NodeView`) is the simulator's exact
per-GPU `ClusterState`: which GPU a share sits on is kept from admission to departure,
so shares are placed as in the fill experiment. (`quarterdeck.queueing.GpuPlacer`, the
controller's placer, rebuilds device state from node counts each cycle instead.)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np

from quarterdeck.placement import (
    MILLI_PER_GPU,
    Assignment,
    ClusterState,
    NodeSpec,
    PodSet,
    Workload,
    commit,
    place,
    release,
    scorer_named,
)
from quarterdeck.queueing import (
    ClusterQueue,
    Flavor,
    FlavorQuota,
    Node,
    Quota,
    ResourceGroup,
    Snapshot,
    cycle,
)
from quarterdeck.queueing import PodSet as QueuedPodSet
from quarterdeck.queueing import Workload as QueuedWorkload
from quarterdeck.queueing.model import AdmittedWorkload
from quarterdeck.sim.events import EventLoop
from quarterdeck.sim.replay import ReplayRun
from quarterdeck.sim.trace import Task

GPU = "nvidia.com/gpu"
GPU_MODEL_LABEL = "nvidia.com/gpu.product"
MIB = 1024 * 1024 * 1000  # memory in milli-bytes, as the cycle counts it
FLAVOR = "default"


class _Trace:
    """What the views of all cycles share: the tasks, the scorer, and the exact
    assignment of every running or just-bound workload (by trace index)."""

    def __init__(self, state: ClusterState, tasks: Sequence[Task], policy: str, seed: int):
        self.state = state
        self.tasks = tasks
        self.scorer = scorer_named(policy, Workload.from_requests(t.request for t in tasks))
        self.rng = np.random.default_rng(seed)
        self.bound: dict[int, Assignment] = {}  # chosen by the cycle's main view
        self.running: dict[int, Assignment] = {}

    def start(self, nodes: Sequence[Node], admitted: Sequence[AdmittedWorkload]) -> _TraceView:
        """The cycle's node view: the simulator's exact state, running pods included."""
        self.bound = {}
        return _TraceView(self, self.state.copy())


class _TraceView:
    """A queueing `NodeView` over the exact per-GPU state."""

    def __init__(self, trace: _Trace, cluster: ClusterState) -> None:
        self.trace = trace
        self.cluster = cluster
        self.chosen: dict[tuple[int, tuple[tuple[str, int], ...]], Assignment] = {}

    def copy(self) -> _TraceView:
        new = _TraceView(self.trace, self.cluster.copy())
        new.chosen = dict(self.chosen)
        return new

    def place(
        self, flavors: Sequence[Flavor], pod_set: QueuedPodSet
    ) -> tuple[Mapping[str, int] | None, str]:
        index = int(pod_set.name)
        gang = PodSet(self.trace.tasks[index].request, pod_set.count)
        got = place(self.cluster, gang, self.trace.scorer, self.trace.rng)
        if got is None:
            return None, "no room on the GPU nodes"
        nodes = dict(Counter(self.cluster.specs[n].name for n in got.nodes()))
        self.chosen[(id(pod_set), tuple(sorted(nodes.items())))] = got
        return nodes, ""

    def bind(self, pod_set: QueuedPodSet, placement: Mapping[str, int]) -> None:
        index = int(pod_set.name)
        got = self.chosen.pop((id(pod_set), tuple(sorted(placement.items()))), None)
        if got is None:
            raise ValueError(f"bind of {dict(placement)} that this view did not place")
        commit(self.cluster, PodSet(self.trace.tasks[index].request, pod_set.count), got)
        self.trace.bound[index] = got

    def take(self, admitted: AdmittedWorkload, sign: int = 1) -> None:
        index = int(admitted.workload.pod_sets[0].name)
        got = self.trace.running.get(index)
        if got is None:
            return
        gang = PodSet(self.trace.tasks[index].request, len(got.pods))
        (commit if sign > 0 else release)(self.cluster, gang, got)


def _queues(
    teams: Sequence[str], quotas: Mapping[str, int], nodes: Sequence[NodeSpec]
) -> dict[str, ClusterQueue]:
    cpu = sum(n.cpu_milli for n in nodes)
    mem = sum(n.memory_mib for n in nodes) * MIB
    out = {}
    for team in teams:
        gpus = quotas[team] * MILLI_PER_GPU
        res = {"cpu": Quota(cpu), "memory": Quota(mem), GPU: Quota(gpus)}
        group = ResourceGroup(("cpu", "memory", GPU), (FlavorQuota(FLAVOR, res),))
        out[team] = ClusterQueue(team, (group,), cohort="trace")
    return out


def run_queued_replay(
    nodes: Sequence[NodeSpec],
    tasks: Sequence[Task],
    policy: str,
    quotas: Mapping[str, int] | None = None,
    seed: int = 0,
    compress: float = 1.0,
    tick: float = 0.0,
) -> ReplayRun:
    """Replay `tasks` through `cycle()`; `quotas` maps QoS class to nominal GPUs.

    `tick` > 0 runs cycles only on multiples of `tick` simulated seconds (like a
    controller's cycle cadence): far fewer cycles, waits rounded up to the tick.
    """
    if compress <= 0 or tick < 0:
        raise ValueError("compress must be > 0 and tick >= 0")
    state = ClusterState(nodes)
    placer = _Trace(state, tasks, policy, seed)
    timed = [i for i, t in enumerate(tasks) if t.creation_time is not None and t.duration]
    teams = sorted({tasks[i].qos or "-" for i in timed})
    total_gpus = sum(n.gpu_count for n in nodes)
    quotas = dict(quotas or {t: total_gpus // max(len(teams), 1) for t in teams})
    missing = [t for t in teams if t not in quotas]
    if missing:
        raise ValueError(f"no quota for team(s) {', '.join(missing)}")
    queues = _queues(teams, quotas, nodes)
    cluster_nodes = tuple(
        Node(n.name, {GPU_MODEL_LABEL: n.gpu_model} if n.gpu_model else {},
             {"cpu": n.cpu_milli, "memory": n.memory_mib * MIB, GPU: n.gpu_count * MILLI_PER_GPU})
        for n in nodes
    )  # fmt: skip
    pending: dict[int, QueuedWorkload] = {}
    admitted: dict[int, AdmittedWorkload] = {}
    arrived_at: dict[int, float] = {}
    waits: list[float] = []
    times: list[float] = []
    alloc: list[float] = []
    hours: dict[str, float] = defaultdict(float)
    loop = EventLoop()
    unschedulable = 0
    dirty = False

    def workload(index: int, now: float) -> QueuedWorkload:
        req = tasks[index].request
        requests = {"cpu": req.cpu_milli, "memory": req.memory_mib * MIB, GPU: req.gpu_demand_milli}
        pod_set = QueuedPodSet(str(index), 1, {k: v for k, v in requests.items() if v})
        return QueuedWorkload(
            f"trace/{tasks[index].name}", tasks[index].qos or "-", (pod_set,), created=now
        )

    def schedule_cycle(now: float) -> None:
        nonlocal dirty
        if not dirty:
            dirty = True
            loop.at(math.ceil(now / tick) * tick if tick else now, run_cycle)

    def run_cycle(now: float) -> None:
        nonlocal dirty
        dirty = False
        snap = Snapshot(queues, {FLAVOR: Flavor(FLAVOR)}, tuple(admitted.values()),
                        tuple(pending.values()), cluster_nodes, now=now)  # fmt: skip
        for adm in cycle(snap, placer).admitted:
            index = int(adm.pod_sets[0].name)
            got = placer.bound[index]
            task = tasks[index]
            commit(state, PodSet(task.request), got)
            placer.running[index] = got
            admitted[index] = adm.admitted(now)
            del pending[index]
            waits.append(now - arrived_at[index])
            duration = float(task.duration or 0)
            hours[task.qos or "-"] += (
                task.request.gpu_demand_milli / MILLI_PER_GPU * duration / 3600
            )
            loop.at(now + duration, partial(leave, index, got))
        times.append(now)
        alloc.append(state.gpu_allocated_milli / max(state.gpu_capacity_milli, 1))

    def leave(index: int, got: Assignment, now: float) -> None:
        release(state, PodSet(tasks[index].request), got)
        del admitted[index]
        del placer.running[index]
        schedule_cycle(now)

    def arrive(index: int, now: float) -> None:
        nonlocal unschedulable
        if not state.could_ever_fit(tasks[index].request):
            unschedulable += 1
            return
        arrived_at[index] = now
        pending[index] = workload(index, now)
        schedule_cycle(now)

    for index in timed:
        at = float(tasks[index].creation_time or 0) / compress
        loop.at(at, partial(arrive, index))
    loop.run()
    return ReplayRun(
        policy=policy,
        waits=np.array(waits, dtype=np.float64),
        never_started=len(pending),
        unschedulable=unschedulable,
        untimed=len(tasks) - len(timed),
        times=np.array(times, dtype=np.float64),
        allocation=np.array(alloc, dtype=np.float64),
        gpu_hours=dict(hours),
    )
