"""Quota accounting for one cycle: usage per ClusterQueue and what each may still take.

The model is Kueue's two-level tree (ClusterQueue under a flat cohort). A queue's
nominal quota splits into a guaranteed part (nominal - lendingLimit) that only it may
use, and a lendable part stored in the cohort. What a queue may still take of one
flavor-resource is its unused guaranteed part plus what the cohort has left, the latter
capped by the queue's borrowingLimit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from quarterdeck.queueing.model import ClusterQueue, FlavorResource, Quota

Limit = Literal["nominal", "borrowing", "cohort"]


@dataclass(frozen=True, slots=True)
class Headroom:
    """How much a queue may still take of one flavor-resource and what binds it."""

    free: int
    limit: Limit


class QuotaState:
    """Mutable usage for one cycle; every change goes through `add`."""

    def __init__(self, queues: Mapping[str, ClusterQueue]) -> None:
        self.queues = queues
        self.usage: dict[str, dict[FlavorResource, int]] = {name: {} for name in queues}
        self.quotas: dict[str, dict[FlavorResource, Quota]] = {
            name: dict(cq.flavor_resources()) for name, cq in queues.items()
        }
        self.members: dict[str, list[str]] = {}
        self.cohort_lendable: dict[str, dict[FlavorResource, int]] = {}
        self.cohort_usage: dict[str, dict[FlavorResource, int]] = {}
        for name, cq in queues.items():
            if cq.cohort is None:
                continue
            self.members.setdefault(cq.cohort, []).append(name)
            lendable = self.cohort_lendable.setdefault(cq.cohort, {})
            self.cohort_usage.setdefault(cq.cohort, {})
            for fr, q in self.quotas[name].items():
                lendable[fr] = lendable.get(fr, 0) + q.nominal - q.guaranteed

    def copy(self) -> QuotaState:
        new = QuotaState.__new__(QuotaState)
        new.queues, new.quotas, new.members = self.queues, self.quotas, self.members
        new.cohort_lendable = self.cohort_lendable
        new.usage = {k: dict(v) for k, v in self.usage.items()}
        new.cohort_usage = {k: dict(v) for k, v in self.cohort_usage.items()}
        return new

    def used(self, cq: str, fr: FlavorResource) -> int:
        return self.usage[cq].get(fr, 0)

    def add(self, cq: str, usage: Mapping[FlavorResource, int], sign: int = 1) -> None:
        """Add (sign=1) or remove (sign=-1) a workload's usage, keeping cohort sums."""
        mine = self.usage[cq]
        cohort = self.queues[cq].cohort
        for fr, v in usage.items():
            before = mine.get(fr, 0)
            after = before + sign * v
            mine[fr] = after
            if cohort is None:
                continue
            q = self.quotas[cq].get(fr)
            guaranteed = q.guaranteed if q else 0
            delta = max(0, after - guaranteed) - max(0, before - guaranteed)
            cu = self.cohort_usage[cohort]
            cu[fr] = cu.get(fr, 0) + delta

    def headroom(self, cq: str, fr: FlavorResource) -> Headroom:
        """What `cq` may still take of `fr` now, and which limit binds."""
        q = self.quotas[cq].get(fr)
        if q is None:
            return Headroom(0, "nominal")
        used = self.used(cq, fr)
        cohort = self.queues[cq].cohort
        if cohort is None:
            return Headroom(max(0, q.nominal - used), "nominal")
        local = max(0, q.guaranteed - used)
        parent = self.cohort_lendable[cohort].get(fr, 0) - self.cohort_usage[cohort].get(fr, 0)
        limit: Limit = "cohort"
        if q.borrowing_limit is not None:
            stored = q.nominal - q.guaranteed
            cap = stored - max(0, used - q.guaranteed) + q.borrowing_limit
            if cap < parent:
                parent, limit = cap, "borrowing"
        return Headroom(local + max(0, parent), limit)

    def capacity(self, cq: str, fr: FlavorResource) -> int:
        """The most `cq` could ever hold of `fr`, were everything else idle."""
        q = self.quotas[cq].get(fr)
        if q is None:
            return 0
        cohort = self.queues[cq].cohort
        if cohort is None:
            return q.nominal
        lendable = self.cohort_lendable[cohort].get(fr, 0)
        if q.borrowing_limit is not None:
            lendable = min(lendable, q.nominal - q.guaranteed + q.borrowing_limit)
        return q.guaranteed + lendable

    def borrows(self, cq: str, fr: FlavorResource, extra: int = 0) -> bool:
        """Whether `cq` uses (or would, with `extra` more) beyond its nominal quota."""
        q = self.quotas[cq].get(fr)
        return q is not None and self.used(cq, fr) + extra > q.nominal

    def fits(
        self, cq: str, usage: Mapping[FlavorResource, int], allow_borrowing: bool = True
    ) -> bool:
        for fr, v in usage.items():
            if v > self.headroom(cq, fr).free:
                return False
            if not allow_borrowing and self.borrows(cq, fr, v):
                return False
        return True
