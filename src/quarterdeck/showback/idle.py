"""Which GPU pods sit idle long enough for a `GpuIdlePolicy` to act, and how: pure.

A pod is idle from the start of the trailing run of utilisation steps below the
policy's threshold; an unmeasured step (Prometheus unreachable) breaks the run, so a
pod is never reclaimed on missing data. Once idle for `duration` the policy's action
is due: `Report` and `Notify` for any pod, `Suspend` for a pod of a queued Job (the
Workload is evicted so the Job requeues), `DeleteNotebook` for a pod labelled
`quarterdeck.dev/notebook: "true"`, and only inside the policy's daily `schedule`.
A dry run reports the same verdicts with `act = False`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from quarterdeck.api.duration import parse_duration
from quarterdeck.api.showback import GpuIdlePolicySpec
from quarterdeck.showback.usage import UsageRecord


@dataclass(frozen=True)
class Verdict:
    record: UsageRecord
    idle_since: float
    action: str
    act: bool  # False: dry run, outside the schedule, or the action does not apply
    message: str


def idle_since(record: UsageRecord, threshold: float, now: float) -> float | None:
    """When the current idle stretch began (None: busy or unmeasured now)."""
    since = None
    for at, pct in reversed(record.util):
        if pct is None or pct >= threshold:
            break
        since = at
    return since


def in_schedule(schedule: str, now: float) -> bool:
    """`20:00-08:00` (UTC, may wrap midnight); an empty schedule is always."""
    if not schedule:
        return True
    a, b = schedule.split("-")
    minute = int(datetime.fromtimestamp(now, UTC).strftime("%H")) * 60 + int(
        datetime.fromtimestamp(now, UTC).strftime("%M")
    )
    start = int(a[:2]) * 60 + int(a[3:])
    end = int(b[:2]) * 60 + int(b[3:])
    return start <= minute < end if start <= end else minute >= start or minute < end


def _matches(record: UsageRecord, selector: dict[str, str]) -> bool:
    labels = dict(record.labels)
    return all(labels.get(k) == v for k, v in selector.items())


def decide(
    spec: GpuIdlePolicySpec, namespace: str, records: Iterable[UsageRecord], now: float
) -> list[Verdict]:
    """The verdicts of one policy (its namespace's open records) at `now`."""
    duration = parse_duration(spec.duration)
    scheduled = in_schedule(spec.schedule, now)
    out = []
    for r in records:
        if r.end is not None or r.namespace != namespace or not _matches(r, spec.selector):
            continue
        since = idle_since(r, spec.threshold, now)
        if since is None or now - since < duration:
            continue
        idle_for = int(now - since)
        why = f"GPU utilisation below {spec.threshold:g}% for {idle_for}s (limit {spec.duration})"
        act, action = not spec.dry_run, spec.action
        if action == "Suspend" and not r.queue:
            act, why = False, f"{why}; not a queued Job, so only reported"
        if action == "DeleteNotebook" and r.kind != "notebook":
            act, why = False, f"{why}; not a notebook pod, so only reported"
        if action in ("Suspend", "DeleteNotebook") and not scheduled:
            act, why = False, f"{why}; outside the schedule {spec.schedule}"
        out.append(Verdict(r, since, action, act, why))
    return out
