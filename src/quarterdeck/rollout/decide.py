"""One step of a rollout as a pure decision: Rollout + live Deployments + measurements in,
the Deployments to have, whether to measure, and the next status out.

No client, no clock: ``now`` (seconds) is an argument and measurements are taken by the
shell when ``Decision.measure`` asks for them. The stable Deployment is ``NAME`` and the
canary (or blue/green preview) ``NAME-canary``; both carry the Rollout's pod template
labels plus ``ROLE_LABEL``, so a Service selecting the template's labels sends traffic
to both in proportion to their ready replicas (the canary weight by replica ratio).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from quarterdeck.api.rollout import Measurement, Rollout, RolloutStatus, Step

Obj = dict[str, Any]
ROLE_LABEL = "rollouts.quarterdeck.dev/role"
HASH_ANNOTATION = "rollouts.quarterdeck.dev/template-hash"
MAX_MEASUREMENTS = 20


def template_hash(template: Obj) -> str:
    """A short, stable name for a pod template."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def canary_name(name: str) -> str:
    return f"{name}-canary"


def deployment(rollout: Rollout, role: str, template: Obj, replicas: int) -> Obj:
    """The Deployment of one role (stable or canary) with ``template`` and ``replicas``."""
    meta = rollout.metadata
    labels = {**((template.get("metadata") or {}).get("labels") or {}), ROLE_LABEL: role}
    pod = copy.deepcopy(template)
    pod.setdefault("metadata", {})["labels"] = labels
    selector = copy.deepcopy(rollout.spec.selector)
    selector.setdefault("matchLabels", {})[ROLE_LABEL] = role
    name = meta.name if role == "stable" else canary_name(meta.name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": meta.namespace,
            "labels": {ROLE_LABEL: role},
            "annotations": {HASH_ANNOTATION: template_hash(template)},
            "ownerReferences": [
                {
                    "apiVersion": rollout.api_version,
                    "kind": "Rollout",
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": pod},
    }


def available(obj: Obj | None, replicas: int) -> bool:
    """Whether a live Deployment has rolled out ``replicas`` ready pods of its template."""
    if obj is None:
        return replicas == 0
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    current = status.get("observedGeneration", 0) >= meta.get("generation", 1)
    return bool(
        current
        and status.get("updatedReplicas", 0) >= replicas
        and status.get("readyReplicas", 0) >= replicas
        and status.get("replicas", 0) == replicas
    )


def split(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for a canary ``weight`` (percent) of ``total``."""
    if weight <= 0:
        return total, 0
    canary = min(total, max(1, math.ceil(total * weight / 100)))
    return total - canary, canary


@dataclass
class Decision:
    """What the shell carries out: apply ``apply``, delete ``delete`` (names), take a
    measurement if ``measure``, write ``status``, tell ``events`` (reason, message),
    switch the active Service to ``service_role`` (blue/green), set route weights."""

    status: RolloutStatus
    apply: list[Obj] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    measure: bool = False
    events: list[tuple[str, str]] = field(default_factory=list)
    service_role: str = ""
    route_weight: int | None = None


def _steps(rollout: Rollout) -> list[Step]:
    strategy = rollout.spec.strategy
    if strategy.blue_green is not None:
        return [Step(set_weight=0)]  # the preview at full size, analysed before the switch
    return list(strategy.canary.steps) if strategy.canary else []


def _judge(rollout: Rollout, status: RolloutStatus) -> str:
    """ "pass", "fail" or "" (more measurements needed) for the current step."""
    analysis = rollout.spec.analysis
    if analysis is None or not analysis.metrics:
        return "pass"
    mine = [m for m in status.measurements if m.step == status.current_step]
    failed = [m for m in mine if m.phase != "Successful"]
    if len(failed) > analysis.failure_limit:
        return "fail"
    # every metric measured ``count`` times (a Job counts once it has finished)
    rounds = min(sum(1 for m in mine if m.metric == metric.name) for metric in analysis.metrics)
    return "pass" if rounds >= analysis.count else ""


def _breach(rollout: Rollout, status: RolloutStatus) -> str:
    bad = [
        m for m in status.measurements if m.step == status.current_step and m.phase != "Successful"
    ]
    last = bad[-1]
    return (
        f"aborted at step {status.current_step + 1}: analysis {last.metric} "
        f"{'breached' if last.phase == 'Failed' else 'errored'}: {last.value}"
    )


def decide(
    rollout: Rollout,
    stable: Obj | None,
    canary: Obj | None,
    measurements: list[Measurement],
    now: float,
    pause: float,
    interval: float,
) -> Decision:
    """The next move. ``measurements`` are the ones the shell took this pass (asked for
    by the previous decision); ``pause`` is the current step's pause in seconds and
    ``interval`` the analysis interval, both parsed by the shell."""
    spec = rollout.spec
    status = msgspec.structs.replace(rollout.status or RolloutStatus())
    status.observed_generation = rollout.metadata.generation
    if measurements:
        status.measurements = [*status.measurements, *measurements][-MAX_MEASUREMENTS:]
        status.last_measured = now
    desired = template_hash(spec.template)
    total = spec.replicas
    blue_green = spec.strategy.blue_green is not None

    if stable is None or not status.stable_revision:  # first rollout: no traffic to protect
        status.stable_revision = desired
        out = Decision(status, apply=[deployment(rollout, "stable", spec.template, total)])
        out.service_role = "stable" if blue_green else ""
        return _settle(out, stable, total, desired)

    if desired in (status.stable_revision, status.aborted_revision):
        # nothing new (or a revision that already failed): stable keeps everything
        stable_template = (stable.get("spec") or {}).get("template") or spec.template
        if desired == status.stable_revision:
            stable_template = spec.template
        out = Decision(
            status, apply=[deployment(rollout, "stable", _plain(stable_template), total)]
        )
        out.delete = [canary_name(rollout.metadata.name)] if canary is not None else []
        out.service_role = "stable" if blue_green else ""
        out.route_weight = (
            0 if spec.strategy.canary and spec.strategy.canary.traffic_routing else None
        )
        if desired == status.aborted_revision and status.phase == "Degraded":
            return out
        return _settle(out, stable, total, desired)

    if status.canary_revision != desired:  # a new template: start at step 0
        status.canary_revision = desired
        status.current_step, status.step_started, status.weight = 0, now, 0
        status.measurements = []
        status.phase, status.message = "Progressing", f"rolling out {desired}"

    steps = _steps(rollout)
    stable_template = _plain((stable.get("spec") or {}).get("template") or {})
    if status.current_step >= len(steps):
        return _promote(rollout, status, stable, stable_template, desired, blue_green)
    step = steps[status.current_step]
    if step.pause is not None:
        if now - status.step_started >= pause:
            return _advance(rollout, status, stable, canary, stable_template, now, blue_green)
        status.message = f"step {status.current_step + 1}: paused"
        return _hold(rollout, status, stable_template, blue_green)
    weight = step.set_weight or 0
    status.weight = 100 if blue_green else weight
    hold = _hold(rollout, status, stable_template, blue_green)
    if not available(canary, _canary_replicas(rollout, weight)):
        status.message = f"step {status.current_step + 1}: waiting for the canary at {weight}%"
        return hold
    verdict = _judge(rollout, status)
    if verdict == "fail":
        return _abort(rollout, status, stable_template, desired, blue_green)
    if verdict == "pass":
        return _advance(rollout, status, stable, canary, stable_template, now, blue_green)
    hold.measure = now - status.last_measured >= interval
    status.message = f"step {status.current_step + 1}: analysing at {weight}%"
    return hold


def _plain(template: Obj) -> Obj:
    """A live Deployment's template back as the Rollout's: without our role label."""
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels") or {}
    labels.pop(ROLE_LABEL, None)
    return out


def _canary_replicas(rollout: Rollout, weight: int) -> int:
    if rollout.spec.strategy.blue_green is not None:
        return rollout.spec.replicas
    if _routed(rollout):
        return max(1, split(rollout.spec.replicas, weight)[1]) if weight else 0
    return split(rollout.spec.replicas, weight)[1]


def _routed(rollout: Rollout) -> bool:
    canary = rollout.spec.strategy.canary
    return bool(canary and canary.traffic_routing and canary.traffic_routing.http_route)


def _hold(
    rollout: Rollout, status: RolloutStatus, stable_template: Obj, blue_green: bool
) -> Decision:
    """Stable and canary at the current weight."""
    total = rollout.spec.replicas
    routed = _routed(rollout)
    canary_n = _canary_replicas(rollout, status.weight)
    stable_n = total if (blue_green or routed) else total - canary_n
    out = Decision(
        status,
        apply=[
            deployment(rollout, "stable", stable_template, stable_n),
            deployment(rollout, "canary", rollout.spec.template, canary_n),
        ],
    )
    out.service_role = "stable" if blue_green else ""
    out.route_weight = status.weight if routed else None
    return out


def _advance(
    rollout: Rollout,
    status: RolloutStatus,
    stable: Obj,
    canary: Obj | None,
    stable_template: Obj,
    now: float,
    blue_green: bool,
) -> Decision:
    status.current_step += 1
    status.step_started, status.last_measured = now, 0.0
    if status.current_step >= len(_steps(rollout)):
        return _promote(
            rollout, status, stable, stable_template, status.canary_revision, blue_green
        )
    step = _steps(rollout)[status.current_step]
    if step.set_weight is not None:
        status.weight = 100 if blue_green else step.set_weight
    status.message = f"step {status.current_step + 1}"
    return _hold(rollout, status, stable_template, blue_green)


def _promote(
    rollout: Rollout,
    status: RolloutStatus,
    stable: Obj,
    stable_template: Obj,
    desired: str,
    blue_green: bool,
) -> Decision:
    """All steps passed: traffic to the new version (blue/green: switch first), the stable
    Deployment takes the new template; the canary goes once stable is available."""
    total = rollout.spec.replicas
    status.weight = 100
    out = Decision(status, apply=[deployment(rollout, "stable", rollout.spec.template, total)])
    if blue_green:
        out.service_role = "canary"  # the preview serves while stable takes the template
        out.apply.append(deployment(rollout, "canary", rollout.spec.template, total))
    routed = _routed(rollout)
    if _hash_of(stable) != desired:
        status.message = "promoting: the stable Deployment takes the new template"
        return out
    if not available(stable, total):
        status.message = "promoting: waiting for the stable Deployment"
        return out
    out.apply = out.apply[:1]
    out.delete = [canary_name(rollout.metadata.name)]
    out.service_role = "stable" if blue_green else ""
    out.route_weight = 0 if routed else None
    status.stable_revision = desired
    status.canary_revision, status.current_step, status.weight = "", 0, 0
    status.phase, status.message = "Healthy", f"rolled out {desired}"
    out.events.append(("RolloutCompleted", f"rolled out {desired}"))
    return out


def _abort(
    rollout: Rollout, status: RolloutStatus, stable_template: Obj, desired: str, blue_green: bool
) -> Decision:
    """A breach: the canary goes, the stable version keeps (or gets back) all traffic."""
    message = _breach(rollout, status)
    total = rollout.spec.replicas
    out = Decision(status, apply=[deployment(rollout, "stable", stable_template, total)])
    out.delete = [canary_name(rollout.metadata.name)]
    out.service_role = "stable" if blue_green else ""
    routed = _routed(rollout)
    out.route_weight = 0 if routed else None
    status.aborted_revision = desired
    status.canary_revision, status.weight = "", 0
    status.phase, status.message = "Degraded", message
    out.events.append(("RolloutAborted", message))
    return out


def _hash_of(obj: Obj | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("annotations", {}).get(HASH_ANNOTATION, ""))


def _settle(out: Decision, stable: Obj | None, total: int, desired: str) -> Decision:
    """Healthy once the stable Deployment runs ``desired`` at full size."""
    status = out.status
    if (
        stable is not None
        and _hash_of(stable) == status.stable_revision
        and available(stable, total)
    ):
        status.phase = "Healthy"
        status.message = f"stable at {status.stable_revision}"
    else:
        status.phase, status.message = "Progressing", "waiting for the stable Deployment"
    return out
