"""Scheduling gates of admitted Jobs spread over several nodes, lifted pod by pod.

A Job admitted onto one node has its template pinned there and no gate. A Job over
several nodes carries our gate; each gated pod is pinned to a node placement chose
for it (the nodes' counts less the pods already bound or pinned there) and the gate
removed, so kube-scheduler binds where we decided.
"""

from __future__ import annotations

from collections import Counter

from quarterdeck.queueing.jobs import GATE, pinned_node, pods_to_nodes, release_gate
from quarterdeck.queueing.model import AdmittedWorkload
from quarterdeck.queueing.store import Obj
from quarterdeck.queueing.writes import PassReport, Writes


def release_gates(
    writes: Writes, admitted: tuple[AdmittedWorkload, ...], report: PassReport
) -> None:
    """Pin gated pods of admitted Jobs to their nodes and lift the gate."""
    patches: list[tuple[str, str, Obj]] = []
    for adm in admitted:
        ns, name = adm.workload.key.split("/", 1)
        if not name.startswith("job-"):
            continue
        nodes: Counter[str] = Counter()
        for ps in adm.pod_sets:
            nodes.update(ps.nodes or {})
        if len(nodes) < 2:
            continue  # on one node the Job's template is pinned: no gate
        gated: dict[str, Obj] = {}
        for pod in writes.view.job_pods(ns, name.removeprefix("job-")):
            spec = pod.get("spec") or {}
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if any(g.get("name") == GATE for g in spec.get("schedulingGates") or []):
                gated[pod["metadata"]["name"]] = pod
            else:
                node = pinned_node(pod)
                if node:
                    nodes[node] -= 1  # already placed: that slot is taken
        free = {n: c for n, c in nodes.items() if c > 0}
        for pod_name, node in pods_to_nodes(list(gated), free).items():
            patches.append((ns, pod_name, release_gate(gated[pod_name], node)))

    def lift(item: tuple[str, str, Obj]) -> None:
        ns, pod_name, patch = item
        if writes.patch_pod(ns, pod_name, patch, report):
            report.released.append(f"{ns}/{pod_name}")

    writes.each(lift, patches)
