"""Ownership and inventory: which objects an Application has applied and may delete.

An Application owns an object when the object carries both owner labels with the
Application's name and namespace. The inventory (kept in status) lists what was
applied; it decides what is stale, and ownership decides what may be pruned.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from quarterdeck.delivery.manifests import Key, Obj, key_of

OWNER_NAME_LABEL = "delivery.quarterdeck.dev/name"
OWNER_NAMESPACE_LABEL = "delivery.quarterdeck.dev/namespace"
PRUNE_ANNOTATION = "delivery.quarterdeck.dev/prune"
PRUNE_DISABLED = "disabled"


@dataclass(frozen=True, order=True)
class Owner:
    """The Application that owns objects, by namespace and name."""

    namespace: str
    name: str

    def labels(self) -> dict[str, str]:
        return {OWNER_NAME_LABEL: self.name, OWNER_NAMESPACE_LABEL: self.namespace}

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class Entry:
    """One inventory item: the identity plus the apiVersion needed to address it."""

    key: Key
    api_version: str


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def owner_of(obj: Mapping[str, Any]) -> Owner | None:
    """The owner recorded in an object's labels, if both labels are present."""
    labels = _labels(obj)
    name, namespace = labels.get(OWNER_NAME_LABEL), labels.get(OWNER_NAMESPACE_LABEL)
    if name is None or namespace is None:
        return None
    return Owner(namespace=namespace, name=name)


def owns(owner: Owner, obj: Mapping[str, Any]) -> bool:
    """Whether ``owner`` owns the live object ``obj``."""
    return owner_of(obj) == owner


def prune_disabled(obj: Mapping[str, Any]) -> bool:
    """Whether the object opts out of pruning with the prune annotation."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(PRUNE_ANNOTATION) == PRUNE_DISABLED)


def stamp(obj: Obj, owner: Owner) -> Obj:
    """A copy of ``obj`` labelled as owned by ``owner`` (see ``job_labels`` for Jobs)."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**job_labels(out), **(meta.get("labels") or {}), **owner.labels()}
    return out


JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def job_labels(obj: Obj) -> dict[str, str]:
    """The labels the API server would have given a Job that has none of its own.

    The server copies a label-less Job's pod-template labels onto it, with ``job-name``;
    our owner labels make it label-full, so we write what it would have (``job-name`` and
    the template's labels). ``controller-uid`` cannot be known before the Job exists:
    select qd's Jobs by ``job-name``, as kubectl does. Why we keep owner labels rather
    than annotations (Argo CD 3): docs/delivery.md, "Ownership".
    """
    meta = obj.get("metadata") or {}
    if obj.get("apiVersion") != "batch/v1" or obj.get("kind") != "Job" or meta.get("labels"):
        return {}
    name = meta.get("name")
    template = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    out = {str(k): str(v) for k, v in template.items()} if isinstance(template, dict) else {}
    return {**out, **{label: str(name) for label in JOB_NAME_LABELS}} if name else out


def entries_of(objects: Iterable[Obj]) -> list[Entry]:
    """The sorted inventory of a set of objects."""
    return sorted({Entry(key_of(o), str(o["apiVersion"])) for o in objects})


def stale(old: Iterable[Entry], desired: Iterable[Key]) -> list[Entry]:
    """Entries of the old inventory no longer desired: the prune candidates."""
    keep = set(desired)
    return sorted(e for e in old if e.key not in keep)


def next_inventory(desired: Iterable[Entry], not_pruned: Iterable[Entry]) -> list[Entry]:
    """What the inventory holds after a sync: all desired, plus stale entries left in place.

    Entries whose prune was skipped or failed stay, so a later sync retries them
    and nothing owned is ever forgotten.
    """
    return sorted(set(desired) | set(not_pruned))
