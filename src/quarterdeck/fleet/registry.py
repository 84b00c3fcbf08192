"""Which clusters are registered, under which name and labels, and what is wrong with them.

Pure: the shell hands in the kubeconfig Secrets of the operator's namespace, the Cluster
API ``Cluster`` objects and the kubeconfig Secrets found for them; this module decides
the registrations and every status, with no client and no clock.

Two sources, as users know them from Argo CD and Cluster API:
- a Secret labelled ``quarterdeck.dev/cluster`` (the label's value names the cluster,
  else the Secret's name does) holding a kubeconfig under ``kubeconfig`` or ``value``;
- a Cluster API ``Cluster`` that is Ready and whose ``<name>-kubeconfig`` Secret exists
  (key ``value``, Cluster API's convention), named after the Cluster and carrying its
  labels; it is registered once both hold and removed when either goes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.api.fleet import ClusterSource, GpuCount, ManagedClusterStatus
from quarterdeck.api.meta import Condition, set_condition
from quarterdeck.fleet.health import cluster_api_ready

CLUSTER_LABEL = "quarterdeck.dev/cluster"
SOURCE_LABEL = "fleet.quarterdeck.dev/source"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Registration:
    """One cluster to register; ``problem`` (reason, message) when it cannot be used."""

    name: str
    source: ClusterSource
    labels: dict[str, str]
    kubeconfig: bytes = field(default=b"", repr=False)  # credentials: never in a repr
    problem: tuple[str, str] | None = None


@dataclass(frozen=True)
class Decided:
    registrations: list[Registration]
    #: Sources left out because another source took their name: "source: why".
    refused: list[str] = field(default_factory=list)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _decoded(secret: Obj, keys: Sequence[str]) -> bytes:
    data = secret.get("data") or {}
    for key in keys:
        if data.get(key):
            try:
                return base64.b64decode(str(data[key]), validate=True)
            except ValueError:
                return b""
    return b""


def secret_registration(secret: Obj) -> Registration | None:
    """The registration a labelled kubeconfig Secret asks for; None without the label."""
    meta = _meta(secret)
    labels = dict(meta.get("labels") or {})
    if CLUSTER_LABEL not in labels:
        return None
    asked = labels.pop(CLUSTER_LABEL)
    name = asked if asked not in ("", "true") else str(meta.get("name", ""))
    source = ClusterSource(
        kind="Secret", name=str(meta.get("name", "")), namespace=str(meta.get("namespace", ""))
    )
    labels[SOURCE_LABEL] = "secret"
    kubeconfig = _decoded(secret, ("kubeconfig", "value", "config"))
    problem = None
    if not _DNS1123.match(name) or len(name) > 253:
        problem = ("InvalidName", f"cluster name {name[:80]!r} is not a DNS subdomain")
    elif not kubeconfig:
        problem = ("InvalidKubeconfig", "the Secret has no kubeconfig (key kubeconfig or value)")
    return Registration(name, source, labels, kubeconfig, problem)


def kubeconfig_secret_name(cluster: Obj) -> str:
    """Cluster API's convention: ``<cluster name>-kubeconfig`` in the Cluster's namespace."""
    return f"{_meta(cluster).get('name', '')}-kubeconfig"


def cluster_api_registration(cluster: Obj, secret: Obj | None) -> Registration | None:
    """The registration of a Cluster API Cluster: only once it is Ready, being
    deleted it is not, and its kubeconfig Secret exists."""
    meta = _meta(cluster)
    if meta.get("deletionTimestamp") or not cluster_api_ready(cluster) or secret is None:
        return None
    labels = dict(meta.get("labels") or {})
    labels[SOURCE_LABEL] = "clusterapi"
    source = ClusterSource(
        kind="ClusterAPI", name=str(meta.get("name", "")), namespace=str(meta.get("namespace", ""))
    )
    kubeconfig = _decoded(secret, ("value",))
    problem = (
        None
        if kubeconfig
        else ("InvalidKubeconfig", f"Secret {kubeconfig_secret_name(cluster)} has no key value")
    )
    return Registration(str(meta.get("name", "")), source, labels, kubeconfig, problem)


def _describe(source: ClusterSource) -> str:
    return f"{source.kind} {source.namespace}/{source.name}"


def decide(
    secrets: Sequence[Obj],
    clusters: Sequence[Obj],
    kubeconfigs: Mapping[tuple[str, str], Obj],
) -> Decided:
    """Every registration; when two sources want one name the first (Secrets before
    Cluster API, then by namespace and name) keeps it and the other is refused."""
    wanted: list[Registration] = []
    for secret in secrets:
        if (reg := secret_registration(secret)) is not None:
            wanted.append(reg)
    for cluster in clusters:
        meta = _meta(cluster)
        found = kubeconfigs.get((str(meta.get("namespace", "")), kubeconfig_secret_name(cluster)))
        if (reg := cluster_api_registration(cluster, found)) is not None:
            wanted.append(reg)
    wanted.sort(key=lambda r: (r.source.kind != "Secret", r.source.namespace, r.source.name))
    taken: dict[str, Registration] = {}
    refused: list[str] = []
    for reg in wanted:
        if reg.name in taken:
            first = _describe(taken[reg.name].source)
            why = f"cluster name {reg.name!r} is already registered by {first}"
            refused.append(f"{_describe(reg.source)}: {why}")
            continue
        taken[reg.name] = reg
    return Decided(sorted(taken.values(), key=lambda r: r.name), refused)


def same_servers(servers: Mapping[str, str]) -> dict[str, list[str]]:
    """For each registered name, the other names registered with the same server URL."""
    by_server: dict[str, list[str]] = {}
    for name, server in servers.items():
        if server:
            by_server.setdefault(server.rstrip("/").lower(), []).append(name)
    return {
        name: sorted(n for n in names if n != name)
        for names in by_server.values()
        if len(names) > 1
        for name in names
    }


@dataclass(frozen=True)
class Probe:
    """What one contact with a cluster found; ``error`` (reason, message) when it failed."""

    version: str = ""
    nodes: Sequence[Obj] = field(default_factory=list)
    error: tuple[str, str] | None = None


def gpu_counts(nodes: Sequence[Obj]) -> list[GpuCount]:
    """Allocatable GPUs per model (``nvidia.com/gpu.product``, else "unknown")."""
    totals: dict[str, tuple[int, int]] = {}
    for node in nodes:
        allocatable = ((node.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE)
        try:
            count = int(str(allocatable or "0"))
        except ValueError:
            count = 0
        if count <= 0:
            continue
        model = str((_meta(node).get("labels") or {}).get(GPU_PRODUCT_LABEL) or "unknown")
        have, nodes_of = totals.get(model, (0, 0))
        totals[model] = (have + count, nodes_of + 1)
    return [GpuCount(model=m, allocatable=c, nodes=n) for m, (c, n) in sorted(totals.items())]


def _node_ready(node: Obj) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _cond(type_: str, status: str, reason: str, message: str, now: str) -> Condition:
    return Condition(
        type=type_,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        message=message[:1024],
        last_transition_time=now,
    )


def cluster_status(
    prev: ManagedClusterStatus | None,
    problem: tuple[str, str] | None,
    probe: Probe | None,
    duplicates: Sequence[str],
    now: str,
) -> ManagedClusterStatus:
    """The status of one registration after a probe (or after a kubeconfig problem,
    in which case nothing was contacted). The last good facts are kept while the
    cluster does not answer, with ``reachable`` false and the reason on Ready."""
    old = prev or ManagedClusterStatus()
    conds = list(old.conditions)
    if duplicates:
        others = ", ".join(duplicates)
        conds = set_condition(
            conds,
            _cond(
                "DuplicateServer",
                "True",
                "SameServer",
                f"the same API server is also registered as {others}",
                now,
            ),
        )
    else:
        conds = [c for c in conds if c.type != "DuplicateServer"]
    if problem is not None or probe is None or probe.error is not None:
        reason, message = (
            problem or (probe.error if probe else None) or ("Unknown", "not contacted yet")
        )
        conds = set_condition(conds, _cond("Ready", "False", reason, message, now))
        return ManagedClusterStatus(
            conditions=conds,
            reachable=False,
            server_version=old.server_version,
            nodes=old.nodes,
            ready_nodes=old.ready_nodes,
            gpus=old.gpus,
            last_contact=old.last_contact,
        )
    ready = sum(1 for n in probe.nodes if _node_ready(n))
    message = f"{probe.version}, {ready}/{len(probe.nodes)} nodes ready"
    conds = set_condition(conds, _cond("Ready", "True", "Reachable", message, now))
    return ManagedClusterStatus(
        conditions=conds,
        reachable=True,
        server_version=probe.version,
        nodes=len(probe.nodes),
        ready_nodes=ready,
        gpus=gpu_counts(probe.nodes),
        last_contact=now,
    )
