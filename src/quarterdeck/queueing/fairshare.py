"""DRF-style fair sharing inside a cohort, as Kueue's dominant resource share.

A queue's share is, over resources, the largest fraction of the cohort's lendable
quota it is borrowing (usage above nominal), divided by its `fairSharing.weight`.
Queues with the lower share go first; preemption across the cohort only takes from a
queue whose share stays at least the preemptor's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from quarterdeck.queueing.model import FlavorResource
from quarterdeck.queueing.quota import QuotaState

NO_USAGE: Mapping[FlavorResource, int] = {}


def dominant_share(
    quota: QuotaState, cq: str, delta: Mapping[FlavorResource, int] = NO_USAGE
) -> float:
    """Share of `cq` (in 1/1000 of the cohort's lendable quota) with `delta` usage added."""
    queue = quota.queues[cq]
    if queue.cohort is None:
        return 0.0
    borrowed: dict[str, int] = {}
    for fr, q in quota.quotas[cq].items():
        used = quota.used(cq, fr) + delta.get(fr, 0)
        res = fr[1]
        borrowed[res] = borrowed.get(res, 0) + max(0, used - q.nominal)
    lendable = {res: quota.lendable_above(cq, res) for res in borrowed}
    share = 0.0
    for res, b in borrowed.items():
        if b > 0:
            share = max(share, math.inf if lendable.get(res, 0) == 0 else b * 1000 / lendable[res])
    if share == 0.0:
        return 0.0
    return math.inf if queue.weight <= 0 else share / queue.weight


def negate(usage: Mapping[FlavorResource, int]) -> dict[FlavorResource, int]:
    return {fr: -v for fr, v in usage.items()}
