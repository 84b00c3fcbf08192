"""Usage records: who held which GPUs, from when to when, and how busy they were. Pure data.

A record is one pod's holding (the controller writes one per GPU pod; a Workload's pods
each have their own). `util` is a step function: `(at, percent)` pairs, each value
holding from `at` until the next step or the record's end; `None` means not measured
(Prometheus unreachable), which is neither used nor idle but "unmeasured".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.showback.claims import Claim


@dataclass(frozen=True)
class UsageRecord:
    namespace: str
    pod: str
    claim: Claim
    start: float
    end: float | None = None  # None: still holding
    model: str = ""  # the node's nvidia.com/gpu.product
    queue: str = ""  # the ClusterQueue that admitted it
    node: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    util: tuple[tuple[float, float | None], ...] = ()
    created: float | None = None  # when it was asked for (queue wait = start - created)
    uid: str = ""
    kind: str = field(default="pod")  # "pod" or "notebook" (for idle policies)

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)

    def until(self, now: float) -> float:
        return now if self.end is None else self.end
