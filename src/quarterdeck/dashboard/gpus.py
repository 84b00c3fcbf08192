"""The GPU page: a heatmap of nodes by GPUs, grouped by rack (or NVLink domain). Pure.

A node's cells are its GPUs (`nvidia.com/gpu` allocatable) and its MIG instances
(`nvidia.com/mig-*`). The pods holding the node fill them in order: a whole-GPU pod
fills as many cells as it asks for, shares (`quarterdeck.dev/gpu-milli`, read by
showback's `claim_of`) pack into a cell that becomes *shared*, a MIG pod takes one
instance of its profile. The API does not say which device a pod holds, so the order
of the cells is ours; the counts are the cluster's.

`partial free` is the free capacity left on shared GPUs: capacity no whole-GPU job can
use. It is a plain count, not the placer's expected-fragmentation measure (which needs
the target workload's task mix; `qd queue why` prints that one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from quarterdeck.api.queueing.quantity import QuantityError
from quarterdeck.dashboard.views import TERMINAL, quantity
from quarterdeck.showback.claims import MIG_PREFIX, MILLI_PER_GPU, SHARE_ANNOTATION, claim_of

Obj = Mapping[str, Any]
GPU = "nvidia.com/gpu"
GROUP_LABELS = ("quarterdeck.dev/rack", "quarterdeck.dev/nvlink-domain")


def _holding(pods: Iterable[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") not in TERMINAL:
            out.setdefault(str(node), []).append(pod)
    return out


def node_cells(node: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
    """One cell per GPU and per MIG instance of `node`: state, holder(s), milli used."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    cells: list[dict[str, Any]] = [
        {"kind": "gpu", "state": "free", "milli": 0, "pods": []}
        for _ in range(int(quantity(allocatable.get(GPU, 0))))
    ]
    for resource, count in sorted(allocatable.items()):
        if resource.startswith(MIG_PREFIX):
            profile = resource.removeprefix(MIG_PREFIX)
            cells += [{"kind": "mig", "profile": profile, "state": "mig-free", "milli": 0,
                       "pods": []} for _ in range(int(quantity(count)))]
    # whole GPUs first, then shares packed into what is left (each group by name)
    ordered = sorted(pods, key=lambda p: (
        bool(((p.get("metadata") or {}).get("annotations") or {}).get(SHARE_ANNOTATION)),
        str((p.get("metadata") or {}).get("name", ""))))
    for pod in ordered:
        name = f"{(pod.get('metadata') or {}).get('namespace', '')}/" \
               f"{(pod.get('metadata') or {}).get('name', '')}"
        try:
            claim = claim_of(pod)
        except QuantityError:
            continue  # a malformed request holds nothing the page can show
        if claim.mig_profile:
            cell = next((c for c in cells if c["kind"] == "mig" and c["state"] == "mig-free"
                         and c["profile"] == claim.mig_profile), None)
            if cell is not None:
                cell.update(state="mig-used", milli=MILLI_PER_GPU, pods=[name])
            continue
        whole, share = divmod(claim.gpu_milli, MILLI_PER_GPU)
        for _ in range(whole):
            cell = next((c for c in cells if c["kind"] == "gpu" and c["state"] == "free"), None)
            if cell is None:
                break
            cell.update(state="used", milli=MILLI_PER_GPU, pods=[name])
        if share:
            cell = next((c for c in cells if c["kind"] == "gpu" and c["state"] == "shared"
                         and c["milli"] + share <= MILLI_PER_GPU), None) or next(
                (c for c in cells if c["kind"] == "gpu" and c["state"] == "free"), None)
            if cell is not None:
                cell.update(state="shared", milli=cell["milli"] + share,
                            pods=[*cell["pods"], name])
    return cells


def heatmap(nodes: Iterable[Obj], pods: Iterable[Obj]) -> dict[str, Any]:
    """GPU nodes grouped by rack / NVLink domain, each with its cells, and the totals."""
    holding = _holding(pods)
    groups: dict[str, list[dict[str, Any]]] = {}
    totals = {"gpus": 0, "used": 0, "shared": 0, "free": 0, "migUsed": 0, "migFree": 0,
              "partialFreeMilli": 0}
    for node in sorted(nodes, key=lambda n: str((n.get("metadata") or {}).get("name", ""))):
        meta = node.get("metadata") or {}
        cells = node_cells(node, holding.get(str(meta.get("name", "")), []))
        if not cells:
            continue  # a CPU node
        labels = meta.get("labels") or {}
        group = next((str(labels[k]) for k in GROUP_LABELS if labels.get(k)), "—")
        groups.setdefault(group, []).append({
            "name": meta.get("name", ""),
            "model": labels.get("nvidia.com/gpu.product", ""),
            "cells": cells,
        })
        for cell in cells:
            key = {"used": "used", "shared": "shared", "free": "free", "mig-used": "migUsed",
                   "mig-free": "migFree"}[cell["state"]]
            totals[key] += 1
            totals["gpus"] += cell["kind"] == "gpu"
            if cell["state"] == "shared":
                totals["partialFreeMilli"] += MILLI_PER_GPU - cell["milli"]
    return {"groups": [{"name": k, "nodes": v} for k, v in sorted(groups.items())],
            "totals": totals}
