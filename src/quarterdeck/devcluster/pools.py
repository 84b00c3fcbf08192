"""Node pools: `4x gpu-h100-8` specs and YAML files, expanded into concrete fake nodes.

A spec is `COUNTx TEMPLATE[:KEY=VALUE,...]` where TEMPLATE is `gpu-MODEL-GPUS` or
`cpu-CORES`, and the options are name, cpu, memory, zone, rack-size, nvlink-size,
mig (`1g.10gb` or `1g.10gb*7`: every GPU partitioned into that profile) and
taint (`true`: the `nvidia.com/gpu=present:NoSchedule` taint GPU operators set).
Everything here is pure: parsing and expansion never touch a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.devcluster.gpus import GpuModel, lookup

MAX_NODES = 20_000
_SPEC = re.compile(r"^\s*(\d+)\s*x\s*([a-z0-9-]+)\s*(?::(.*))?$", re.IGNORECASE)
_GPU_TEMPLATE = re.compile(r"^gpu-([a-z0-9]+(?:-40)?)-(\d+)$")
_CPU_TEMPLATE = re.compile(r"^cpu-(\d+)$")
_OPTIONS = {"name", "cpu", "memory", "zone", "rack-size", "nvlink-size", "mig", "taint"}
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T)?$")


class PoolSpecError(ValueError):
    """A pool spec or pool file is malformed; the message quotes it and says how to fix it."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodePool:
    name: str
    count: int
    cpu: str
    memory: str
    gpu_model: GpuModel | None = None
    gpus: int = 0
    #: MIG profile -> slices per GPU; when set every GPU of the node is partitioned.
    mig: dict[str, int] = field(default_factory=dict)
    zone: str = "zone-a"
    rack_size: int = 0  # nodes per rack; 0: no rack label
    nvlink_size: int = 1  # nodes per NVLink domain (1: each node its own domain)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    """One fake node: what its Node object's labels, capacity and taints will be."""

    name: str
    labels: dict[str, str]
    capacity: dict[str, str]
    taints: tuple[Taint, ...] = ()


GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")


def _positive_int(text: str, what: str, spec: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise PoolSpecError(f"pool spec {spec!r}: {what} must be a positive integer, got {text!r}")
    return int(text)


def _quantity(text: str, what: str, spec: str) -> str:
    if not _QUANTITY.match(text):
        raise PoolSpecError(f"pool spec {spec!r}: {what} {text!r} is not a Kubernetes quantity")
    return text


def _parse_mig(text: str, model: GpuModel, spec: str) -> dict[str, int]:
    profile, _, per_gpu = text.partition("*")
    if profile not in model.mig_profiles:
        allowed = ", ".join(model.mig_profiles) or "none"
        raise PoolSpecError(
            f"pool spec {spec!r}: {model.key} has no MIG profile {profile!r} (allowed: {allowed})"
        )
    most = model.mig_profiles[profile]
    count = _positive_int(per_gpu, "MIG slices per GPU", spec) if per_gpu else most
    if count > most:
        raise PoolSpecError(f"pool spec {spec!r}: a {model.key} holds at most {most} x {profile}")
    return {profile: count}


def parse_spec(spec: str) -> NodePool:
    """Parse `COUNTx TEMPLATE[:opts]` into a NodePool, or raise PoolSpecError."""
    m = _SPEC.match(spec)
    if m is None:
        raise PoolSpecError(
            f"pool spec {spec!r} is malformed: expected COUNTx TEMPLATE[:key=value,...], "
            "e.g. '4x gpu-h100-8' or '2x cpu-16:zone=zone-b'"
        )
    count = _positive_int(m.group(1), "node count", spec)
    if count > MAX_NODES:
        raise PoolSpecError(f"pool spec {spec!r}: at most {MAX_NODES} nodes per pool")
    template = m.group(2).lower()
    options: dict[str, str] = {}
    for item in filter(None, (m.group(3) or "").split(",")):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _OPTIONS:
            raise PoolSpecError(
                f"pool spec {spec!r}: unknown option {item!r} "
                f"(options: {', '.join(sorted(_OPTIONS))})"
            )
        options[key] = value.strip()

    model: GpuModel | None = None
    gpus = 0
    if g := _GPU_TEMPLATE.match(template):
        try:
            model = lookup(g.group(1))
        except ValueError as e:
            raise PoolSpecError(f"pool spec {spec!r}: {e}") from None
        gpus = _positive_int(g.group(2), "GPUs per node", spec)
        cpu_default = str(model.cpu_per_gpu * gpus)
        mem_default = f"{model.memory_gib_per_gpu * gpus}Gi"
    elif c := _CPU_TEMPLATE.match(template):
        cores = _positive_int(c.group(1), "cores", spec)
        cpu_default, mem_default = str(cores), f"{cores * 4}Gi"
    else:
        raise PoolSpecError(
            f"pool spec {spec!r}: unknown template {template!r}: use gpu-MODEL-GPUS "
            "(e.g. gpu-a100-8) or cpu-CORES (e.g. cpu-32)"
        )
    mig = _parse_mig(options["mig"], model, spec) if model and "mig" in options else {}
    if "mig" in options and model is None:
        raise PoolSpecError(f"pool spec {spec!r}: mig only applies to GPU pools")
    return NodePool(
        name=options.get("name", template),
        count=count,
        cpu=_quantity(options.get("cpu", cpu_default), "cpu", spec),
        memory=_quantity(options.get("memory", mem_default), "memory", spec),
        gpu_model=model,
        gpus=gpus,
        mig=mig,
        zone=options.get("zone", "zone-a"),
        rack_size=_positive_int(options["rack-size"], "rack-size", spec)
        if "rack-size" in options
        else 0,
        nvlink_size=_positive_int(options.get("nvlink-size", "1"), "nvlink-size", spec),
        taints=(GPU_TAINT,) if options.get("taint", "false").lower() == "true" else (),
    )


def parse_pool_document(doc: Any, source: str) -> list[NodePool]:
    """Pools from a parsed YAML file: `pools: [{spec: '4x gpu-h100-8', labels: {...}}]`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pools"), list):
        raise PoolSpecError(f"{source}: expected a mapping with a 'pools' list")
    pools = []
    for i, entry in enumerate(doc["pools"]):
        where = f"{source}: pools[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("spec"), str):
            raise PoolSpecError(f"{where}: each pool needs a 'spec' string like '4x gpu-h100-8'")
        unknown = set(entry) - {"spec", "labels", "taints"}
        if unknown:
            raise PoolSpecError(
                f"{where}: unknown keys {sorted(unknown)} (allowed: spec, labels, taints)"
            )
        try:
            pool = parse_spec(entry["spec"])
        except PoolSpecError as e:
            raise PoolSpecError(f"{where}: {e}") from None
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict):
            raise PoolSpecError(f"{where}: labels must be a mapping")
        taints = list(pool.taints)
        for t in entry.get("taints") or []:
            if not isinstance(t, dict) or "key" not in t or "effect" not in t:
                raise PoolSpecError(f"{where}: each taint needs key and effect")
            taints.append(Taint(str(t["key"]), str(t.get("value", "")), str(t["effect"])))
        pools.append(
            NodePool(
                **{
                    **pool.__dict__,
                    "labels": {str(k): str(v) for k, v in labels.items()},
                    "taints": tuple(taints),
                }
            )
        )
    return pools


def check_unique(pools: list[NodePool]) -> None:
    seen: set[str] = set()
    for pool in pools:
        if pool.name in seen:
            raise PoolSpecError(
                f"two pools are named {pool.name!r}: give one a name, "
                "e.g. '2x gpu-h100-8:name=train'"
            )
        seen.add(pool.name)


def expand(pool: NodePool) -> list[NodeSpec]:
    """The nodes of a pool, named POOL-INDEX, with GPU, MIG and topology labels."""
    nodes = []
    width = max(2, len(str(pool.count - 1)))
    for i in range(pool.count):
        name = f"{pool.name}-{i:0{width}d}"
        labels = {
            "quarterdeck.dev/pool": pool.name,
            "topology.kubernetes.io/zone": pool.zone,
            "quarterdeck.dev/nvlink-domain": f"{pool.name}-nvl{i // pool.nvlink_size}",
        }
        if pool.rack_size:
            labels["quarterdeck.dev/rack"] = f"{pool.name}-rack{i // pool.rack_size}"
        capacity = {"cpu": pool.cpu, "memory": pool.memory, "pods": "110"}
        if pool.gpu_model is not None:
            labels |= {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": pool.gpu_model.product,
                "nvidia.com/gpu.count": str(pool.gpus),
                "nvidia.com/gpu.memory": str(pool.gpu_model.memory_mib),
            }
            if pool.mig:
                labels["nvidia.com/mig.strategy"] = "mixed"
                capacity["nvidia.com/gpu"] = "0"
                for profile, per_gpu in pool.mig.items():
                    capacity[f"nvidia.com/mig-{profile}"] = str(per_gpu * pool.gpus)
            else:
                capacity["nvidia.com/gpu"] = str(pool.gpus)
        nodes.append(NodeSpec(name, labels | pool.labels, capacity, pool.taints))
    return nodes
