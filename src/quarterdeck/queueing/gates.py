"""Scheduling gates of admitted Jobs, lifted pod by pod.

A Job admitted onto one node has its template pinned there and no gate. A Job over
several nodes carries our gate, and so do the pods of a staged Job (`staging`, whose
template can no longer change once admitted); each gated pod is pinned to a node
placement chose for it (the nodes' counts less the pods already bound or pinned
there) and the gate removed, so kube-scheduler binds where we decided. A gated pod
of an admission that chose no nodes gets its flavors' node labels instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from quarterdeck.queueing.jobs import gated as is_gated
from quarterdeck.queueing.jobs import lift_gate, pinned_node, pods_to_nodes, release_gate
from quarterdeck.queueing.model import AdmittedWorkload, Flavor
from quarterdeck.queueing.store import Obj
from quarterdeck.queueing.writes import PassReport, Writes


def release_gates(
    writes: Writes,
    admitted: tuple[AdmittedWorkload, ...],
    flavors: Mapping[str, Flavor],
    report: PassReport,
) -> None:
    """Pin gated pods of admitted Jobs to their nodes and lift the gate."""
    patches = [p for adm in admitted for p in gate_patches(writes, adm, flavors)]
    writes.each(lambda item: lift(writes, item, report), patches)


def lift(writes: Writes, item: tuple[str, str, Obj], report: PassReport) -> None:
    ns, pod_name, patch = item
    if writes.patch_pod(ns, pod_name, patch, report):
        report.released.append(f"{ns}/{pod_name}")


def gate_patches(
    writes: Writes, adm: AdmittedWorkload, flavors: Mapping[str, Flavor]
) -> list[tuple[str, str, Obj]]:
    """(namespace, pod, patch) for each gated pod of `adm`'s Job still to release."""
    ns, name = adm.workload.key.split("/", 1)
    if not name.startswith("job-"):
        return []
    nodes: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for ps in adm.pod_sets:
        nodes.update(ps.nodes or {})
        for flavor in ps.flavors.values():
            labels.update(flavors[flavor].node_labels if flavor in flavors else {})
    gated: dict[str, Obj] = {}
    for pod in writes.view.job_pods(ns, name.removeprefix("job-")):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if is_gated(pod):
            gated[pod["metadata"]["name"]] = pod
        else:
            node = pinned_node(pod)
            if node:
                nodes[node] -= 1  # already placed: that slot is taken
    if not gated:
        return []  # on one node the Job's template is pinned: no gate
    if not nodes:
        return [(ns, n, lift_gate(pod, labels)) for n, pod in gated.items()]
    free = {n: c for n, c in nodes.items() if c > 0}
    return [
        (ns, pod_name, release_gate(gated[pod_name], node))
        for pod_name, node in pods_to_nodes(list(gated), free).items()
    ]
