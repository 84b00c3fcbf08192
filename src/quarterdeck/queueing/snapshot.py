"""Build a cycle `Snapshot` from API objects (manifests or a cluster listing), and back.

Pure translation: quantities become milli-integers, LocalQueues resolve to their
ClusterQueue, priority classes to numbers, admitted Workloads to usage. A Workload
whose queue cannot be resolved still enters the snapshot, carrying the error, so the
cycle reports it Inadmissible instead of dropping it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import msgspec

from quarterdeck.api.queueing.check import CONTROLLERS, AdmissionCheck
from quarterdeck.api.queueing.clusterqueue import ClusterQueue as ApiClusterQueue
from quarterdeck.api.queueing.clusterqueue import Cohort as ApiCohort
from quarterdeck.api.queueing.clusterqueue import LocalQueue
from quarterdeck.api.queueing.clusterqueue import ResourceGroup as ApiResourceGroup
from quarterdeck.api.queueing.flavor import ResourceFlavor
from quarterdeck.api.queueing.manifests import QueueingObject
from quarterdeck.api.queueing.meta import Taint, Toleration
from quarterdeck.api.queueing.quantity import from_milli, to_milli
from quarterdeck.api.queueing.workload import (
    ADMITTED,
    EVICTED,
    FINISHED,
    QUOTA_RESERVED,
    Admission,
    PodDeviceAssignment,
    PodSetAssignment,
    TopologyAssignment,
    TopologyDomainAssignment,
    WorkloadPriorityClass,
    pod_requests,
)
from quarterdeck.api.queueing.workload import Workload as ApiWorkload
from quarterdeck.queueing.decisions import Admit
from quarterdeck.queueing.dra import (
    DEVICE_CLASS_RESOURCES,
    ClaimDevices,
    ClaimError,
    ClaimKey,
    claim_requests,
)
from quarterdeck.queueing.model import (
    AdmittedWorkload,
    ClusterQueue,
    Cohort,
    Flavor,
    FlavorQuota,
    Node,
    PodDevices,
    PodSet,
    PodSetAdmission,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
)

HOSTNAME = "kubernetes.io/hostname"

# Where an API Workload instance went: its key, and its admitted entry, its pending
# Workload, or None (inactive).
Placed = tuple[ApiWorkload, str, AdmittedWorkload | Workload | None]
# By key: the API Workload instance converted, its pod sets before claims, the Workload.
Converted = dict[str, tuple[ApiWorkload, tuple[PodSet, ...], Workload]]


@dataclass
class WorkloadMemo:
    """What one snapshot leaves to the next (`snapshot_from_objects`), so a pass over
    15,000 Workloads of which ten changed converts ten.

    `converted`: by key, the API instance converted, its pod sets before claims and
    the Workload built. `placed`: by instance (`id`, the instance kept alive in the
    entry), where it went, valid while `context`, everything else a conversion
    reads, is unchanged."""

    converted: Converted = field(default_factory=dict)
    context: tuple[object, ...] | None = None
    placed: dict[int, Placed] = field(default_factory=dict)


def snapshot_from_objects(
    objects: Iterable[QueueingObject],
    nodes: Iterable[Node] = (),
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    now: float = 0.0,
    fair_sharing: bool = False,
    claims: Mapping[ClaimKey, ClaimDevices] | None = None,
    device_classes: Mapping[str, str] = DEVICE_CLASS_RESOURCES,
    memo: WorkloadMemo | None = None,
) -> Snapshot:
    """A snapshot of `objects`; `namespaces` maps namespace name to its labels,
    `claims` the devices of each ResourceClaim(Template) pods may name and
    `device_classes` what each DeviceClass is charged as (`dra`).

    `memo`, kept by the caller from one snapshot to the next, lets an unchanged
    Workload object (the same instance) skip its conversion; the snapshot is the same
    with or without it. Entries of Workloads not in `objects` are dropped."""
    objs = list(objects)
    flavors = {o.metadata.name: flavor(o) for o in objs if isinstance(o, ResourceFlavor)}
    api_cqs = {o.metadata.name: o for o in objs if isinstance(o, ApiClusterQueue)}
    checks = {o.metadata.name: o for o in objs if isinstance(o, AdmissionCheck)}
    queues = {name: cluster_queue(o, checks) for name, o in api_cqs.items()}
    cohorts = {o.metadata.name: cohort(o) for o in objs if isinstance(o, ApiCohort)}
    local = {
        (o.metadata.namespace or "default", o.metadata.name): o
        for o in objs
        if isinstance(o, LocalQueue)
    }
    priorities = {o.metadata.name: o.value for o in objs if isinstance(o, WorkloadPriorityClass)}
    # Everything a Workload's conversion reads besides the Workload itself.
    context = (
        {key: lq.spec for key, lq in local.items()},
        {name: o.spec.namespace_selector for name, o in api_cqs.items()},
        priorities,
        namespaces or {},
        claims or {},
        dict(device_classes),
    )
    before: dict[int, Placed] = {}
    if memo is not None and memo.context == context:
        before = memo.placed
    placed: dict[int, Placed] = {}
    admitted: list[AdmittedWorkload] = []
    pending: list[Workload] = []
    for o in objs:
        if not isinstance(o, ApiWorkload):
            continue
        hit = before.get(id(o))
        if hit is None or hit[0] is not o:
            status = o.status
            if status is not None and status.is_true(FINISHED):
                continue
            converted = memo.converted if memo is not None else None
            wl = workload(
                o, local, api_cqs, priorities, namespaces or {}, claims or {}, device_classes,
                converted,
            )  # fmt: skip
            hit = (o, wl.key, _place(wl, o))
        placed[id(o)] = hit
        if isinstance(hit[2], AdmittedWorkload):
            admitted.append(hit[2])
        elif hit[2] is not None:
            pending.append(hit[2])
    if memo is not None:
        keys = {key for _, key, _ in placed.values()}
        for key in [k for k in memo.converted if k not in keys]:
            del memo.converted[key]
        memo.context, memo.placed = context, placed
    return Snapshot(
        cluster_queues=queues,
        flavors=flavors,
        admitted=tuple(admitted),
        pending=tuple(pending),
        nodes=tuple(nodes),
        fair_sharing=fair_sharing,
        now=now,
        cohorts=cohorts,
    )


def _place(wl: Workload, o: ApiWorkload) -> AdmittedWorkload | Workload | None:
    """`wl` (converted from `o`) as admitted, as pending, or None when inactive."""
    status = o.status
    if status is not None and status.admission is not None and status.is_true(QUOTA_RESERVED):
        reserved = status.condition(QUOTA_RESERVED)
        since = _seconds(reserved.last_transition_time if reserved else None)
        waiting = bool(status.admission_checks) and not status.is_true(ADMITTED)
        held = _admitted(wl, status.admission, since)
        return replace(held, waiting=waiting, evicting=status.is_true(EVICTED))
    return wl if o.spec.active else None


def node_from_object(obj: Mapping[str, Any], where: str) -> Node:
    """A core/v1 Node manifest as the cycle sees it: labels, taints, allocatable."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: Node without metadata.name")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    if not isinstance(allocatable, Mapping) or not allocatable:
        raise ValueError(f"{where} (Node {name}): status.allocatable is missing")
    try:
        taints = msgspec.convert(spec.get("taints") or [], list[Taint])
    except msgspec.ValidationError as err:
        raise ValueError(f"{where} (Node {name}): spec.taints: {err}") from err
    return Node(
        name=name,
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        allocatable={
            r: to_milli(v, f"{where} (Node {name}): status.allocatable.{r}")
            for r, v in allocatable.items()
        },
        taints=tuple(taints),
    )


def flavor(rf: ResourceFlavor) -> Flavor:
    return Flavor(
        name=rf.metadata.name,
        node_labels=dict(rf.spec.node_labels),
        taints=tuple(rf.spec.node_taints),
        tolerations=tuple(rf.spec.tolerations),
    )


def resource_groups(groups: list[ApiResourceGroup]) -> tuple[ResourceGroup, ...]:
    """Model resource groups from validated API ones (quantities already checked)."""
    return tuple(
        ResourceGroup(
            covered=tuple(g.covered_resources),
            flavors=tuple(
                FlavorQuota(
                    flavor=f.name,
                    resources={
                        r.name: Quota(
                            nominal=to_milli(r.nominal_quota, "nominalQuota"),
                            borrowing_limit=None
                            if r.borrowing_limit is None
                            else to_milli(r.borrowing_limit, "borrowingLimit"),
                            lending_limit=None
                            if r.lending_limit is None
                            else to_milli(r.lending_limit, "lendingLimit"),
                        )
                        for r in f.resources
                    },
                )
                for f in g.flavors
            ),
        )
        for g in groups
    )


def cohort(obj: ApiCohort) -> Cohort:
    weight = obj.spec.fair_sharing.weight if obj.spec.fair_sharing else 1
    return Cohort(
        name=obj.metadata.name,
        parent=obj.spec.parent_of,
        resource_groups=resource_groups(obj.spec.resource_groups),
        weight=to_milli(weight, "fairSharing.weight") / 1000,
    )


def cluster_queue(
    cq: ApiClusterQueue, checks: Mapping[str, AdmissionCheck] | None = None
) -> ClusterQueue:
    """Model of a validated ClusterQueue (quantities already checked by the loader).

    Without `checks` (the AdmissionCheck objects by name) the queue's checks are taken
    as run here; with them, one missing or run by a controller that does not run
    here makes the queue inactive, as Kueue does with a check that is not Active."""
    spec = cq.spec
    rules = spec.checks()
    inactive = None
    for rule in rules if checks is not None else []:
        check = (checks or {}).get(rule.name)
        if check is None:
            inactive = f"AdmissionCheck {rule.name} not found"
        elif check.spec.controller_name not in CONTROLLERS:
            inactive = (
                f"AdmissionCheck {rule.name} is for controller {check.spec.controller_name}, "
                f"which does not run here (this operator runs {', '.join(CONTROLLERS)})"
            )
        if inactive:
            break
    groups = resource_groups(spec.resource_groups)
    p = spec.preemption
    bwc = p.borrow_within_cohort
    weight = spec.fair_sharing.weight if spec.fair_sharing else 1
    return ClusterQueue(
        name=cq.metadata.name,
        resource_groups=groups,
        cohort=spec.cohort_of,
        strategy=spec.queueing_strategy,
        preemption=Preemption(
            within_cluster_queue=p.within_cluster_queue,
            reclaim_within_cohort=p.reclaim_within_cohort,
            borrow_within_cohort=bwc.policy if bwc else "Never",
            borrow_max_priority=bwc.max_priority_threshold if bwc else None,
        ),
        when_can_borrow="TryNextFlavor"
        if spec.flavor_fungibility.when_can_borrow == "TryNextFlavor"
        else "Borrow",
        when_can_preempt="TryNextFlavor"
        if spec.flavor_fungibility.when_can_preempt == "TryNextFlavor"
        else "Preempt",
        weight=to_milli(weight, "fairSharing.weight") / 1000,
        stop_policy=spec.stop_policy,
        admission_checks=tuple((r.name, tuple(r.on_flavors)) for r in rules),
        inactive=inactive,
    )


def workload(
    wl: ApiWorkload,
    local: Mapping[tuple[str, str], LocalQueue],
    queues: Mapping[str, ApiClusterQueue],
    priorities: Mapping[str, int],
    namespaces: Mapping[str, Mapping[str, str]],
    claims: Mapping[ClaimKey, ClaimDevices] | None = None,
    device_classes: Mapping[str, str] = DEVICE_CLASS_RESOURCES,
    memo: Converted | None = None,
) -> Workload:
    """The cycle's Workload for an API one; with `memo`, the same API instance reuses
    its pod sets (their requests are the costly part) and, when nothing around it
    changed either, the very Workload built last time."""
    ns = wl.metadata.namespace or "default"
    key = f"{ns}/{wl.metadata.name}"
    before = memo.get(key) if memo is not None else None
    if before is not None and before[0] is not wl:
        before = None
    error: str | None = None
    cq_name = ""
    lq = local.get((ns, wl.spec.queue_name or ""))
    if not wl.spec.queue_name:
        error = "spec.queueName is not set"
    elif lq is None:
        error = f"LocalQueue {ns}/{wl.spec.queue_name} not found"
    else:
        cq_name = lq.spec.cluster_queue
        cq = queues.get(cq_name)
        selector = cq.spec.namespace_selector if cq else None
        if lq.spec.stop_policy != "None":
            error = f"LocalQueue {ns}/{lq.metadata.name} is stopped ({lq.spec.stop_policy})"
        elif cq is not None and selector is None:
            # Kueue: an unset namespaceSelector selects nothing; {} selects everything.
            error = f"ClusterQueue {cq_name} has no namespaceSelector ({{}} admits all namespaces)"
        elif selector is not None and not selector.matches(dict(namespaces.get(ns, {}))):
            error = f"namespace {ns} is not selected by ClusterQueue {cq_name}"
    priority = wl.spec.priority
    if priority is None and wl.spec.priority_class_name:
        priority = priorities.get(wl.spec.priority_class_name)
        if priority is None and error is None:
            error = f"WorkloadPriorityClass {wl.spec.priority_class_name} not found"
    base = (
        before[1]
        if before is not None
        else tuple(
            replace(
                _pod_set(ps.name, ps.count, ps.template, ps.topology_request),
                min_count=ps.min_count,
            )
            for ps in wl.spec.pod_sets
        )
    )
    pod_sets = base
    try:  # devices asked for through resource claims, charged like extended resources
        pod_sets = tuple(
            _with_claims(ps, t.template, ns, claims or {}, device_classes)
            for ps, t in zip(base, wl.spec.pod_sets, strict=True)
        )
    except ClaimError as err:
        error = error or str(err)
    last = before[2] if before is not None else None
    if (
        last is not None
        and last.cluster_queue == cq_name
        and last.priority == (priority or 0)
        and last.error == error
        and last.pod_sets == pod_sets
    ):
        return last
    out = Workload(
        key=key,
        cluster_queue=cq_name,
        pod_sets=pod_sets,
        priority=priority or 0,
        created=_seconds(wl.metadata.creation_timestamp),
        error=error,
    )
    if memo is not None:
        memo[key] = (wl, base, out)
    return out


def _with_claims(
    ps: PodSet,
    template: dict[str, Any],
    namespace: str,
    claims: Mapping[ClaimKey, ClaimDevices],
    device_classes: Mapping[str, str],
) -> PodSet:
    if not (template.get("spec") or {}).get("resourceClaims"):
        return ps
    where = f"podSets[{ps.name}].template"
    extra = claim_requests(template, namespace, claims, where, ps.count, device_classes)
    requests = dict(ps.requests)
    for res, milli in extra.items():
        requests[res] = requests.get(res, 0) + milli
    return replace(ps, requests=requests)


def _pod_set(name: str, count: int, template: dict[str, Any], topology: Any) -> PodSet:
    spec = template.get("spec") or {}
    return PodSet(
        name=name,
        count=count,
        requests=pod_requests(template, f"podSets[{name}].template"),
        node_selector=dict(spec.get("nodeSelector") or {}),
        tolerations=tuple(Toleration(**_snake(t)) for t in spec.get("tolerations") or []),
        topology_required=topology.required if topology else None,
        topology_preferred=topology.preferred if topology else None,
        node_affinity=_node_affinity(spec, name),
    )


def _node_affinity(spec: Mapping[str, Any], name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The `In` expressions of a single required node-affinity term.

    Several terms (ORed) or other operators are not modelled: such a pod set gets no
    affinity here and the scheduler still enforces it on the pods.
    """
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if len(terms) != 1:
        return ()
    exprs = terms[0].get("matchExpressions") or []
    if not all(e.get("operator") == "In" for e in exprs):
        return ()
    return tuple(
        sorted((str(e["key"]), tuple(sorted(map(str, e.get("values") or [])))) for e in exprs)
    )


def _snake(toleration: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in toleration.items() if k in ("key", "operator", "value", "effect")}


def _seconds(timestamp: str | None) -> float:
    if not timestamp:
        return 0.0
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _admitted(wl: Workload, admission: Admission, admitted_at: float) -> AdmittedWorkload:
    """`admitted_at`: when quota was reserved (Kueue orders preemption victims by it)."""
    by_name = {ps.name: ps for ps in wl.pod_sets}
    pod_sets = []
    for psa in admission.pod_set_assignments:
        spec = by_name.get(psa.name)
        count = psa.count if psa.count is not None else (spec.count if spec else 0)
        usage = {r: to_milli(v, f"resourceUsage.{r}") for r, v in psa.resource_usage.items()}
        if not usage and spec is not None:
            usage = spec.total()
        nodes = None
        ta = psa.topology_assignment
        if ta is not None and ta.levels and ta.levels[-1] == HOSTNAME:
            nodes = {d.values[-1]: d.count for d in ta.domains}
        flavors = {r: f for r, f in psa.flavors.items() if r in usage}
        devices = (
            None
            if psa.devices is None
            else tuple(PodDevices(d.node, tuple(d.gpus)) for d in psa.devices)
        )
        pod_sets.append(PodSetAdmission(psa.name, count, flavors, usage, nodes, devices))
    return AdmittedWorkload(
        replace(wl, cluster_queue=admission.cluster_queue), tuple(pod_sets), admitted_at
    )


def admission_of(admit: Admit) -> Admission:
    """The Workload `status.admission` that records `admit` in the cluster."""
    return Admission(
        cluster_queue=admit.cluster_queue,
        pod_set_assignments=[
            PodSetAssignment(
                name=ps.name,
                flavors=dict(ps.flavors),
                resource_usage={r: from_milli(v) for r, v in ps.usage.items()},
                count=ps.count,
                topology_assignment=None
                if ps.nodes is None
                else TopologyAssignment(
                    levels=[HOSTNAME],
                    domains=[
                        TopologyDomainAssignment(values=[n], count=c)
                        for n, c in sorted(ps.nodes.items())
                    ],
                ),
                devices=None
                if ps.devices is None
                else [PodDeviceAssignment(node=d.node, gpus=list(d.gpus)) for d in ps.devices],
            )
            for ps in admit.pod_sets
        ],
    )
