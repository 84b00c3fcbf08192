"""Status of Sources and Applications from what a reconcile found. Pure; time is an argument.

Conditions follow kstatus: ``Ready`` says whether the last reconcile succeeded and
everything is healthy, ``Reconciling`` marks work in progress, ``Stalled`` marks a
problem retries will not fix (an invalid spec, a dependency cycle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from quarterdeck.api.delivery import (
    Application,
    ApplicationStatus,
    Artifact,
    FieldDrift,
    GuardrailWarning,
    HistoryEntry,
    HookStatus,
    ObjectDrift,
    ResourceStatus,
    SourceStatus,
)
from quarterdeck.api.duration import DurationError, parse_duration
from quarterdeck.api.meta import Condition, ConditionStatus, ObjectReference, set_condition
from quarterdeck.delivery.drift import FieldDiff
from quarterdeck.delivery.health import Health
from quarterdeck.delivery.history import failed_attempts, record
from quarterdeck.delivery.inventory import Entry
from quarterdeck.delivery.manifests import Key


def _cond(
    type_: str, status: ConditionStatus, reason: str, message: str, gen: int, now: str
) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:1024],
        observed_generation=gen,
        last_transition_time=now,
    )


def conditions(
    prev: Sequence[Condition],
    ready: ConditionStatus,
    reason: str,
    message: str,
    gen: int,
    now: str,
    *,
    stalled: bool = False,
) -> list[Condition]:
    """Ready/Reconciling/Stalled for one outcome, transition times kept where unchanged."""
    out = set_condition(list(prev), _cond("Ready", ready, reason, message, gen, now))
    reconciling: ConditionStatus = "True" if ready == "Unknown" else "False"
    out = set_condition(out, _cond("Reconciling", reconciling, reason, "", gen, now))
    stalled_status: ConditionStatus = "True" if stalled else "False"
    return set_condition(
        out, _cond("Stalled", stalled_status, reason, message if stalled else "", gen, now)
    )


def source_status(
    prev: SourceStatus | None, artifact: Artifact | None, error: str, gen: int, now: str
) -> SourceStatus:
    """A Source's status after a fetch; a failed fetch keeps the last good artifact."""
    old = prev or SourceStatus()
    if error:
        conds = conditions(old.conditions, "False", "FetchFailed", error, gen, now)
        return SourceStatus(conditions=conds, observed_generation=gen, artifact=old.artifact)
    assert artifact is not None
    message = f"stored revision {artifact.revision[:12]} ({artifact.ref})"
    conds = conditions(old.conditions, "True", "Succeeded", message, gen, now)
    return SourceStatus(conditions=conds, observed_generation=gen, artifact=artifact)


def spec_errors(app: Application) -> list[str]:
    """Problems in an Application spec that no retry can fix."""
    errors = []
    for name in ("interval", "timeout"):
        try:
            parse_duration(getattr(app.spec, name))
        except DurationError as err:
            errors.append(f"spec.{name}: {err}")
    try:
        parse_duration(app.spec.retry.interval)
    except DurationError as err:
        errors.append(f"spec.retry.interval: {err}")
    if app.spec.path.startswith("/") or ".." in app.spec.path.split("/"):
        errors.append(f"spec.path {app.spec.path!r} leaves the repository")
    return errors


def references(entries: Sequence[Entry]) -> list[ObjectReference]:
    """Inventory entries as API references."""
    return [
        ObjectReference(
            api_version=e.api_version, kind=e.key.kind, name=e.key.name, namespace=e.key.namespace
        )
        for e in entries
    ]


def entries(refs: Sequence[ObjectReference]) -> list[Entry]:
    """API references back to inventory entries."""
    return [
        Entry(Key(r.api_version.rpartition("/")[0], r.kind, r.namespace, r.name), r.api_version)
        for r in refs
    ]


PROJECT_REFUSED = "ProjectRefused"  # the reason of Ready=False when a Project refuses
PROJECTS_UNAVAILABLE = "ProjectsUnavailable"  # Projects could not be read: Ready=Unknown


@dataclass
class Outcome:
    """What one Application reconcile did, in plain terms (filled from a SyncResult)."""

    revision: str
    errors: list[str] = field(default_factory=list)
    created: int = 0
    configured: int = 0
    unchanged: int = 0
    pruned: int = 0
    inventory: list[Entry] = field(default_factory=list)
    versions: Mapping[Key, str] = field(default_factory=dict)
    health: Mapping[Key, Health] = field(default_factory=dict)
    drift: Mapping[Key, list[FieldDiff]] = field(default_factory=dict)
    overall: Health = field(default_factory=lambda: Health("Healthy"))
    denied: bool = False  # a Deny guardrail stopped the sync before anything was applied
    refused: bool = False  # the Project refused the rendered set before anything was applied
    # Warn/Audit findings of the applied set; None: no gate ran (a self-heal), keep the old
    guardrail_warnings: list[GuardrailWarning] | None = None
    hooks: list[HookStatus] = field(default_factory=list)  # delivery: the hooks this sync ran


def application_status(app: Application, outcome: Outcome, now: str) -> ApplicationStatus:
    """The status after a sync attempt; a failed sync keeps the inventory it had (the
    last good one, plus what ``applying_status`` recorded if the sync got that far)."""
    old = app.status or ApplicationStatus()
    gen = app.metadata.generation
    failed = bool(outcome.errors)
    entry = HistoryEntry(
        revision=outcome.revision,
        time=now,
        result="Failed" if failed else "Succeeded",
        message="; ".join(outcome.errors)[:1024],
        created=outcome.created,
        configured=outcome.configured,
        unchanged=outcome.unchanged,
        pruned=outcome.pruned,
        hooks=outcome.hooks,
    )
    history = record(old.history, entry, app.spec.history_limit)
    if failed:
        attempts = failed_attempts(history, outcome.revision)
        # a denial is not stalled: changing the Guardrail, not the Application, may lift it
        lifted_elsewhere = outcome.denied or outcome.refused  # a Guardrail or Project change
        exhausted = attempts > app.spec.retry.limit and not lifted_elsewhere
        reason = "RetriesExhausted" if exhausted else "SyncFailed"
        reason = "GuardrailDenied" if outcome.denied else reason
        reason = PROJECT_REFUSED if outcome.refused else reason
        message = f"{entry.message} (attempt {attempts})" if attempts > 1 else entry.message
        conds = conditions(old.conditions, "False", reason, message, gen, now, stalled=exhausted)
        return msgspec.structs.replace(
            old,
            conditions=conds,
            observed_generation=gen,
            last_attempted_revision=outcome.revision,
            history=history,
        )
    status: ConditionStatus = "True"
    reason, message = "Synced", f"applied revision {outcome.revision[:12]}"
    if outcome.overall.status in ("Degraded", "Missing"):
        status, reason = "False", "HealthCheckFailed"
        message = f"{message}; unhealthy: {outcome.overall.message}"
    elif outcome.overall.status in ("Progressing", "Unknown"):
        status, reason = "Unknown", "Progressing"
        message = f"{message}; waiting: {outcome.overall.message}"
    resources = [
        ResourceStatus(
            api_version=outcome.versions.get(k, ""),
            kind=k.kind,
            name=k.name,
            namespace=k.namespace,
            sync="Synced",
            health=h.status,
            message=h.message,
        )
        for k, h in sorted(outcome.health.items())
    ]
    # differences found while moving to a new revision are the commit, not drift
    found = outcome.drift if outcome.revision == old.last_applied_revision else {}
    drift = [
        ObjectDrift(
            api_version=outcome.versions.get(k, ""),
            kind=k.kind,
            name=k.name,
            namespace=k.namespace,
            fields=[FieldDrift(path=d.path, desired=d.desired, live=d.live) for d in ds],
        )
        for k, ds in sorted(found.items())
    ]
    return ApplicationStatus(
        conditions=conditions(old.conditions, status, reason, message, gen, now),
        observed_generation=gen,
        last_applied_revision=outcome.revision,
        last_attempted_revision=outcome.revision,
        inventory=references(outcome.inventory),
        resources=resources,
        drift=drift,
        history=history,
        guardrail_warnings=(
            old.guardrail_warnings
            if outcome.guardrail_warnings is None
            else outcome.guardrail_warnings
        ),
    )


def applying_status(
    app: Application, revision: str, inventory: Sequence[Entry], now: str
) -> ApplicationStatus:
    """The status written just before a sync changes anything.

    ``inventory`` holds the old inventory plus everything about to be applied, so a
    process killed at any moment afterwards leaves no object a later sync cannot
    prune; Ready is Unknown and Reconciling True, so nobody reads the old revision
    as synced while the new one is half applied.
    """
    old = app.status or ApplicationStatus()
    gen = app.metadata.generation
    message = f"applying revision {revision[:12]}"
    conds = list(old.conditions)
    conds = set_condition(conds, _cond("Ready", "Unknown", "Progressing", message, gen, now))
    conds = set_condition(conds, _cond("Reconciling", "True", "Progressing", message, gen, now))
    conds = set_condition(conds, _cond("Stalled", "False", "Progressing", "", gen, now))
    return msgspec.structs.replace(
        old,
        conditions=conds,
        observed_generation=gen,
        last_attempted_revision=revision,
        inventory=references(sorted(set(inventory))),
    )


def blocked_status(
    app: Application, reason: str, message: str, now: str, *, stalled: bool = False
) -> ApplicationStatus:
    """Status of an Application that was not synced (dependency, suspend, bad spec)."""
    old = app.status or ApplicationStatus()
    # waiting for something else (fleet: for the destination cluster), not failed
    waiting = reason in ("DependencyNotReady", "ClusterUnreachable", "ClusterNotRegistered",
                         PROJECTS_UNAVAILABLE)
    ready: ConditionStatus = "False" if stalled or not waiting else "Unknown"
    conds = conditions(
        old.conditions, ready, reason, message, app.metadata.generation, now, stalled=stalled
    )
    return msgspec.structs.replace(
        old, conditions=conds, observed_generation=app.metadata.generation
    )
