"""The conditions the platform demo waits for, read from plain objects. Pure.

Each returns a short line saying what holds (the demo prints it after the step's tick)
or None while it does not hold yet; the demo's shell polls them with a bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from quarterdeck.dashboard.views import app_health, condition, quantity

Obj = Mapping[str, Any]
GPU = "nvidia.com/gpu"


def synced_at(app: Obj | None, revision: str) -> str | None:
    """The Application runs `revision`, Ready and Healthy."""
    if app is None:
        return None
    status = app.get("status") or {}
    ready = condition(app, "Ready") or {}
    if status.get("lastAppliedRevision") != revision or ready.get("status") != "True":
        return None
    if app_health(app) != "Healthy":
        return None
    return f"{app['metadata']['namespace']}/{app['metadata']['name']} at {revision[:12]}"


def refused(app: Obj | None, revision: str) -> str | None:
    """The Application refused `revision` because of a guardrail: the reason it gives."""
    ready = condition(app, "Ready") if app is not None else None
    if ready is None or ready.get("reason") != "GuardrailDenied":
        return None
    message = str(ready.get("message") or "")
    return message if revision[:12] in message else None


def borrowed(cq: Obj | None, resource: str = GPU) -> float:
    """What a ClusterQueue uses beyond its nominal quota, over its flavors."""
    total = 0.0
    for flavor in ((cq or {}).get("status") or {}).get("flavorsUsage") or []:
        for res in flavor.get("resources") or []:
            if res.get("name") == resource:
                total += quantity(res.get("borrowed"))
    return total


def admitted(workloads: Iterable[Obj]) -> list[str]:
    """The names of the Workloads that hold quota now (admitted, not evicted or done)."""
    names = []
    for wl in workloads:
        status = wl.get("status") or {}
        done = (condition(wl, "Finished") or {}).get("status") == "True"
        evicted = (condition(wl, "Evicted") or {}).get("status") == "True"
        if status.get("admission") and not done and not evicted:
            names.append(str((wl.get("metadata") or {}).get("name", "")))
    return sorted(names)


def job_of(workload: Obj) -> str:
    """The Job a Workload stands for (its owner), else the Workload's own name."""
    meta = workload.get("metadata") or {}
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "Job":
            return str(owner.get("name", ""))
    return str(meta.get("name", ""))


def borrowing_story(team_a: Obj | None, a_workloads: Sequence[Obj]) -> str | None:
    """Both of team-a's Jobs run, one of them on GPUs borrowed from the cohort."""
    running = admitted(a_workloads)
    lent = borrowed(team_a)
    if len(running) < 2 or lent <= 0:
        return None
    return f"team-a runs {len(running)} Jobs, {lent:g} GPUs borrowed from team-b's idle quota"


def reclaim_story(team_a: Obj | None, a_workloads: Sequence[Obj], b_workloads: Sequence[Obj]
                  ) -> str | None:
    """team-b's Job runs on its own quota again, and team-a borrows nothing."""
    b_running = admitted(b_workloads)
    if not b_running or borrowed(team_a) > 0 or len(admitted(a_workloads)) != 1:
        return None
    evicted = sorted(job_of(w) for w in a_workloads
                     if (condition(w, "Evicted") or {}).get("status") == "True"
                     or not (w.get("status") or {}).get("admission"))
    gave_back = f"team-a's {', '.join(evicted)} preempted and requeued" if evicted else ""
    return f"team-b runs {', '.join(job_of(w) for w in b_workloads)}; {gave_back}".rstrip("; ")


def field_is(obj: Obj | None, key: str, value: str) -> str | None:
    """A ConfigMap's data key holds `value` again."""
    data = (obj or {}).get("data") or {}
    return f"{key}={value}" if data.get(key) == value else None


def costs_story(costs: Mapping[str, Any], teams: set[str], measured: bool) -> bool:
    """Every team has GPU-hours today (`team_costs`' rows) and, with Prometheus, some of
    them measured as used or idle."""
    rows = {r["team"]: r for r in costs.get("teams") or [] if r["team"] in teams}
    if set(rows) != teams or any(r["gpuHours"] <= 0 for r in rows.values()):
        return False
    return not measured or all(r["usedHours"] + r["idleHours"] > 0 for r in rows.values())


def budgets_story(budgets: Sequence[Obj | None], measured: bool) -> str | None:
    """Showback has evaluated each Budget (Ready, some GPU-hours spent and, with
    Prometheus, its metrics available): each one's team and percent used."""
    out = []
    for budget in budgets:
        if budget is None:
            return None
        status = budget.get("status") or {}
        ready = condition(budget, "Ready") or {}
        metrics = condition(budget, "MetricsAvailable") or {}
        if ready.get("status") != "True" or not float(status.get("gpuHours") or 0):
            return None
        if measured and metrics.get("status") != "True":
            return None
        crossed = status.get("crossed") or []
        out.append(f"{(budget.get('spec') or {}).get('team', '?')} "
                   f"{float(status.get('percent') or 0):.1f}% of {budget['spec'].get('gpuHours')}"
                   f" GPU-h" + (f" (crossed {', '.join(f'{t}%' for t in crossed)})"
                                if crossed else ""))
    return "; ".join(out)
