"""Predict the API server's own Pod Security admission from namespace labels.

A namespace's `pod-security.kubernetes.io/enforce` (and `enforce-version`) labels
decide what Kubernetes admits there. Kubernetes enforces on Pods only: a Pod that
breaks the level is refused (`pods "web" is forbidden: violates PodSecurity
"restricted:latest": ...`), while a Deployment, Job, ... whose pod template breaks
it is stored with a warning (`would violate PodSecurity ...`) and its pods are then
refused one by one. The pre-sync check refuses both kinds before anything is
applied, each with the message Kubernetes would give it.

The API server's own PodSecurity configuration (`exemptions.py`) is honoured as the
plugin honours it: its defaults stand in for missing labels, and an exempt namespace,
requesting user or `runtimeClassName` skips the check. A user exemption counts for
Pods applied directly only: a workload's pods are created by a controller under its own
name, and are refused then however exempt the user who applied the workload was.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quarterdeck.policy.pss.exemptions import DEFAULT, PodSecurityConfig
from quarterdeck.policy.pss.registry import Decision, decide
from quarterdeck.policy.pss.versions import (
    LEVELS,
    Level,
    LevelVersion,
    Version,
    VersionError,
    parse_version,
)

ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
#: Kinds whose pod template Pod Security judges, and where the template is.
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "PodTemplate": ("template",),
    "ReplicationController": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_GROUPS = {"Pod": "", "PodTemplate": "", "ReplicationController": "", "ReplicaSet": "apps",
           "Deployment": "apps", "DaemonSet": "apps", "StatefulSet": "apps", "Job": "batch",
           "CronJob": "batch"}
POD_SECURITY_KINDS = frozenset({"Pod", *_TEMPLATE_PATHS})


def enforced(labels: Mapping[str, str], defaults: LevelVersion = DEFAULT.defaults
             ) -> tuple[LevelVersion, str]:
    """The enforce level:version for a namespace's labels, as Kubernetes reads them: a
    missing label takes the configured default (privileged, latest); a level it cannot
    read is restricted, a version latest (it fails closed). The second value names a
    label it could not read, or is empty."""
    problem = ""
    level: Level = defaults.level
    if ENFORCE in labels:
        text = labels[ENFORCE]
        if text in LEVELS:
            level = text  # type: ignore[assignment]
        else:
            level, problem = "restricted", f"{ENFORCE}={text!r}: must be one of " \
                + ", ".join(LEVELS)
    version: Version = defaults.version
    if ENFORCE_VERSION in labels:
        try:
            version = parse_version(labels[ENFORCE_VERSION])
        except VersionError as err:
            problem = problem or f"{ENFORCE_VERSION}={labels[ENFORCE_VERSION]!r}: {err}"
    return LevelVersion(level, version), problem


def pod_of(obj: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(metadata, spec) of a Pod or of a workload's pod template; None if it has none."""
    kind = obj.get("kind")
    if kind == "Pod":
        meta, spec = dict(obj.get("metadata") or {}), dict(obj.get("spec") or {})
        return meta, _app_armor_fields(meta, spec)
    path = _TEMPLATE_PATHS.get(str(kind))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    return dict(node.get("metadata") or {}), dict(node.get("spec") or {})


_APPARMOR = "container.apparmor.security.beta.kubernetes.io/"


def _profile_of(annotation: str) -> dict[str, str] | None:
    if annotation in ("unconfined", "runtime/default"):
        return {"type": {"unconfined": "Unconfined"}.get(annotation, "RuntimeDefault")}
    name = annotation.removeprefix("localhost/")
    if annotation.startswith("localhost/") and name:
        return {"type": "Localhost", "localhostProfile": name}
    return None


def _app_armor_fields(meta: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as the API server stores a new Pod: since v1.30 a container's AppArmor
    annotation is copied into its `appArmorProfile` field (when the field is unset and
    the value differs from the pod's), before Pod Security looks at the pod."""
    annotations = meta.get("annotations") or {}
    if not any(k.startswith(_APPARMOR) for k in annotations) or \
            (spec.get("os") or {}).get("name") == "windows":
        return spec
    spec = copy.deepcopy(spec)
    pod_profile = (spec.get("securityContext") or {}).get("appArmorProfile")
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            key = _APPARMOR + str(container.get("name", ""))
            context = container.get("securityContext") or {}
            if key not in annotations or context.get("appArmorProfile") is not None:
                continue
            profile = _profile_of(str(annotations[key]))
            if profile is not None and profile != pod_profile:
                container["securityContext"] = {**context, "appArmorProfile": profile}
    return spec


def resource(kind: str) -> str:
    group = _GROUPS.get(kind, "")
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    return f"{plural}.{group}" if group else plural


def message(obj: Mapping[str, Any], decision: Decision) -> str:
    """What the API server says: refused for a Pod, a warning for a pod template."""
    if obj.get("kind") == "Pod":
        name = str((obj.get("metadata") or {}).get("name", ""))
        return (f'pods "{name}" is forbidden: violates PodSecurity "{decision.policy}": '
                f"{decision.detail()}")
    return f'would violate PodSecurity "{decision.policy}": {decision.detail()}'


@dataclass(frozen=True, slots=True)
class Refusal:
    """One object the cluster's Pod Security admission would not let run."""

    obj: Mapping[str, Any]
    namespace: str
    decision: Decision
    message: str


def predict(objects: list[Mapping[str, Any]], namespaces: Mapping[str, Mapping[str, str]],
            server_minor: int | None = None, default_namespace: str = "default",
            config: PodSecurityConfig = DEFAULT, username: str | None = None
            ) -> list[Refusal]:
    """Objects whose pods the namespaces' enforce labels would refuse. `namespaces` maps
    namespace -> labels (Namespace objects among `objects` win: they are applied first);
    `server_minor` caps `latest` and newer versions at what the API server knows;
    `config` is the API server's PodSecurity configuration and `username` the user
    the objects are applied as (its exemption covers Pods, not workloads' pods)."""
    labels = {**namespaces}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Namespace" and meta.get("name"):
            labels[str(meta["name"])] = meta.get("labels") or {}
    out = []
    for obj in objects:
        pod = pod_of(obj)
        if pod is None:
            continue
        namespace = str((obj.get("metadata") or {}).get("namespace") or default_namespace)
        creator = username if obj.get("kind") == "Pod" else None
        if config.exemption(namespace, creator, pod[1].get("runtimeClassName")):
            continue
        policy, _ = enforced(labels.get(namespace) or {}, config.defaults)
        if policy.level == "privileged":
            continue
        decision = decide(policy, pod[0], pod[1], cap=server_minor)
        if not decision.allowed:
            out.append(Refusal(obj, namespace, decision, message(obj, decision)))
    return out
