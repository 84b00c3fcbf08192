"""CustomResourceDefinitions generated from the msgspec types, so schema and code agree.

msgspec emits JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema: no $ref,
every node typed, int-or-string marked, free-form objects marked to keep their fields.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from quarterdeck.api.queueing.clusterqueue import ClusterQueue, Cohort, LocalQueue
from quarterdeck.api.queueing.flavor import ResourceFlavor, Topology
from quarterdeck.api.queueing.meta import GROUP, VERSION
from quarterdeck.api.queueing.workload import Workload, WorkloadPriorityClass

Schema = dict[str, Any]

# kind -> (plural, scope, short names, printer columns)
_RESOURCES: dict[str, tuple[str, str, list[str], list[tuple[str, str, str]]]] = {
    "ResourceFlavor": ("resourceflavors", "Cluster", ["flavor", "rf"], []),
    "Topology": ("topologies", "Cluster", [], []),
    "ClusterQueue": (
        "clusterqueues",
        "Cluster",
        ["cq"],
        [
            ("Cohort", "string", ".spec.cohort"),
            ("Strategy", "string", ".spec.queueingStrategy"),
            ("Pending", "integer", ".status.pendingWorkloads"),
            ("Admitted", "integer", ".status.admittedWorkloads"),
        ],
    ),
    "Cohort": (
        "cohorts",
        "Cluster",
        [],
        [("Parent", "string", ".spec.parentName")],
    ),
    "LocalQueue": (
        "localqueues",
        "Namespaced",
        ["queue", "lq"],
        [
            ("ClusterQueue", "string", ".spec.clusterQueue"),
            ("Pending", "integer", ".status.pendingWorkloads"),
            ("Admitted", "integer", ".status.admittedWorkloads"),
        ],
    ),
    "Workload": (
        "workloads",
        "Namespaced",
        ["wl"],
        [
            ("Queue", "string", ".spec.queueName"),
            ("Reserved in", "string", ".status.admission.clusterQueue"),
            ("Admitted", "string", '.status.conditions[?(@.type=="Admitted")].status'),
        ],
    ),
    "WorkloadPriorityClass": ("workloadpriorityclasses", "Cluster", ["wpc"], []),
}

_TYPES: dict[str, type[msgspec.Struct]] = {
    "ResourceFlavor": ResourceFlavor,
    "Topology": Topology,
    "ClusterQueue": ClusterQueue,
    "Cohort": Cohort,
    "LocalQueue": LocalQueue,
    "Workload": Workload,
    "WorkloadPriorityClass": WorkloadPriorityClass,
}


def crd(kind: str) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CRD for `kind` (one of the queueing kinds)."""
    plural, scope, short_names, columns = _RESOURCES[kind]
    cls = _TYPES[kind]
    raw = msgspec.json.schema(cls)
    schema = structural(raw, raw.get("$defs", {}))
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = [r for r in schema.get("required", []) if r != "metadata"]
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if "status" in props:
        version["subresources"] = {"status": {}}
    if columns:
        version["additionalPrinterColumns"] = [
            {"name": name, "type": typ, "jsonPath": path} for name, typ, path in columns
        ]
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short_names:
        names["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": scope,
            "versions": [version],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    """Every queueing CRD, in an order safe to apply."""
    return [crd(kind) for kind in _RESOURCES]


def structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Rewrite one msgspec JSON Schema node into a structural OpenAPI v3 node."""
    if "$ref" in node:
        return structural(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        types = {b.get("type") for b in branches}
        if types >= {"integer", "string"}:
            out: Schema = {"x-kubernetes-int-or-string": True}
        elif len(branches) == 1:
            out = structural(branches[0], defs)
        else:
            raise TypeError(f"cannot express union {node['anyOf']} structurally")
        return _with_description(out, node)
    out = {k: v for k, v in node.items() if k in ("type", "enum") or (k == "required" and v)}
    _with_description(out, node)
    if node.get("default") is not None and node.get("default") not in ({}, []):
        out["default"] = node["default"]
    if "properties" in node:
        out["properties"] = {k: structural(v, defs) for k, v in node["properties"].items()}
        out["type"] = "object"
    elif node.get("type") == "object":
        if "additionalProperties" in node:
            out["additionalProperties"] = structural(node["additionalProperties"], defs)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if "items" in node:
        out["items"] = structural(node["items"], defs)
    if "enum" in node and "type" not in out:
        out["type"] = "string"
    return out


def _with_description(out: Schema, node: Schema) -> Schema:
    if "description" in node and "description" not in out:
        out["description"] = inspect.cleandoc(node["description"])
    return out
