"""Out-of-band edits read from an object's managedFields, and audit entries. Pure.

Kubernetes keeps, per object, which field manager last wrote which fields and when
(managedFields). Every manager other than delivery's own (and the control plane's
controllers, which write status and bookkeeping) made an out-of-band edit; the
fields it owns say what it changed. Self-heal takes those fields back, after which
Kubernetes forgets the edit: so the operator records each edit before healing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Managers that are the control plane doing its job, not people editing.
CONTROL_PLANE = frozenset({"kube-controller-manager", "kube-scheduler", "kubelet",
                           "kube-apiserver", "kwok"})
#: Fields that only bookkeeping touches (the Deployment revision annotation, ...).
_BOOKKEEPING = ("metadata.annotations.deployment.kubernetes.io/", "metadata.finalizers",
                "metadata.resourceVersion")


@dataclass(frozen=True)
class Edit:
    """One manager's write to one object, as managedFields records it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    manager: str
    operation: str
    time: str
    fields: tuple[str, ...]

    @property
    def object(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


def field_paths(fields: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`{"f:spec": {"f:replicas": {}}}` -> ["spec.replicas"]: the leaves a manager owns
    (list items by key `k:{...}` or value `v:...` are named with their key)."""
    out: list[str] = []
    for key, child in fields.items():
        if key == ".":
            continue
        name = key[2:] if key[:2] in ("f:", "k:", "v:", "i:") else key
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(child, Mapping) and any(k != "." for k in child):
            out.extend(field_paths(child, path))
        else:
            out.append(path)
    return out


def edits(obj: Mapping[str, Any], own_manager: str) -> list[Edit]:
    """The writes to `obj` by managers other than `own_manager` and the control plane."""
    meta = obj.get("metadata") or {}
    found = []
    for entry in meta.get("managedFields") or []:
        manager = str(entry.get("manager", ""))
        if manager == own_manager or manager in CONTROL_PLANE or entry.get("subresource"):
            continue
        paths = [p for p in field_paths(entry.get("fieldsV1") or {})
                 if not p.startswith(_BOOKKEEPING)]
        if not paths:
            continue
        found.append(Edit(str(obj.get("apiVersion", "")), str(obj.get("kind", "")),
                          str(meta.get("namespace", "")), str(meta.get("name", "")), manager,
                          str(entry.get("operation", "")), str(entry.get("time", "")),
                          tuple(paths)))
    return found


Outcome = str  # "reverted by self-heal", "kept: incident ...", "not reverted", "recreated"


@dataclass(frozen=True)
class Entry:
    """One line of an Application's audit trail (stored as JSON)."""

    time: str
    type: str  # "out-of-band" | "incident"
    object: str = ""
    manager: str = ""
    operation: str = ""
    fields: list[str] = field(default_factory=list)
    outcome: str = ""
    reason: str = ""
    until: str = ""
    by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", [])}


def entry_of(data: Mapping[str, Any]) -> Entry:
    known = {k: data[k] for k in Entry.__dataclass_fields__ if k in data}
    return Entry(**known)


REVERTED = "reverted by self-heal"


def new_edits(found: Iterable[Edit], recorded: Iterable[Entry]) -> list[Edit]:
    """Edits not in the trail yet. An edit is its object, manager and time, but
    managedFields keep whole seconds: a second write by the same manager within the
    second of one that self-heal reverted shows the taken-back fields again, so it is
    a new edit (a reverted write's fields are no longer that manager's)."""
    last: dict[tuple[str, str, str], Entry] = {}
    for entry in recorded:  # oldest first: the last entry of a key is what it became
        if entry.type == "out-of-band":
            last[(entry.object, entry.manager, entry.time)] = entry
    fresh = []
    for edit in found:
        before = last.get((edit.object, edit.manager, edit.time))
        if before is None or (before.outcome == REVERTED
                              and set(edit.fields) & set(before.fields)):
            fresh.append(edit)
    return fresh


def edit_entry(edit: Edit, outcome: str) -> Entry:
    return Entry(edit.time, "out-of-band", edit.object, edit.manager, edit.operation,
                 list(edit.fields), outcome)
