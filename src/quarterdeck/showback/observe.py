"""How usage records follow the cluster: pure. The controller calls `observe` each pass.

Given the records the cluster holds, the GPU pods running now and their utilisation
(from Prometheus; `None` when it cannot be read), it returns the records to write:
- a GPU pod running without a record gets one, starting when it started;
- a record whose pod stopped (gone, finished, being deleted) is closed;
- a new utilisation value appends a step (so a step function, not a sample per scrape).
A record is keyed by pod uid, so a restarted operator picks up exactly where the
records in the cluster left off: nothing held while it was down is lost, because
start and end come from the pod (its start time, its containers' finish times) when
`trust_pod_times` (the system clock), else from `now` (a test's file clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from quarterdeck.showback.claims import PRODUCT_LABEL, claim_of
from quarterdeck.showback.usage import UsageRecord

Obj = Mapping[str, Any]
QUEUE_LABELS = ("queueing.quarterdeck.dev/queue-name", "kueue.x-k8s.io/queue-name")
NOTEBOOK_LABEL = "quarterdeck.dev/notebook"
TERMINAL = ("Succeeded", "Failed")


def timestamp(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _finished_at(pod: Obj) -> float | None:
    ends = [
        timestamp(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    known = [e for e in ends if e is not None]
    return max(known) if known else None


def holding(pod: Obj) -> bool:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    return (
        status.get("phase") == "Running"
        and not meta.get("deletionTimestamp")
        and bool((pod.get("spec") or {}).get("nodeName"))
    )


def running_record(
    pod: Obj,
    nodes: Mapping[str, Obj],
    queues: Mapping[tuple[str, str], str],
    now: float,
    trust_pod_times: bool,
) -> UsageRecord | None:
    """The record a running GPU pod starts; None for a pod that holds no GPU."""
    try:
        claim = claim_of(pod)
    except ValueError:
        return None
    if not claim.holds_gpu:
        return None
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    node = nodes.get(spec.get("nodeName", "")) or {}
    labels = dict(meta.get("labels") or {})
    ns = meta.get("namespace", "")
    queue = queues.get((ns, _job_of(meta)), "")
    started = timestamp(status.get("startTime")) if trust_pod_times else None
    start = min(started, now) if started is not None else now
    return UsageRecord(
        namespace=ns,
        pod=meta.get("name", ""),
        uid=meta.get("uid", ""),
        claim=claim,
        start=start,
        model=((node.get("metadata") or {}).get("labels") or {}).get(PRODUCT_LABEL, ""),
        queue=queue,
        node=spec.get("nodeName", ""),
        labels=tuple(sorted(labels.items())),
        created=timestamp(meta.get("creationTimestamp")) if trust_pod_times else None,
        kind="notebook" if labels.get(NOTEBOOK_LABEL) == "true" else "pod",
    )


def _job_of(meta: Obj) -> str:
    labels = meta.get("labels") or {}
    return str(labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or "")


def observe(
    records: Sequence[UsageRecord],
    pods: Sequence[Obj],
    nodes: Mapping[str, Obj],
    queues: Mapping[tuple[str, str], str],
    utils: Mapping[tuple[str, str], float] | None,
    now: float,
    trust_pod_times: bool = True,
) -> list[UsageRecord]:
    """The records to write this pass (new, closed or with a new utilisation step)."""
    by_uid = {r.uid: r for r in records}
    live = {(p.get("metadata") or {}).get("uid", ""): p for p in pods}
    out: list[UsageRecord] = []
    for uid, pod in live.items():
        if not holding(pod) or uid in by_uid:
            continue
        fresh = running_record(pod, nodes, queues, now, trust_pod_times)
        if fresh is None:
            continue
        util = _util(utils, fresh)
        out.append(replace(fresh, util=((fresh.start, util),)))
    for r in records:
        if r.end is not None:
            continue
        current = live.get(r.uid)
        if current is None or not holding(current):
            end = now
            if trust_pod_times and current is not None:
                finished = _finished_at(current)
                end = min(now, finished) if finished is not None else now
            out.append(replace(r, end=max(end, r.start)))
            continue
        util = _util(utils, r)
        last = r.util[-1][1] if r.util else None
        if util != last:
            out.append(
                replace(r, util=(*r.util, (max(now, r.util[-1][0] if r.util else now), util)))
            )
    return out


def _util(utils: Mapping[tuple[str, str], float] | None, r: UsageRecord) -> float | None:
    if utils is None:
        return None  # Prometheus unreachable: unmeasured, never guessed
    return utils.get((r.namespace, r.pod))
