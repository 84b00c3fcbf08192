"""Where we departed from Kueue's documented behaviour, each fixed at its cause."""

from __future__ import annotations

from typing import Any

import pytest
from queueing_scenarios import GPU, job, queue, running, world

from quarterdeck.api.queueing import ManifestError, load_documents, load_manifests
from quarterdeck.api.queueing.workload import PREEMPTED, WorkloadStatus
from quarterdeck.queueing import cycle, snapshot_from_objects
from quarterdeck.queueing.decisions import Admit
from quarterdeck.queueing.status import workload_status

V = "kueue.x-k8s.io/v1beta2"


def _workload(name: str, priority: int, reserved_at: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": V,
        "kind": "Workload",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "queueName": "lq",
            "priority": priority,
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {
                        "spec": {"containers": [{"name": "c", "resources": {"requests": {GPU: 2}}}]}
                    },
                }
            ],
        },
    }
    if reserved_at is not None:
        cond = {"type": "QuotaReserved", "status": "True", "lastTransitionTime": reserved_at}
        doc["status"] = {
            "conditions": [cond],
            "admission": {
                "clusterQueue": "cq",
                "podSetAssignments": [
                    {"name": "main", "flavors": {GPU: "f"}, "resourceUsage": {GPU: 2}, "count": 1}
                ],
            },
        }
    return doc


def test_lower_priority_evicts_the_most_recently_admitted_read_from_the_cluster() -> None:
    """(a) The snapshot used to leave admitted_at at 0, so ties fell back to names."""
    docs = [
        {"apiVersion": V, "kind": "ResourceFlavor", "metadata": {"name": "f"}},
        {
            "apiVersion": V,
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": {
                "namespaceSelector": {},
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": [GPU],
                        "flavors": [{"name": "f", "resources": [{"name": GPU, "nominalQuota": 4}]}],
                    }
                ],
            },
        },
        {
            "apiVersion": V,
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": "ns"},
            "spec": {"clusterQueue": "cq"},
        },
        # "b-newer" sorts last by name but was admitted last: Kueue evicts it.
        _workload("a-older", 0, "2026-01-01T00:01:00Z"),
        _workload("b-newer", 0, "2026-01-01T00:05:00Z"),
        _workload("urgent", 10, None),
    ]
    snap = snapshot_from_objects(load_documents(docs))
    assert sorted(a.admitted_at for a in snap.admitted)[0] > 0
    got = cycle(snap)
    assert [p.victim.workload.key for p in got.preempted] == ["ns/b-newer"]


def test_may_stop_search_tries_the_next_flavor_when_nothing_can_be_preempted() -> None:
    """(b) Under whenCanPreempt: MayStopSearch the search used to stop at a flavor
    where preemption was possible in quota terms but no candidate existed."""
    cq = queue("a", {"h100": 4, "a100": 4}, within="LowerPriority", when_can_preempt="Preempt")
    busy = running(job("n/busy", "a", 4, priority=10), flavor="h100")
    d = cycle(world([cq], [job("n/new", "a", 4, priority=5)], [busy]))
    assert [a.workload.key for a in d.admitted] == ["n/new"]
    assert d.admitted[0].pod_sets[0].flavors == {GPU: "a100"}
    assert not d.preempted
    # With a lower-priority candidate on the first flavor, it still stops and preempts.
    low = running(job("n/low", "a", 4, priority=0), flavor="h100")
    d = cycle(world([cq], [job("n/new", "a", 4, priority=5)], [low]))
    assert [p.victim.workload.key for p in d.preempted] == ["n/low"]


def test_victims_get_the_preempted_condition_and_lose_it_when_admitted_again() -> None:
    """(c) Kueue sets Preempted (reason InClusterQueue, InCohortReclamation, ...)."""
    low = running(job("n/low", "a", 4, priority=0))
    snap = world(
        [queue("a", 4, within="LowerPriority")], [job("n/high", "a", 4, priority=10)], [low]
    )
    pre = cycle(snap).preempted[0]
    status = workload_status(WorkloadStatus(), pre, "2026-01-01T00:00:00Z")
    cond = status.condition(PREEMPTED)
    assert cond is not None and cond.status == "True" and cond.reason == "InClusterQueue"
    again = Admit(low.workload, low.pod_sets, borrows=False)
    assert workload_status(status, again, "2026-01-01T00:01:00Z").condition(PREEMPTED) is None


def test_kueue_fields_we_do_not_implement_are_refused_by_name_not_dropped() -> None:
    cq = (
        "apiVersion: kueue.x-k8s.io/v1beta2\nkind: ClusterQueue\nmetadata: {name: cq}\n"
        "spec:\n  namespaceSelector: {}\n  admissionScope: {admissionMode: UsageBasedFairSharing}\n"
    )
    with pytest.raises(ManifestError, match=r"spec\.admissionScope: field not supported"):
        load_manifests(cq)
    lq = (
        "apiVersion: kueue.x-k8s.io/v1beta2\nkind: LocalQueue\nmetadata: {name: q, namespace: n}\n"
        "spec: {clusterQueue: cq, fairSharing: {weight: 2}}\n"
    )
    with pytest.raises(ManifestError, match=r"spec\.fairSharing: field not supported"):
        load_manifests(lq)
    nested = (
        "apiVersion: kueue.x-k8s.io/v1beta2\nkind: ClusterQueue\nmetadata: {name: cq}\n"
        "spec:\n  preemption: {withinClusterQueue: LowerPriority, fancy: true}\n"
    )
    with pytest.raises(ManifestError, match=r"spec\.preemption\.fancy"):
        load_manifests(nested)
