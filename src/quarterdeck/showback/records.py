"""UsageRecord objects (the cluster's copy) to and from `usage.UsageRecord`: pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.showback import UsageRecord as UsageObject
from quarterdeck.api.showback import UsageRecordSpec, UtilStep
from quarterdeck.showback.claims import Claim
from quarterdeck.showback.usage import UsageRecord

MANAGED_BY = "app.kubernetes.io/managed-by"


def record_name(namespace: str, pod: str, uid: str) -> str:
    """A stable, valid object name per pod incarnation (uid), under 253 characters."""
    digest = hashlib.sha256(f"{namespace}/{pod}/{uid}".encode()).hexdigest()[:10]
    base = f"{namespace}.{pod}"[:200].strip(".-")
    return f"{base}.{digest}"


def from_object(obj: dict[str, Any]) -> UsageRecord:
    """A record from the API object; msgspec.ValidationError names a bad field."""
    spec = msgspec.convert(obj, UsageObject).spec
    return UsageRecord(
        namespace=spec.namespace,
        pod=spec.pod,
        uid=spec.pod_uid,
        claim=Claim(spec.gpu_milli, spec.mig_profile or None, spec.cpu_milli, spec.memory_bytes),
        start=spec.start,
        end=spec.end,
        model=spec.model,
        queue=spec.queue,
        node=spec.node,
        labels=tuple(sorted(spec.labels.items())),
        util=tuple((s.at, s.percent) for s in spec.util),
        created=spec.created,
        kind="notebook" if spec.notebook else "pod",
    )


def to_object(record: UsageRecord) -> dict[str, Any]:
    obj = UsageObject(
        metadata=ObjectMeta(
            name=record_name(record.namespace, record.pod, record.uid),
            labels={MANAGED_BY: "quarterdeck-showback"},
        ),
        spec=UsageRecordSpec(
            namespace=record.namespace,
            pod=record.pod,
            pod_uid=record.uid,
            node=record.node,
            model=record.model,
            queue=record.queue,
            labels=dict(record.labels),
            gpu_milli=record.claim.gpu_milli,
            mig_profile=record.claim.mig_profile or "",
            cpu_milli=record.claim.cpu_milli,
            memory_bytes=record.claim.memory_bytes,
            created=record.created,
            start=record.start,
            end=record.end,
            util=[UtilStep(at=a, percent=p) for a, p in record.util],
            notebook=record.kind == "notebook",
        ),
    )
    out: dict[str, Any] = msgspec.to_builtins(obj)
    return out


def expired(records: Iterable[UsageRecord], now: float, retention: float) -> list[UsageRecord]:
    """Records that ended more than `retention` seconds before `now` (open ones never
    expire: a pod still holding GPUs is still being accounted)."""
    cutoff = now - retention
    return [r for r in records if r.end is not None and r.end < cutoff]
