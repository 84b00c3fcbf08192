"""`quarterdeck.placement` behind the queueing `Placer` protocol.

The cycle speaks Kubernetes resources in milli-units; placement speaks CPU, memory
(MiB), whole or shared GPUs and MIG instances per device. This module translates:
`cpu`, `memory`, `nvidia.com/gpu` (below 1000m: a share of one GPU) and
`nvidia.com/mig-<profile>` (one instance per pod). Other resources are held to quota
only. The node's GPU model comes from the `nvidia.com/gpu.product` label.

Placement decides over every node; a flavor's candidates are a sub-cluster copied
from the cycle's cluster state, and the answer is mapped back and bound there, so the
GPU devices chosen by the scorer are the ones accounted for.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement import (
    MILLI_PER_GPU,
    POLICIES,
    ClusterState,
    Gang,
    GangPlacement,
    NodeSpec,
    PlacementError,
    PodPlacement,
    Request,
    Scorer,
    TargetWorkload,
    Topology,
    TopologyConstraint,
    place,
    scorer_named,
)
from quarterdeck.placement.explain import explain
from quarterdeck.placement.policies import TARGETED
from quarterdeck.placement.scorers import gpus_for
from quarterdeck.queueing.model import AdmittedWorkload, Flavor, Node, PodDevices, PodSet, fmt
from quarterdeck.queueing.nodes import matches

GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
MIB_MILLI = 1000 * 1024 * 1024


def request_of(requests: Mapping[str, int]) -> Request:
    """One pod's placement request; PlacementError when placement cannot express it."""
    gpu = requests.get(GPU, 0)
    migs = [
        (r[len(MIG_PREFIX) :], v) for r, v in requests.items() if r.startswith(MIG_PREFIX) and v
    ]
    if len(migs) > 1 or (migs and (migs[0][1] != 1000 or gpu)):
        raise PlacementError("a pod may ask for one MIG instance and no other GPU")
    if gpu % MILLI_PER_GPU and gpu > MILLI_PER_GPU:
        raise PlacementError(f"{fmt(gpu, GPU)} {GPU} is neither whole GPUs nor a share of one")
    whole = gpu >= MILLI_PER_GPU
    return Request(
        cpu_milli=requests.get("cpu", 0),
        memory_mib=-(-requests.get("memory", 0) // MIB_MILLI),
        gpu_count=gpu // MILLI_PER_GPU if whole else (1 if gpu else 0),
        gpu_milli=MILLI_PER_GPU if whole else gpu,
        mig_profile=migs[0][0] if migs else None,
    )


def spec_of(node: Node) -> NodeSpec:
    alloc = node.allocatable
    return NodeSpec(
        name=node.name,
        cpu_milli=alloc.get("cpu", 0),
        memory_mib=alloc.get("memory", 0) // MIB_MILLI,
        gpu_count=alloc.get(GPU, 0) // MILLI_PER_GPU,
        gpu_model=node.labels.get(GPU_PRODUCT_LABEL, ""),
        labels=tuple(sorted(node.labels.items())),
        mig=tuple(
            (r[len(MIG_PREFIX) :], v // 1000)
            for r, v in sorted(alloc.items())
            if r.startswith(MIG_PREFIX)
        ),
    )


DEFAULT_TARGET = (Request(cpu_milli=0, memory_mib=0, gpu_count=1, gpu_milli=MILLI_PER_GPU),)
"""FGD's target workload before any workload was admitted and with no configured fallback."""

Held = list[tuple[Request, PodPlacement]]


class GpuPlacer:
    """Placement-aware admission with a `quarterdeck.placement` scorer (default best-fit).

    Keep one placer across passes: it keeps the exact device state of the running
    workloads (updated by difference each pass) and, for FGD-class policies, learns the
    target workload from the pod requests of the last `recent_admitted` admitted
    workloads (until one is admitted: `fallback`, then one whole GPU per pod).
    """

    def __init__(
        self,
        policy: str = "bestfit",
        seed: int = 0,
        recent_admitted: int = 1000,
        fallback: Sequence[tuple[Request, float]] = (),
    ) -> None:
        if policy not in POLICIES:
            raise PlacementError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
        self.policy = policy
        self.seed = seed
        self.recent_admitted = recent_admitted
        self.fallback = tuple(fallback)
        self.recent: OrderedDict[str, tuple[tuple[Request, int], ...]] = OrderedDict()
        self._scorer: tuple[object, Scorer] | None = None
        self._base: _Base | None = None

    def target(self) -> TargetWorkload:
        """The target workload FGD-class policies score against right now."""
        counts: Counter[Request] = Counter()
        for pods in self.recent.values():
            for request, count in pods:
                counts[request] += count
        if counts:
            return TargetWorkload.from_weighted(counts.items())
        if self.fallback:
            return TargetWorkload.from_weighted(self.fallback)
        return TargetWorkload.from_requests(DEFAULT_TARGET)

    def learn(self, admitted: Sequence[AdmittedWorkload]) -> None:
        """Remember the pod requests of admitted workloads not seen before, in order of
        admission (so the window is the same whatever order the snapshot lists them)."""
        for adm in sorted(admitted, key=lambda a: (a.admitted_at, a.workload.key)):
            key = adm.workload.key
            if key in self.recent:
                continue
            by_name = {ps.name: ps for ps in adm.workload.pod_sets}
            pods = []
            for psa in adm.pod_sets:
                spec = by_name.get(psa.name)
                try:
                    request = request_of(spec.requests) if spec else None
                except PlacementError:
                    request = None
                if request is not None and request.mig_profile is None and psa.count:
                    pods.append((request, psa.count))
            self.recent[key] = tuple(pods)
            while len(self.recent) > self.recent_admitted:
                self.recent.popitem(last=False)

    def scorer(self) -> Scorer:
        """The policy's scorer; FGD-class ones are rebuilt only when the target changes."""
        if self.policy not in TARGETED:
            if self._scorer is None:
                self._scorer = (None, scorer_named(self.policy))
            return self._scorer[1]
        target = self.target()
        key = (target.keys, tuple(target.weight.tolist()))
        if self._scorer is None or self._scorer[0] != key:
            self._scorer = (key, scorer_named(self.policy, target))
        return self._scorer[1]

    def start(self, nodes: Sequence[Node], admitted: Sequence[AdmittedWorkload]) -> GpuView:
        self.learn(admitted)
        base = self._base
        nodes = tuple(nodes)
        if base is None or not (base.nodes is nodes or base.nodes == nodes):
            base = self._base = _Base(nodes)
        base.update(admitted)
        view = GpuView(nodes, base.cluster.copy(), self, self.scorer())
        view.index = base.index
        view.running = dict(base.running)
        return view


class _Base:
    """Node state with every running workload held: what each cycle's view starts from."""

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self.nodes = nodes
        self.cluster = ClusterState([spec_of(n) for n in nodes])
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.running: dict[tuple[str, str], Held] = {}
        self.admitted: dict[str, AdmittedWorkload] = {}
        for i, node in enumerate(nodes):
            _bind_used(self.cluster, i, node.used)

    def update(self, admitted: Sequence[AdmittedWorkload]) -> None:
        now = {a.workload.key: a for a in admitted}
        for key, old in list(self.admitted.items()):
            new = now.get(key)
            if new is None or not (new is old or new == old):
                _release(self.cluster, self.running, old)
                del self.admitted[key]
        for key, adm in now.items():
            if key not in self.admitted:
                _hold(self.cluster, self.index, self.running, adm)
                self.admitted[key] = adm


def _bind_used(cluster: ClusterState, i: int, used: Mapping[str, int]) -> None:
    """Pods outside queueing: whole GPUs, then any share, CPU and memory with them."""
    if not used:
        return
    gpu = used.get(GPU, 0)
    base = {"cpu": used.get("cpu", 0), "memory": used.get("memory", 0)}
    parts = [{**base, GPU: gpu - gpu % MILLI_PER_GPU}, {GPU: gpu % MILLI_PER_GPU}]
    for part in parts:
        if any(part.values()):
            request = request_of(part)
            cluster.bind(request, PodPlacement(i, gpus_for(cluster, request, i)))


def _bind_pod(
    cluster: ClusterState, request: Request, i: int, gpus: tuple[int, ...] | None
) -> PodPlacement:
    """Bind on the recorded GPUs when they are still free, else on the default choice."""
    if gpus is not None:
        try:
            pod = PodPlacement(i, gpus)
            cluster.bind(request, pod)
            return pod
        except PlacementError:
            pass
    pod = PodPlacement(i, gpus_for(cluster, request, i))
    cluster.bind(request, pod)
    return pod


def _hold(
    cluster: ClusterState,
    index: Mapping[str, int],
    running: dict[tuple[str, str], Held],
    admitted: AdmittedWorkload,
) -> None:
    by_name = {ps.name: ps for ps in admitted.workload.pod_sets}
    for psa in admitted.pod_sets:
        spec = by_name.get(psa.name)
        if spec is None or (psa.nodes is None and psa.devices is None):
            continue
        request = request_of(spec.requests)
        pods: list[tuple[str, tuple[int, ...] | None]]
        if psa.devices is not None:
            pods = [(d.node, d.gpus) for d in psa.devices]
        else:
            pods = [(n, None) for n, c in (psa.nodes or {}).items() for _ in range(c)]
        running[(admitted.workload.key, psa.name)] = [
            (request, _bind_pod(cluster, request, index[node], gpus))
            for node, gpus in pods
            if node in index
        ]


def _release(
    cluster: ClusterState, running: dict[tuple[str, str], Held], admitted: AdmittedWorkload
) -> None:
    for psa in admitted.pod_sets:
        for request, pod in running.pop((admitted.workload.key, psa.name), []):
            cluster.release(request, pod)


class GpuView:
    """One cycle's cluster state; remembers the devices each running pod holds."""

    def __init__(
        self, nodes: tuple[Node, ...], cluster: ClusterState, placer: GpuPlacer, scorer: Scorer
    ) -> None:
        self.nodes = nodes
        self.cluster = cluster
        self.placer = placer
        self.scorer = scorer
        self.index = {n.name: i for i, n in enumerate(nodes)}
        self.running: dict[tuple[str, str], Held] = {}
        # Keyed by id(pod_set), and holding the pod set itself: a trial's pod set (partial
        # admission makes one per trial) that was dropped could otherwise lend its id to a
        # later one, which then bound another pod set's GPU choice (found by hypothesis).
        self.chosen: dict[
            tuple[int, tuple[tuple[str, int], ...]], tuple[PodSet, list[PodPlacement]]
        ] = {}
        self.bound: dict[int, tuple[PodSet, list[PodPlacement]]] = {}
        # The last placement of a pod set, explained when it is bound (`explain`): only
        # admissions pay for the explanation, not every trial placement.
        self.placed: dict[int, tuple[PodSet, Sequence[Flavor], GangPlacement]] = {}
        self.notes: dict[int, tuple[PodSet, str]] = {}
        self.templates: dict[
            tuple[object, ...], tuple[list[int], NDArray[np.int64], ClusterState]
        ] = {}

    def copy(self) -> GpuView:
        new = GpuView(self.nodes, self.cluster.copy(), self.placer, self.scorer)
        new.index = self.index
        new.running = dict(self.running)
        new.chosen = dict(self.chosen)
        new.bound = dict(self.bound)
        new.placed = dict(self.placed)
        new.notes = dict(self.notes)
        new.templates = self.templates  # static shapes, refilled on every use
        return new

    def place(
        self, flavors: Sequence[Flavor], pod_set: PodSet
    ) -> tuple[Mapping[str, int] | None, str]:
        if pod_set.count == 0:
            return {}, ""
        candidates, sub = self._candidates(flavors, pod_set)
        if not candidates:
            return None, "no node matches the flavor"
        try:
            request = request_of(pod_set.requests)
        except PlacementError as err:
            return None, f"cannot be placed: {err}"
        level = pod_set.topology_required or pod_set.topology_preferred
        topology = None
        if level is not None:
            mode = Topology.REQUIRED if pod_set.topology_required else Topology.PREFERRED
            topology = TopologyConstraint(level, mode)
        gang = Gang(request, pod_set.count, topology)
        got = place(sub, gang, self.scorer, np.random.default_rng(self.placer.seed))
        if got is None:
            return None, self._shortfall(sub, request, pod_set)
        pods = [PodPlacement(candidates[p.node], p.gpus) for p in got.pods]
        nodes = dict(Counter(self.nodes[p.node].name for p in pods))
        self.placed[id(pod_set)] = (pod_set, flavors, got)
        self.chosen[(id(pod_set), tuple(sorted(nodes.items())))] = (pod_set, pods)
        return nodes, ""

    def bind(self, pod_set: PodSet, placement: Mapping[str, int]) -> None:
        request = request_of(pod_set.requests)
        entry = self.chosen.pop((id(pod_set), tuple(sorted(placement.items()))), None)
        pods = entry[1] if entry is not None and entry[0] is pod_set else None
        last = self.placed.pop(id(pod_set), None)
        if pods is not None and last is not None and last[0] is pod_set:
            _, sub = self._candidates(last[1], pod_set)  # the state `place` saw
            note = explain(sub, request, sub.fits(request), self.scorer, last[2])
            self.notes[id(pod_set)] = (pod_set, note)
        if pods is None:
            pods = [
                _bind_pod(self.cluster, request, self.index[node], None)
                for node, count in placement.items()
                for _ in range(count)
            ]
        else:
            for pod in pods:
                self.cluster.bind(request, pod)
        self.bound[id(pod_set)] = (pod_set, pods)

    def devices(self, pod_set: PodSet) -> tuple[PodDevices, ...] | None:
        """Node and GPUs of every pod of `pod_set` as last bound by this view."""
        entry = self.bound.get(id(pod_set))
        if entry is None or entry[0] is not pod_set:
            return None
        pods = entry[1]
        return tuple(PodDevices(self.nodes[p.node].name, p.gpus) for p in pods)

    def explain(self, pod_set: PodSet) -> str:
        """Why the policy chose the bound placement of `pod_set` (`placement.explain`)."""
        entry = self.notes.get(id(pod_set))
        return entry[1] if entry is not None and entry[0] is pod_set else ""

    def take(self, admitted: AdmittedWorkload, sign: int = 1) -> None:
        if sign < 0:
            _release(self.cluster, self.running, admitted)
        else:
            _hold(self.cluster, self.index, self.running, admitted)

    def _candidates(
        self, flavors: Sequence[Flavor], pod_set: PodSet
    ) -> tuple[list[int], ClusterState]:
        """Candidate node rows and a sub-cluster of them carrying current free capacity.

        Which nodes match never changes within a cycle, so rows and the sub-cluster's
        shape are built once per (flavors, selector, tolerations); only the free
        capacity is copied in each time. `place()` never changes the cluster it gets.
        """
        key = (
            tuple(f.name for f in flavors),
            tuple(sorted(pod_set.node_selector.items())),
            tuple(repr(t) for t in pod_set.tolerations),
        )
        hit = self.templates.get(key)
        if hit is None:
            rows = [i for i, n in enumerate(self.nodes) if matches(n, flavors, pod_set)]
            hit = (
                rows,
                np.array(rows, dtype=np.int64),
                ClusterState([self.cluster.specs[i] for i in rows]),
            )
            self.templates[key] = hit
        rows, idx, sub = hit
        full = self.cluster
        sub.cpu_free = full.cpu_free[idx]
        sub.mem_free = full.mem_free[idx]
        sub.gpu_free = full.gpu_free[idx, : sub.gpu_free.shape[1]]
        for col, profile in enumerate(sub.mig_profiles):
            sub.mig_free[:, col] = full.mig_free[idx, full.mig_profiles.index(profile)]
        sub.version = full.version[idx]
        sub.demands = [full.demands[i] for i in rows]
        return rows, sub

    def _shortfall(self, sub: ClusterState, request: Request, pod_set: PodSet) -> str:
        """How many pods of the gang the candidate nodes could hold, each on its own."""
        per_node = pods_per_node(sub, request)
        total = min(int(per_node.sum()), pod_set.count)
        if total == pod_set.count:
            level = pod_set.topology_required or pod_set.topology_preferred
            where = f"within one {level} domain" if level else "at once"
            return f"{len(sub)} matching nodes hold all {pod_set.count} pods, but not {where}"
        return (
            f"{len(sub)} matching nodes hold {total} of {pod_set.count} pods "
            f"(at most {int(per_node.max(initial=0))} on one node)"
        )


def pods_per_node(cluster: ClusterState, request: Request) -> NDArray[np.int64]:
    """Pods of `request` each node could still take (GPU devices counted one by one)."""
    big = np.iinfo(np.int64).max
    cpu = cluster.cpu_free // request.cpu_milli if request.cpu_milli else np.full(len(cluster), big)
    mem = (
        cluster.mem_free // request.memory_mib if request.memory_mib else np.full(len(cluster), big)
    )
    out = np.minimum(cpu, mem)
    if request.mig_profile is not None:
        if request.mig_profile not in cluster.mig_profiles:
            return np.zeros(len(cluster), dtype=np.int64)
        out = np.minimum(out, cluster.mig_free[:, cluster.mig_profiles.index(request.mig_profile)])
    elif request.is_shared:
        out = np.minimum(out, (cluster.gpu_free // request.gpu_milli).sum(axis=1))
    elif request.gpu_count:
        whole = (cluster.gpu_free == MILLI_PER_GPU).sum(axis=1)
        out = np.minimum(out, whole // request.gpu_count)
    return out.astype(np.int64)
