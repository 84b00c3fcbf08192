"""Small builders for queueing test scenarios: GPU queues, jobs, nodes (milli-units inside)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from quarterdeck.queueing import (
    AdmittedWorkload,
    ClusterQueue,
    Flavor,
    FlavorQuota,
    Node,
    PodSet,
    PodSetAdmission,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
)

GPU = "nvidia.com/gpu"
LABEL = "gpu.quarterdeck.dev/model"


def queue(
    name: str,
    flavors: Mapping[str, int] | int,
    cohort: str | None = None,
    borrowing: int | None = None,
    lending: int | None = None,
    strategy: str = "BestEffortFIFO",
    within: str = "Never",
    reclaim: str = "Never",
    weight: float = 1.0,
    when_can_borrow: str = "Borrow",
    when_can_preempt: str = "TryNextFlavor",
    stop_policy: str = "None",
) -> ClusterQueue:
    """A queue with GPU quota per flavor (whole GPUs), tried in the mapping's order."""
    nominal = {"h100": flavors} if isinstance(flavors, int) else dict(flavors)
    group = ResourceGroup(
        covered=(GPU,),
        flavors=tuple(
            FlavorQuota(
                f,
                {
                    GPU: Quota(
                        n * 1000,
                        None if borrowing is None else borrowing * 1000,
                        None if lending is None else lending * 1000,
                    )
                },
            )
            for f, n in nominal.items()
        ),
    )
    return ClusterQueue(
        name=name,
        resource_groups=(group,),
        cohort=cohort,
        strategy=strategy,  # type: ignore[arg-type]
        preemption=Preemption(within, reclaim),  # type: ignore[arg-type]
        when_can_borrow=when_can_borrow,  # type: ignore[arg-type]
        when_can_preempt=when_can_preempt,  # type: ignore[arg-type]
        weight=weight,
        stop_policy=stop_policy,  # type: ignore[arg-type]
    )


def job(
    key: str,
    cq: str,
    gpus: int = 1,
    count: int = 1,
    priority: int = 0,
    created: float = 0.0,
    pod_sets: Sequence[PodSet] | None = None,
    topology: str | None = None,
) -> Workload:
    """A workload of `count` pods with `gpus` whole GPUs each (or explicit pod sets)."""
    sets = (
        tuple(pod_sets)
        if pod_sets
        else (PodSet("main", count, {GPU: gpus * 1000}, topology_required=topology),)
    )
    return Workload(key, cq, sets, priority=priority, created=created)


def running(
    wl: Workload, flavor: str = "h100", at: float = 0.0, nodes: Mapping[str, int] | None = None
) -> AdmittedWorkload:
    """`wl` as already admitted on `flavor` (single pod set)."""
    sets = tuple(
        PodSetAdmission(ps.name, ps.count, {r: flavor for r in ps.total()}, ps.total(), nodes)
        for ps in wl.pod_sets
    )
    return AdmittedWorkload(wl, sets, admitted_at=at)


def flavors(*names: str) -> dict[str, Flavor]:
    return {n: Flavor(n, {LABEL: n}) for n in names}


def nodes(flavor: str, count: int, gpus: int, rack_size: int = 0) -> list[Node]:
    out = []
    for i in range(count):
        labels = {LABEL: flavor}
        if rack_size:
            labels["rack"] = f"{flavor}-rack{i // rack_size}"
        out.append(Node(f"{flavor}-{i}", labels, {GPU: gpus * 1000}))
    return out


def world(
    queues: Iterable[ClusterQueue],
    pending: Iterable[Workload] = (),
    admitted: Iterable[AdmittedWorkload] = (),
    flavor_names: Sequence[str] = ("h100", "a100"),
    node_list: Iterable[Node] = (),
    fair_sharing: bool = False,
) -> Snapshot:
    return Snapshot(
        cluster_queues={q.name: q for q in queues},
        flavors=flavors(*flavor_names),
        admitted=tuple(admitted),
        pending=tuple(pending),
        nodes=tuple(node_list),
        fair_sharing=fair_sharing,
    )


def queue_manifests(
    flavor: str, resource: str, quota: int, namespace: str, local_queue: str
) -> str:
    """Kueue manifests (YAML) of one ResourceFlavor, a ClusterQueue named after it with
    `quota` of `resource` on it, and a LocalQueue `local_queue` in `namespace` pointing at
    it: the start of a scenario read as a user writes it (`load_manifests`)."""
    return f"""apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {{name: {flavor}}}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {{name: {flavor}}}
spec:
  namespaceSelector: {{}}
  resourceGroups:
  - coveredResources: ["{resource}"]
    flavors:
    - name: {flavor}
      resources: [{{name: "{resource}", nominalQuota: {quota}}}]
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {{name: {local_queue}, namespace: {namespace}}}
spec: {{clusterQueue: {flavor}}}
"""
