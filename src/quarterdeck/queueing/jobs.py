"""Job integration, pure: what the webhook and controller do to a Job, as patches.

A batch/v1 Job labelled `queueing.quarterdeck.dev/queue-name` (or Kueue's
`kueue.x-k8s.io/queue-name`, so Kueue users' Jobs work unchanged) is suspended at
creation and gets a Workload. On admission it is unsuspended with its flavors' node
labels and tolerations, its parallelism set to the admitted count, and a scheduling
gate on its pods; each gated pod is then pinned to the node placement chose and the
gate removed, so kube-scheduler binds where we decided. The `podSetUpdates` of its
AdmissionChecks (labels, annotations, node selector, tolerations) are merged into the
template on the way, as Kueue does. On eviction the Job is suspended; its original
node selector, tolerations and template labels and annotations (saved at admission)
are the base of the next admission.

Other job kinds (JobSet, PyTorchJob) plug in through `JobAdapter`. Objects are plain
JSON dicts as the API server returns them; results are merge patches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.queueing.check import PodSetUpdate
from quarterdeck.api.queueing.flavor import ResourceFlavor
from quarterdeck.api.queueing.workload import (
    Admission,
    PodSet,
    PodSetAssignment,
    Workload,
    WorkloadSpec,
)

QUEUE_LABELS = ("queueing.quarterdeck.dev/queue-name", "kueue.x-k8s.io/queue-name")
PRIORITY_LABELS = ("queueing.quarterdeck.dev/priority-class", "kueue.x-k8s.io/priority-class")
GATE = "queueing.quarterdeck.dev/placement"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
SAVED_SCHEDULING = "queueing.quarterdeck.dev/original-scheduling"
STAGED = "queueing.quarterdeck.dev/staged"  # on a staged Job (`staging`): when, RFC 3339

Object = Mapping[str, Any]
Patch = dict[str, Any]


class JobAdapter(Protocol):
    """What queueing needs from one job kind."""

    api_version: str
    kind: str

    def workload(self, job: Object) -> Workload: ...

    def on_create(self, job: Object) -> Patch: ...

    def on_admit(
        self,
        job: Object,
        admission: Admission,
        flavors: Mapping[str, ResourceFlavor],
        updates: Sequence[PodSetUpdate] = (),
    ) -> Patch: ...

    def on_evict(self, job: Object) -> Patch: ...

    def finished(self, job: Object) -> bool: ...


class PodSetUpdateConflict(ValueError):
    """Two podSetUpdates, or an update and the Job's own template or flavor, set one key
    to different values: the Job cannot start as every party asked."""


def merge_updates(
    base: Mapping[str, str], added: Sequence[Mapping[str, str]], what: str
) -> dict[str, str]:
    """`base` with every map of `added`; a key set to two values is a conflict (as in
    Kueue, an update never overrides)."""
    out = dict(base)
    for extra in added:
        for key, value in extra.items():
            if out.get(key, value) != value:
                raise PodSetUpdateConflict(
                    f"podSetUpdates conflict on {what} {key}: {out[key]!r} and {value!r}"
                )
            out[key] = value
    return out


def _with_removals(now: Mapping[str, Any], wanted: Mapping[str, str]) -> dict[str, str | None]:
    """A merge patch turning map `now` into `wanted` (keys no longer wanted set to null)."""
    patch: dict[str, str | None] = {k: None for k in now if k not in wanted}
    patch.update(wanted)
    return patch


def queue_name(obj: Object) -> str | None:
    """The queue a job asks for, by our label or Kueue's."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return next((labels[k] for k in QUEUE_LABELS if labels.get(k)), None)


class BatchJob:
    """batch/v1 Job: one pod set of `parallelism` pods."""

    api_version = "batch/v1"
    kind = "Job"

    def workload(self, job: Object) -> Workload:
        meta = job.get("metadata") or {}
        spec = job.get("spec") or {}
        labels = meta.get("labels") or {}
        name = meta.get("name", "")
        parallelism = int(spec.get("parallelism", 1))
        completions = spec.get("completions")
        count = min(parallelism, int(completions)) if completions is not None else parallelism
        min_count = _int_annotation(meta, "kueue.x-k8s.io/job-min-parallelism")
        return Workload(
            metadata=ObjectMeta(
                name=f"job-{name}",
                namespace=meta.get("namespace", ""),
                labels={k: v for k, v in labels.items() if k in QUEUE_LABELS},
            ),
            spec=WorkloadSpec(
                pod_sets=[
                    PodSet(
                        name="main",
                        count=count,
                        min_count=min_count,
                        template=dict(spec.get("template") or {}),
                    )
                ],
                queue_name=queue_name(job),
                priority_class_name=next(
                    (labels[k] for k in PRIORITY_LABELS if labels.get(k)), None
                ),
            ),
        )

    def on_create(self, job: Object) -> Patch:
        return {"spec": {"suspend": True}}

    def on_admit(
        self,
        job: Object,
        admission: Admission,
        flavors: Mapping[str, ResourceFlavor],
        updates: Sequence[PodSetUpdate] = (),
    ) -> Patch:
        """The patch that starts the Job where it was admitted; raises
        `PodSetUpdateConflict` when `updates` (the checks' podSetUpdates) conflict."""
        meta = job.get("metadata") or {}
        spec = job.get("spec") or {}
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        pod_meta = template.get("metadata") or {}
        saved = (meta.get("annotations") or {}).get(SAVED_SCHEDULING)
        # Start from what the user wrote, not from what an earlier admission added.
        original: dict[str, Any] = (
            json.loads(saved)
            if saved
            else {
                "nodeSelector": pod_spec.get("nodeSelector") or {},
                "tolerations": pod_spec.get("tolerations") or [],
                "affinity": pod_spec.get("affinity") or {},
            }
        )
        # Saved by an admission before podSetUpdates were applied: the template's own.
        original.setdefault("labels", pod_meta.get("labels") or {})
        original.setdefault("annotations", pod_meta.get("annotations") or {})
        sets = admission.pod_set_assignments
        assignment = sets[0] if sets else None
        selector = dict(original["nodeSelector"])
        tolerations = list(original["tolerations"])
        used = dict.fromkeys(assignment.flavors.values()) if assignment else {}
        for name in used:
            rf = flavors.get(name)
            if rf is None:
                continue
            selector.update(rf.spec.node_labels)
            for t in rf.spec.tolerations:
                entry = {k: v for k, v in _camel(t).items() if v is not None}
                if entry not in tolerations:
                    tolerations.append(entry)
        mine = [u for u in updates if u.name == (assignment.name if assignment else "main")]
        selector = merge_updates(selector, [u.node_selector for u in mine], "nodeSelector")
        labels = merge_updates(original["labels"], [u.labels for u in mine], "label")
        notes = merge_updates(original["annotations"], [u.annotations for u in mine], "annotation")
        for u in mine:
            for t in u.tolerations:
                entry = {k: v for k, v in _camel(t).items() if v is not None}
                if entry not in tolerations:
                    tolerations.append(entry)
        gates = [g for g in pod_spec.get("schedulingGates") or [] if g.get("name") != GATE]
        affinity = original.get("affinity") or {}
        nodes = _nodes(assignment)
        if len(nodes) == 1:
            # Every pod on one node: pin the template, no gate to lift pod by pod.
            affinity = pin_to_node({"affinity": affinity}, nodes[0])["affinity"]
        elif nodes:
            gates.append({"name": GATE})
        patch: Patch = {
            "metadata": {"annotations": {SAVED_SCHEDULING: json.dumps(original)}},
            "spec": {
                "suspend": False,
                "template": {
                    "spec": {
                        "nodeSelector": selector,
                        "tolerations": tolerations,
                        "schedulingGates": gates,
                        "affinity": affinity or None,
                    }
                },
            },
        }
        now_labels, now_notes = pod_meta.get("labels") or {}, pod_meta.get("annotations") or {}
        if labels != now_labels or notes != now_notes:
            patch["spec"]["template"]["metadata"] = {
                "labels": _with_removals(now_labels, labels),
                "annotations": _with_removals(now_notes, notes),
            }
        if assignment is not None and assignment.count is not None:
            patch["spec"]["parallelism"] = assignment.count
        return patch

    def on_evict(self, job: Object) -> Patch:
        """Suspend (and no longer staged): a running Job's template is immutable, so the
        flavor's node labels stay until the next admission recomputes them from the
        saved original."""
        if STAGED in ((job.get("metadata") or {}).get("annotations") or {}):
            return {"metadata": {"annotations": {STAGED: None}}, "spec": {"suspend": True}}
        return {"spec": {"suspend": True}}

    def finished(self, job: Object) -> bool:
        conditions = (job.get("status") or {}).get("conditions") or []
        return any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in conditions
        )


def pods_to_nodes(pods: Sequence[str], nodes: Mapping[str, int]) -> dict[str, str]:
    """Which gated pod goes to which node: pods in name order fill nodes in name order."""
    slots = [node for node in sorted(nodes) for _ in range(nodes[node])]
    return dict(zip(sorted(pods), slots, strict=False))


def release_gate(pod: Object, node: str) -> Patch:
    """Pin a gated pod to `node` and lift our gate (both allowed while it is gated).

    The pin is a required node affinity on the node's name (`matchFields`), which
    works whether or not nodes carry a hostname label; existing required terms are
    narrowed, never widened.
    """
    spec = pod.get("spec") or {}
    gates = [g for g in spec.get("schedulingGates") or [] if g.get("name") != GATE]
    return {"spec": {**pin_to_node(spec, node), "schedulingGates": gates}}


def gated(pod: Object) -> bool:
    """Whether `pod` still carries our scheduling gate."""
    return any(g.get("name") == GATE for g in (pod.get("spec") or {}).get("schedulingGates") or [])


def lift_gate(pod: Object, node_labels: Mapping[str, str]) -> Patch:
    """Lift our gate from a pod admitted without a node choice, restricted to its
    flavors' `node_labels` (a nodeSelector may be added to a gated pod, not changed)."""
    spec = pod.get("spec") or {}
    gates = [g for g in spec.get("schedulingGates") or [] if g.get("name") != GATE]
    patch: Patch = {"spec": {"schedulingGates": gates}}
    if node_labels:
        patch["spec"]["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **node_labels}
    return patch


def pin_to_node(pod_spec: Object, node: str) -> Patch:
    """`{"affinity": ...}` of `pod_spec` narrowed to the node named `node`."""
    spec = pod_spec
    pin = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = dict(spec.get("affinity") or {})
    node_affinity = dict(affinity.get("nodeAffinity") or {})
    required = dict(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [dict(t) for t in required.get("nodeSelectorTerms") or []] or [{}]
    for term in terms:
        term["matchFields"] = [*(term.get("matchFields") or []), pin]
    required["nodeSelectorTerms"] = terms
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    affinity["nodeAffinity"] = node_affinity
    return {"affinity": affinity}


def _nodes(assignment: PodSetAssignment | None) -> list[str]:
    """The nodes placement chose for a pod set (hostname-level topology assignment)."""
    if assignment is None or assignment.topology_assignment is None:
        return []
    return sorted({v for d in assignment.topology_assignment.domains for v in d.values})


def pinned_node(pod: Object) -> str | None:
    """The node a pod is bound or pinned to (by `release_gate`), if any."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and len(field.get("values") or []) == 1:
                return str(field["values"][0])
    return None


def _camel(toleration: Any) -> dict[str, Any]:
    return dict(msgspec.to_builtins(toleration))


def _int_annotation(meta: Mapping[str, Any], key: str) -> int | None:
    value = (meta.get("annotations") or {}).get(key)
    return int(value) if value is not None and str(value).isdigit() else None
