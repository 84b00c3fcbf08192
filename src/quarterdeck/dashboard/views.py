"""What each dashboard page shows, computed from cached objects (plain dicts).

Pure: no client, no clock. The shell hands in the objects a user may see (already
filtered by access) and renders the returned plain data as HTML or JSON, so the HTML
page and its JSON twin can never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

Obj = Mapping[str, Any]
GPU = "nvidia.com/gpu"
TERMINAL = ("Succeeded", "Failed")
PENDING_SHOWN = 50  # pending Workloads listed per queue (the first in order; all are counted)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    for cond in _status(obj).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return None


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a number: '8', '500m', '16Gi', 2."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value or "0").strip()
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    decimal = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
               "P": 1e15, "E": 1e18}
    for suffix, factor in binary.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text and text[-1] in decimal:
        return float(text[:-1]) * decimal[text[-1]]
    return float(text)


# --- Applications ----------------------------------------------------------------------


def app_sync(app: Obj) -> str:
    """Synced, OutOfSync (a resource is), Failed (Ready False), or Unknown (never synced)."""
    ready = condition(app, "Ready")
    resources = _status(app).get("resources") or []
    if ready is not None and ready.get("status") == "False":
        return "Failed"
    if any(r.get("sync") not in (None, "Synced") for r in resources):
        return "OutOfSync"
    if _status(app).get("lastAppliedRevision"):
        return "Synced"
    return "Unknown"


def app_health(app: Obj) -> str:
    """The worst health of the Application's objects (Healthy when all are)."""
    order = ["Degraded", "Missing", "Progressing", "Suspended", "Unknown", "Healthy"]
    seen = {str(r.get("health") or "Unknown") for r in _status(app).get("resources") or []}
    if not seen:
        return "Healthy" if _status(app).get("lastAppliedRevision") else "Unknown"
    return next((h for h in order if h in seen), "Unknown")


def app_row(app: Obj) -> dict[str, Any]:
    meta, status = _meta(app), _status(app)
    ready = condition(app, "Ready") or {}
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "sync": app_sync(app),
        "health": app_health(app),
        "revision": status.get("lastAppliedRevision", ""),
        "message": ready.get("message", ""),
        "suspended": bool((app.get("spec") or {}).get("suspend")),
    }


def app_rows(apps: Iterable[Obj]) -> list[dict[str, Any]]:
    rows = [app_row(a) for a in apps]
    return sorted(rows, key=lambda r: (r["namespace"], r["name"]))


def app_detail(app: Obj, source: Obj | None) -> dict[str, Any]:
    """One Application: its row, the commit it runs, its objects with health, drift and
    history."""
    status = _status(app)
    artifact = _status(source).get("artifact") or {} if source is not None else {}
    revision = status.get("lastAppliedRevision", "")
    commit = artifact if artifact.get("revision") == revision and revision else {}
    return {
        **app_row(app),
        "source": ((app.get("spec") or {}).get("sourceRef") or {}).get("name", ""),
        "path": (app.get("spec") or {}).get("path", "."),
        "commit": {"author": commit.get("author", ""), "message": commit.get("message", "")},
        "conditions": [
            {k: c.get(k, "") for k in ("type", "status", "reason", "message")}
            for c in status.get("conditions") or []
        ],
        "objects": [
            {k: r.get(k, "") for k in ("kind", "namespace", "name", "sync", "health", "message")}
            for r in status.get("resources") or []
        ],
        "drift": [
            {"kind": d.get("kind", ""), "name": d.get("name", ""),
             "fields": [f.get("path", "") for f in d.get("fields") or []]}
            for d in status.get("drift") or []
        ],
        "history": [
            {k: h.get(k, "") for k in ("revision", "time", "result", "message", "attempts")}
            for h in status.get("history") or []
        ],
    }


# --- Queues ----------------------------------------------------------------------------


def _usage(cq: Obj, field: str = "total") -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for flavor in _status(cq).get("flavorsUsage") or []:
        for res in flavor.get("resources") or []:
            out[(flavor.get("name", ""), res.get("name", ""))] = quantity(res.get(field))
    return out


def queue_usage(cq: Obj) -> list[dict[str, Any]]:
    """Per flavor and resource: used against nominal quota and borrowing limit."""
    used, borrowed = _usage(cq), _usage(cq, "borrowed")
    rows = []
    for group in (cq.get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for res in flavor.get("resources") or []:
                nominal = quantity(res.get("nominalQuota"))
                key = (flavor.get("name", ""), res.get("name", ""))
                limit = res.get("borrowingLimit")
                rows.append({
                    "flavor": key[0],
                    "resource": key[1],
                    "used": used.get(key, 0.0),
                    "nominal": nominal,
                    "borrowingLimit": None if limit is None else quantity(limit),
                    "borrowed": borrowed.get(key, 0.0),
                    "percent": round(100 * used.get(key, 0.0) / nominal) if nominal else 0,
                })
    return rows


def workload_queue(workload: Obj, local_queues: Mapping[tuple[str, str], str]) -> str:
    """The ClusterQueue a Workload belongs to: its admission's, else its LocalQueue's."""
    admission = _status(workload).get("admission") or {}
    if admission.get("clusterQueue"):
        return str(admission["clusterQueue"])
    name = (workload.get("spec") or {}).get("queueName") or ""
    return local_queues.get((str(_meta(workload).get("namespace", "")), name), "")


def pending_reason(workload: Obj) -> str:
    """Why a Workload waits: the QuotaReserved condition's message, as queueing wrote it."""
    cond = condition(workload, "QuotaReserved") or {}
    return str(cond.get("message") or cond.get("reason") or "not yet considered")


def is_pending(workload: Obj) -> bool:
    if _status(workload).get("admission"):
        return False
    finished = condition(workload, "Finished") or {}
    return finished.get("status") != "True"


def queue_rows(
    queues: Iterable[Obj], workloads: Iterable[Obj], local_queues: Mapping[tuple[str, str], str]
) -> list[dict[str, Any]]:
    """Every ClusterQueue with its usage per flavor and its pending Workloads, oldest
    first (the order BestEffortFIFO considers them in, priority aside)."""
    pending: dict[str, list[Obj]] = {}
    for wl in workloads:
        if is_pending(wl):
            pending.setdefault(workload_queue(wl, local_queues), []).append(wl)
    rows = []
    for cq in sorted(queues, key=lambda q: str(_meta(q).get("name", ""))):
        name = str(_meta(cq).get("name", ""))
        waiting = sorted(pending.get(name, []),
                         key=lambda w: str(_meta(w).get("creationTimestamp", "")))
        rows.append({
            "name": name,
            "cohort": (cq.get("spec") or {}).get("cohortName")
            or (cq.get("spec") or {}).get("cohort") or "",
            "admitted": _status(cq).get("admittedWorkloads", 0),
            "usage": queue_usage(cq),
            "pendingTotal": len(waiting),
            "pending": [
                {"namespace": _meta(w).get("namespace", ""), "name": _meta(w).get("name", ""),
                 "priority": (w.get("spec") or {}).get("priority") or 0,
                 "reason": pending_reason(w)}
                for w in waiting[:PENDING_SHOWN]
            ],
        })
    return rows


def cohorts(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per cohort, per flavor and resource: the members' usage against their nominal
    quotas summed, and what each member borrows (from the rows of `queue_rows`)."""
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for row in rows:
        if not row["cohort"]:
            continue
        for u in row["usage"]:
            slot = out.setdefault(row["cohort"], {}).setdefault(
                (u["flavor"], u["resource"]),
                {"flavor": u["flavor"], "resource": u["resource"], "used": 0.0,
                 "nominal": 0.0, "members": []})
            slot["used"] += u["used"]
            slot["nominal"] += u["nominal"]
            slot["members"].append({"queue": row["name"], "used": u["used"],
                                    "nominal": u["nominal"], "borrowed": u["borrowed"]})
    return [{"name": name, "usage": list(slots.values())}
            for name, slots in sorted(out.items())]


# --- GPUs and the overview -------------------------------------------------------------


def gpu_totals(nodes: Iterable[Obj], pods: Iterable[Obj]) -> dict[str, int]:
    """GPUs on the nodes and those requested by pods that hold a node now."""
    capacity = sum(
        int(quantity((_status(n).get("allocatable") or {}).get(GPU, 0))) for n in nodes
    )
    allocated = 0
    for pod in pods:
        spec = pod.get("spec") or {}
        if not spec.get("nodeName") or _status(pod).get("phase") in TERMINAL:
            continue
        for container in spec.get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            limits = (container.get("resources") or {}).get("limits") or {}
            allocated += int(quantity(requests.get(GPU, limits.get(GPU, 0))))
    return {"total": capacity, "allocated": allocated, "free": max(0, capacity - allocated)}


def overview(
    apps: list[dict[str, Any]], queues: list[dict[str, Any]], gpus: dict[str, int] | None
) -> dict[str, Any]:
    """The front page: Applications counted by health and sync, queues by their busiest
    flavor, GPUs (None when the user may not list nodes)."""
    return {
        "applications": {
            "total": len(apps),
            "health": dict(sorted(Counter(a["health"] for a in apps).items())),
            "sync": dict(sorted(Counter(a["sync"] for a in apps).items())),
        },
        "queues": [
            {"name": q["name"], "pending": q["pendingTotal"], "admitted": q["admitted"],
             "percent": max((u["percent"] for u in q["usage"]), default=0)}
            for q in queues
        ],
        "gpus": gpus,
    }
