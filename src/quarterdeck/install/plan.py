"""What `qd install` applies in which order, and what `qd uninstall` may remove (pure).

Uninstall removes the operator, its RBAC and its admission policy. It never removes an
object an Application manages (one in some Application's inventory, even if the install
made it), keeps the Namespace while Applications or their objects live there, and removes
the CRDs (and with them every custom object) only when forced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Obj = Mapping[str, Any]
Ref = tuple[str, str, str]  # kind, namespace ("" when cluster-scoped), name

#: Applied first: what later objects need to exist (namespace, kinds, identities, rights).
_FIRST = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
)
#: Removed first: the operator stops before its rights and identity go.
_REMOVE_FIRST = ("Deployment", "PodDisruptionBudget", "Service")

#: What earlier operators registered themselves (a Job webhook with failurePolicy Fail,
#: which blocks every labelled Job once no operator serves it): removed on uninstall.
OPERATOR_REGISTERED: tuple[tuple[str, str, str], ...] = (
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "queueing.quarterdeck.dev"),
)


def ref(obj: Obj) -> Ref:
    meta = obj["metadata"]
    return (str(obj["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))


def describe(r: Ref) -> str:
    kind, namespace, name = r
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _rank(order: Sequence[str], obj: Obj) -> int:
    kind = str(obj["kind"])
    return order.index(kind) if kind in order else len(order)


def apply_order(objects: Iterable[Obj]) -> list[Obj]:
    """Namespace, CRDs, identity and RBAC first, then the rest (stable otherwise)."""
    return sorted(objects, key=lambda o: _rank(_FIRST, o))


@dataclass(frozen=True)
class Application:
    """What uninstall needs to know of one Application."""

    namespace: str
    name: str
    inventory: tuple[Ref, ...] = ()  # (kind, namespace or "", name) as recorded


def application_of(obj: Obj) -> Application:
    meta = obj["metadata"]
    ns = str(meta.get("namespace") or "")
    refs = tuple(
        (str(e.get("kind", "")), str(e.get("namespace") or ""), str(e.get("name", "")))
        for e in (obj.get("status") or {}).get("inventory") or []
    )
    return Application(ns, str(meta["name"]), refs)


class UninstallRefused(Exception):
    """Uninstall would leave Applications without an operator (one-line message)."""


@dataclass(frozen=True)
class Removal:
    delete: list[Obj]  # in this order
    kept: list[str] = field(default_factory=list)  # what stays, with why
    warnings: list[str] = field(default_factory=list)  # what goes with the CRDs


def _managed(applications: Sequence[Application]) -> set[tuple[str, str]]:
    """(kind, name) of managed cluster-scoped objects and (kind, ns/name) of the rest."""
    out: set[tuple[str, str]] = set()
    for app in applications:
        for kind, namespace, name in app.inventory:
            out.add((kind, name))  # cluster-scoped, or namespaced with an empty namespace
            out.add((kind, f"{namespace or app.namespace}/{name}"))
    return out


def _is_managed(obj: Obj, managed: set[tuple[str, str]]) -> bool:
    kind, namespace, name = ref(obj)
    return (kind, f"{namespace}/{name}" if namespace else name) in managed


def removal(
    installed: Sequence[Obj],
    applications: Sequence[Application],
    custom_objects: Mapping[str, int],
    *,
    force: bool,
) -> Removal:
    """What to delete for an uninstall of `installed` (the rendered base).

    `custom_objects` counts the live objects per CRD name (what deleting it deletes).
    """
    if applications and not force:
        names = ", ".join(f"{a.namespace}/{a.name}" for a in applications[:5])
        more = f" and {len(applications) - 5} more" if len(applications) > 5 else ""
        raise UninstallRefused(
            f"{len(applications)} Application(s) still exist ({names}{more}); without the "
            "operator nothing syncs them: remove them first, or add --force "
            "(the objects they manage are kept)"
        )
    managed = _managed(applications)
    busy_namespaces = {a.namespace for a in applications} | {
        namespace or a.namespace
        for a in applications
        for kind, namespace, _ in a.inventory
        if kind != "Namespace"
    }
    delete: list[Obj] = []
    kept: list[str] = []
    warnings: list[str] = []
    for obj in sorted(installed, key=lambda o: _rank(_REMOVE_FIRST, o)):
        kind, _, name = ref(obj)
        if _is_managed(obj, managed):
            kept.append(f"{describe(ref(obj))}: an Application manages it")
        elif kind == "CustomResourceDefinition" and not force:
            kept.append(f"{describe(ref(obj))}: CRDs are removed only with --force")
        elif kind == "Namespace" and name in busy_namespaces:
            kept.append(f"{describe(ref(obj))}: Applications or their objects live there")
        else:
            if kind == "CustomResourceDefinition" and custom_objects.get(name):
                warnings.append(f"deleting CRD {name} deletes its {custom_objects[name]} objects")
            delete.append(obj)
    # Namespace and CRDs last: their deletion takes everything inside with it.
    delete.sort(key=lambda o: str(o["kind"]) in ("Namespace", "CustomResourceDefinition"))
    return Removal(delete, kept, warnings)
