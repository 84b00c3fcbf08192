"""A ClusterSet's decision: which clusters get which revision now, and what to report.

Pure. The ClusterSet pins every Application it stamps to a revision: clusters whose
wave has its turn get the Source's current one, the others keep what they run. Waves
go in order; inside a wave at most ``maxConcurrent`` clusters move at a time; a wave
must be all Healthy before the next starts, and a cluster that turns unhealthy stops
the rollout where it is (nothing later is touched) and says which cluster and why.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from quarterdeck.api.delivery import Application, ApplicationSpec, Destination
from quarterdeck.api.fleet import ClusterRollout, ClusterSet, LabelSelector
from quarterdeck.api.meta import LocalReference, find_condition

SET_LABEL = "fleet.quarterdeck.dev/cluster-set"
CLUSTER_LABEL = "fleet.quarterdeck.dev/cluster"
HASH_ANNOTATION = "fleet.quarterdeck.dev/template-hash"
State = Literal["Pending", "Progressing", "Healthy", "Unhealthy", "Unknown"]
_UNHEALTHY = {
    "HealthCheckFailed",
    "SyncFailed",
    "RetriesExhausted",
    "GuardrailDenied",
    "Refused",
    "InvalidSpec",
}
_UNKNOWN = {"ClusterUnreachable", "ClusterNotRegistered"}
_NUMBER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Member:
    """A registered cluster as the ClusterSet sees it."""

    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Stamp:
    """One Application to write: for ``cluster``, pinned to ``revision``."""

    cluster: str
    name: str
    spec: ApplicationSpec
    template_hash: str


@dataclass
class Decision:
    stamps: list[Stamp] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # Application names
    clusters: list[ClusterRollout] = field(default_factory=list)
    ready: Literal["True", "False", "Unknown"] = "Unknown"
    reason: str = ""
    message: str = ""
    current_wave: str = ""
    stalled: bool = False


def matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics."""
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        has = req.key in labels
        if req.operator == "In" and not (has and labels[req.key] in req.values):
            return False
        if req.operator == "NotIn" and has and labels[req.key] in req.values:
            return False
        if req.operator == "Exists" and not has:
            return False
        if req.operator == "DoesNotExist" and has:
            return False
    return True


def describe_selector(selector: LabelSelector) -> str:
    parts = [f"{k}={v}" for k, v in sorted(selector.match_labels.items())]
    for r in selector.match_expressions:
        values = f" ({', '.join(r.values)})" if r.values else ""
        parts.append(f"{r.key} {r.operator}{values}")
    return ", ".join(parts) or "(everything)"


def wave_order(value: str | None) -> tuple[int, int, str]:
    """Numeric wave values first in numeric order, then other values, then none."""
    if value is None:
        return (2, 0, "")
    if _NUMBER.match(value):
        return (0, int(value), "")
    return (1, 0, value)


def template_hash(spec: ClusterSet) -> str:
    """Changes when the template or the source changes (a new rollout), not otherwise."""
    body = msgspec.to_builtins(spec.spec.template), msgspec.to_builtins(spec.spec.source_ref)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def app_name(cluster_set: str, cluster: str) -> str:
    return f"{cluster_set}-{cluster}"[:253].rstrip("-.")


def app_state(app: Application | None, revision: str, digest: str) -> tuple[State, str]:
    """Where one cluster's Application stands against the revision being rolled out."""
    if app is None:
        return "Pending", "not stamped yet"
    if app.spec.revision != revision or app.metadata.annotations.get(HASH_ANNOTATION) != digest:
        return "Pending", f"runs {app.spec.revision[:12] or 'nothing'}"
    status = app.status
    if status is None or status.observed_generation < app.metadata.generation:
        return "Progressing", "waiting for its first sync"
    ready = find_condition(status.conditions, "Ready")
    if ready is None:
        return "Progressing", "waiting for its first sync"
    if ready.reason in _UNKNOWN:
        return "Unknown", ready.message
    if ready.status == "True" and status.last_applied_revision == revision:
        return "Healthy", ""
    about_this = ready.reason in ("Refused", "InvalidSpec") or (
        status.last_attempted_revision == revision
    )
    if ready.status == "False" and ready.reason in _UNHEALTHY and about_this:
        return "Unhealthy", f"{ready.reason}: {ready.message}"
    return "Progressing", ready.message or ready.reason


def _stamp(cs: ClusterSet, cluster: str, revision: str, digest: str) -> Stamp:
    spec = msgspec.structs.replace(
        cs.spec.template,
        destination=Destination(cluster=cluster),
        source_ref=LocalReference(
            name=cs.spec.source_ref.name, namespace=cs.spec.source_ref.namespace
        ),
        revision=revision,
    )
    return Stamp(cluster, app_name(cs.metadata.name, cluster), spec, digest)


def decide(
    cs: ClusterSet,
    members: Sequence[Member],
    revision: str,
    apps: Mapping[str, Application],
) -> Decision:
    """What to stamp, delete and report. ``apps`` are this set's Applications by cluster
    name; ``revision`` the Source's current one ("" while it has none)."""
    out = Decision()
    selector = cs.spec.cluster_selector
    selected = [m for m in members if matches(selector, m.labels)]
    chosen = {m.name for m in selected}
    out.delete = sorted(a.metadata.name for c, a in apps.items() if c not in chosen)
    if not selected:
        out.ready, out.reason = "False", "NoClustersSelected"
        out.message = (
            f"selector {describe_selector(selector)} matches none of the "
            f"{len(members)} registered clusters"
        )
        return out
    if not revision:
        out.ready, out.reason, out.message = (
            "Unknown",
            "SourceNotReady",
            f"source {cs.spec.source_ref.name} has no revision yet",
        )
        return out
    digest = template_hash(cs)
    label = cs.spec.rollout.wave_label
    waves: dict[str | None, list[Member]] = {}
    for m in selected:
        waves.setdefault(m.labels.get(label) if label else "", []).append(m)
    budget = cs.spec.rollout.max_concurrent
    halted = ""
    for value in sorted(waves, key=wave_order):
        wave = sorted(waves[value], key=lambda m: m.name)
        states = {m.name: app_state(apps.get(m.name), revision, digest) for m in wave}
        if halted:  # a wave ahead is not done: these keep what they run
            for m in wave:
                state, msg = states[m.name]
                out.clusters.append(
                    _row(
                        cs,
                        m,
                        value,
                        apps,
                        "Pending" if state != "Healthy" else state,
                        "waiting for an earlier wave" if state != "Healthy" else msg,
                    )
                )
            continue
        out.current_wave = value or ""
        moving = sum(1 for s, _ in states.values() if s in ("Progressing", "Unknown", "Unhealthy"))
        for m in wave:
            state, msg = states[m.name]
            if (
                state == "Pending"
                and moving < budget
                and not any(s == "Unhealthy" for s, _ in states.values())
            ):
                out.stamps.append(_stamp(cs, m.name, revision, digest))
                moving += 1
                state, msg = "Progressing", f"moving to {revision[:12]}"
            out.clusters.append(_row(cs, m, value, apps, state, msg))
        bad = [r for r in out.clusters[-len(wave) :] if r.state == "Unhealthy"]
        if bad:
            out.ready, out.reason, out.stalled = "False", "WaveUnhealthy", True
            names = ", ".join(f"{r.cluster} ({r.message})" for r in bad)
            out.message = (
                f"rollout of {revision[:12]} stopped at wave {value or '-'}: unhealthy: {names}"
            )
            halted = "unhealthy"
        elif any(r.state != "Healthy" for r in out.clusters[-len(wave) :]):
            halted = "in progress"
    if not halted:
        out.ready, out.reason = "True", "RolledOut"
        out.message = f"revision {revision[:12]} healthy on all {len(selected)} clusters"
    elif halted == "in progress":
        healthy = sum(1 for r in out.clusters if r.state == "Healthy")
        out.ready, out.reason = "Unknown", "Progressing"
        out.message = (
            f"rolling out {revision[:12]}: wave {out.current_wave or '-'}, "
            f"{healthy}/{len(selected)} clusters healthy"
        )
    return out


def _row(
    cs: ClusterSet,
    m: Member,
    wave: str | None,
    apps: Mapping[str, Application],
    state: State,
    message: str,
) -> ClusterRollout:
    app = apps.get(m.name)
    return ClusterRollout(
        cluster=m.name,
        application=app_name(cs.metadata.name, m.name),
        wave=wave or "",
        revision=app.spec.revision if app is not None else "",
        state=state,
        message=message[:512],
    )
