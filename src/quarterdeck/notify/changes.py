"""Which notices an Application's status change means: pure, old status -> new status.

Deriving events from status (rather than from the controller's calls) keeps
notifications off the reconcile path and out of the controller: the shell watches
Applications and hands each change here. A repeat that changed nothing (the same
failure again, a no-op resync) is no new notice. Rollout aborts and completions are
announced by the rollout controller itself (``quarterdeck.rollout.controller``).
"""

from __future__ import annotations

from quarterdeck.api.delivery import Application, ApplicationStatus, HistoryEntry
from quarterdeck.api.meta import Condition, find_condition
from quarterdeck.notify.notice import Notice, notice


def _ready(status: ApplicationStatus | None) -> Condition | None:
    return find_condition(status.conditions, "Ready") if status else None


def _newest(status: ApplicationStatus | None) -> HistoryEntry | None:
    return status.history[0] if status and status.history else None


def _same_entry(a: HistoryEntry | None, b: HistoryEntry | None) -> bool:
    return (
        a is not None
        and b is not None
        and (a.time, a.revision, a.result, a.message)
        == (
            b.time,
            b.revision,
            b.result,
            b.message,
        )
    )


def _drift_set(status: ApplicationStatus | None) -> frozenset[tuple[str, str, str, str]]:
    if status is None:
        return frozenset()
    return frozenset((d.kind, d.namespace, d.name, f.path) for d in status.drift for f in d.fields)


def changes(old: ApplicationStatus | None, app: Application, now: str) -> list[Notice]:
    """The notices for ``app`` whose status was ``old`` and is now ``app.status``."""
    new = app.status
    if new is None:
        return []
    meta = app.metadata

    def make(event: str, message: str, severity: str = "info", revision: str = "") -> Notice:
        return notice(
            event,
            "Application",
            meta.namespace,
            meta.name,
            message,
            severity="error" if severity == "error" else "info",
            revision=revision,
            time=now,
            labels=meta.labels,
        )

    out: list[Notice] = []
    entry, before = _newest(new), _newest(old)
    if entry is not None and not _same_entry(entry, before):
        if entry.result == "Succeeded" and entry.created + entry.configured + entry.pruned:
            out.append(
                make(
                    "synced",
                    f"revision {entry.revision[:12]}: {entry.created} created, "
                    f"{entry.configured} configured, {entry.pruned} pruned",
                    revision=entry.revision,
                )
            )
        elif entry.result == "Failed":
            ready = _ready(new)
            denied = ready is not None and ready.reason == "GuardrailDenied"
            out.append(
                make(
                    "guardrail-denied" if denied else "failed",
                    entry.message,
                    "error",
                    entry.revision,
                )
            )
    ready, was = _ready(new), _ready(old)
    newly_degraded = was is None or was.reason != "HealthCheckFailed"
    if ready is not None and ready.reason == "HealthCheckFailed" and newly_degraded:
        out.append(make("degraded", ready.message, "error", new.last_applied_revision))
    drift = _drift_set(new)
    if drift and drift != _drift_set(old):
        fields = sorted(f"{kind} {ns}/{name} {path}" for kind, ns, name, path in drift)
        out.append(
            make("drift", "live objects differ from Git: " + ", ".join(fields[:20]), "error")
        )
    return out
