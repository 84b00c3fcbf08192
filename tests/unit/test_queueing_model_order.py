"""Queue order and shapes, the two things the cycle computes for every waiting workload.

`in_queue_order` is three stable sorts for speed; it must give exactly the order of
the (-priority, created, key) tuple. `Shape` is interned, so the cycle's failure
lookups compare identities; equal pod sets must share one, different ones must not.
"""

from __future__ import annotations

import random

from quarterdeck.queueing.model import PodSet, Workload, in_queue_order


def _workload(key: str, priority: int, created: float, cpu: int = 1000) -> Workload:
    return Workload(key, "cq", (PodSet("main", 1, {"cpu": cpu}),), priority, created)


def test_in_queue_order_is_the_tuple_order() -> None:
    rng = random.Random(7)
    # few distinct priorities and times, so ties at every level are common
    workloads = [
        _workload(f"ns/w-{rng.randrange(40)}-{i}", rng.choice((0, 50, 100)), rng.randrange(5))
        for i in range(500)
    ]
    rng.shuffle(workloads)
    expected = sorted(workloads, key=lambda w: (-w.priority, w.created, w.key))
    assert [w.key for w in in_queue_order(workloads)] == [w.key for w in expected]


def test_equal_pod_sets_share_one_shape_and_different_ones_do_not() -> None:
    a, b = _workload("ns/a", 0, 0.0), _workload("ns/b", 100, 9.0)
    other = _workload("ns/c", 0, 0.0, cpu=2000)
    assert a.shape is b.shape
    assert a.shape is not other.shape
    assert {(a.cluster_queue, a.shape): 1}.get((b.cluster_queue, b.shape)) == 1
