"""Who owns what between an Application and the Rollouts it syncs: pure.

The Application owns the Rollout and every other object in Git, Services included.
The Rollout owns what it makes and switches: its Deployments (``NAME`` and
``NAME-canary``), their ReplicaSets and Pods (by ownerReference; they carry no owner
labels, so no Application prunes or heals them), and the ``spec.selector`` of its
blue/green Services (``activeService``, ``previewService``). A Service's selector is
an atomic map under server-side apply, so two managers cannot share its keys: one of
them must hold it whole. The Application therefore applies those Services without a
selector (its dry-run then shows the live one, so the switch is no drift and
self-heal has nothing to put back) and the rollout controller sets it whole: the
Rollout's ``selector.matchLabels`` plus the role it sends traffic to.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from quarterdeck.api.rollout import GROUP

Obj = dict[str, Any]


def _namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def switched_services(desired: Sequence[Obj]) -> set[tuple[str, str]]:
    """(namespace, name) of the Services whose selector a blue/green Rollout of
    ``desired`` switches."""
    out: set[tuple[str, str]] = set()
    for obj in desired:
        if obj.get("kind") != "Rollout" or not str(obj.get("apiVersion", "")).startswith(
            f"{GROUP}/"
        ):
            continue
        blue_green = ((obj.get("spec") or {}).get("strategy") or {}).get("blueGreen") or {}
        for field in ("activeService", "previewService"):
            if blue_green.get(field):
                out.add((_namespace(obj), str(blue_green[field])))
    return out


def hand_over(desired: Sequence[Obj]) -> list[Obj]:
    """``desired`` (namespaces settled) with the selector of every Service a Rollout
    switches left out, so the Application never applies it."""
    switched = switched_services(desired)
    if not switched:
        return list(desired)
    out = []
    for obj in desired:
        name = str((obj.get("metadata") or {}).get("name") or "")
        spec = obj.get("spec")
        if (
            obj.get("kind") == "Service"
            and obj.get("apiVersion") == "v1"
            and (_namespace(obj), name) in switched
            and isinstance(spec, dict)
            and "selector" in spec
        ):
            obj = copy.deepcopy(obj)
            del obj["spec"]["selector"]
        out.append(obj)
    return out
