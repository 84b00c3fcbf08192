"""The live view decodes only what changed, and its snapshot equals a fresh one.

The pass thread reads the view once per pass; at 15,000 Workloads decoding and
converting every object each pass was most of a pass. These tests pin the contract of
the shortcut: same objects, same order, same snapshot as decoding everything again."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck.api.queueing.workload import Workload as ApiWorkload
from quarterdeck.queueing.live import LiveView
from quarterdeck.queueing.snapshot import WorkloadMemo, snapshot_from_objects
from quarterdeck.queueing.store import Cache

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "queueing"
GROUP = "kueue.x-k8s.io/v1beta1"


def _docs() -> list[dict[str, Any]]:
    with open(EXAMPLES / "two-teams.yaml") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def _stamp(doc: dict[str, Any], rv: int) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc.setdefault("metadata", {})["resourceVersion"] = str(rv)
    return doc


def _workload(name: str, rv: int, gpus: int = 1, team: str = "team-a") -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": team,
            "resourceVersion": str(rv),
            "creationTimestamp": f"2026-11-21T05:{rv % 60:02d}:00Z",
        },
        "spec": {
            "queueName": "training",
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "resources": {
                                        "requests": {"cpu": "1", "nvidia.com/gpu": str(gpus)}
                                    },
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }


def _view(workloads: int = 3) -> LiveView:
    view = LiveView(None)  # type: ignore[arg-type]  # caches fed by hand, never listed
    for rv, doc in enumerate(_docs(), start=1):
        view.queueing[doc["kind"]].assume(_stamp(doc, rv))
    for i in range(workloads):
        view.workloads.assume(_workload(f"w{i}", 100 + i))
    return view


def _names(view: LiveView) -> list[str]:
    objects, _ = view.objects()
    return [o.metadata.name for o in objects if isinstance(o, ApiWorkload)]


def _fresh(view: LiveView) -> Any:
    """The snapshot of decoding every object anew, no memo: what the view must equal."""
    again = LiveView(None)  # type: ignore[arg-type]
    for kind, store in view.queueing.items():
        for doc in store.list():
            again.queueing[kind].assume(doc)
    snap, _, _ = again.snapshot(now=1_000_000.0)
    return snap


def test_drain_changed_gives_each_changed_key_once_in_the_order_of_its_last_change() -> None:
    cache = Cache(LiveView(None).workloads.resource, track_changes=True)  # type: ignore[arg-type]
    cache.assume(_workload("a", 1))
    cache.assume(_workload("b", 2))
    cache.assume(_workload("a", 3))
    assert cache.drain_changed() == [("team-a", "b"), ("team-a", "a")]
    assert cache.drain_changed() == []
    cache.forget("team-a", "b")
    cache.assume(_workload("a", 2))  # older than what is held: not a change
    assert cache.drain_changed() == [("team-a", "b")]
    assert [d["metadata"]["name"] for d in cache.list()] == ["a"]


def test_a_cache_that_does_not_track_changes_says_so() -> None:
    cache = LiveView(None).jobs  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="does not track changes"):
        cache.drain_changed()


def test_objects_follow_adds_updates_deletes_and_finished_workloads() -> None:
    view = _view(3)
    assert _names(view) == ["w0", "w1", "w2"]
    first, _ = view.objects()
    second, _ = view.objects()
    assert all(a is b for a, b in zip(first, second, strict=True))  # nothing decoded again

    view.workloads.assume(_workload("w0", 200, gpus=2))  # an update moves it last
    view.workloads.assume(_workload("w3", 201))
    view.workloads.forget("team-a", "w1")
    finished = _workload("w2", 202)
    finished["status"] = {
        "conditions": [
            {
                "type": "Finished",
                "status": "True",
                "reason": "Succeeded",
                "message": "done",
                "lastTransitionTime": "2026-11-21T06:00:00Z",
            }
        ]
    }
    view.workloads.assume(finished)
    objects, problems = view.objects()
    workloads = [o for o in objects if isinstance(o, ApiWorkload)]
    assert [w.metadata.name for w in workloads] == ["w0", "w3"]
    assert problems == []
    requests = workloads[0].spec.pod_sets[0].template["spec"]["containers"][0]["resources"]
    assert requests["requests"]["nvidia.com/gpu"] == "2"


def test_a_refused_object_is_reported_until_it_is_fixed() -> None:
    view = _view(1)
    bad = _workload("bad", 300)
    bad["spec"]["podSets"][0]["count"] = "many"
    view.workloads.assume(bad)
    _, problems = view.objects()
    assert len(problems) == 1 and "bad" in problems[0]
    _, problems = view.objects()  # not changed since: still refused, said again
    assert len(problems) == 1
    view.workloads.assume(_workload("bad", 301))
    objects, problems = view.objects()
    assert problems == []
    assert "bad" in [o.metadata.name for o in objects]


def test_the_snapshot_across_passes_equals_a_fresh_one() -> None:
    view = _view(4)
    snap, _, _ = view.snapshot(now=1_000_000.0)
    assert snap == _fresh(view)

    # a Workload grows; another team's LocalQueue points elsewhere; one goes away
    view.workloads.assume(_workload("w1", 400, gpus=4))
    view.workloads.forget("team-a", "w3")
    view.workloads.assume(_workload("b0", 401, team="team-b"))
    snap, _, _ = view.snapshot(now=1_000_000.0)
    assert snap == _fresh(view)
    assert {w.key for w in snap.pending} == {"team-a/w0", "team-a/w1", "team-a/w2", "team-b/b0"}

    lq = next(
        d for d in _docs() if d["kind"] == "LocalQueue" and d["metadata"]["namespace"] == "team-b"
    )
    moved = _stamp(lq, 402)
    moved["spec"]["clusterQueue"] = "team-a"
    view.queueing["LocalQueue"].assume(moved)
    snap, _, _ = view.snapshot(now=1_000_000.0)
    assert snap == _fresh(view)
    by_key = {w.key: w for w in snap.pending}
    assert by_key["team-b/b0"].cluster_queue == "team-a"


def test_an_unchanged_workload_is_not_converted_again() -> None:
    view = _view(2)
    snap, _, _ = view.snapshot(now=1_000_000.0)
    before = {w.key: w for w in snap.pending}
    view.workloads.assume(_workload("w1", 500, gpus=3))
    snap, _, _ = view.snapshot(now=1_000_000.0)
    after = {w.key: w for w in snap.pending}
    assert after["team-a/w0"] is before["team-a/w0"]
    assert after["team-a/w1"] is not before["team-a/w1"]
    assert after["team-a/w1"].pod_sets != before["team-a/w1"].pod_sets


def test_the_memo_does_not_change_the_snapshot() -> None:
    view = _view(3)
    objects, _ = view.objects()
    memo = WorkloadMemo()
    plain = snapshot_from_objects(objects, now=1_000_000.0)
    assert snapshot_from_objects(objects, now=1_000_000.0, memo=memo) == plain
    assert snapshot_from_objects(objects, now=1_000_000.0, memo=memo) == plain
    assert set(memo.converted) == {"team-a/w0", "team-a/w1", "team-a/w2"}
    fewer = [o for o in objects if o.metadata.name != "w2"]
    snapshot_from_objects(fewer, now=1_000_000.0, memo=memo)
    assert set(memo.converted) == {"team-a/w0", "team-a/w1"}
    assert len(memo.placed) == 2


def test_a_change_around_unchanged_workloads_places_them_again() -> None:
    """The same Workload instances, but what their conversion reads changed (here their
    LocalQueue is gone): the memo must not hand back where they went before."""
    view = _view(2)
    objects, _ = view.objects()
    memo = WorkloadMemo()
    first = snapshot_from_objects(objects, now=1_000_000.0, memo=memo)
    gone = [o for o in objects if not (o.kind == "LocalQueue" and o.metadata.name == "training")]
    second = snapshot_from_objects(gone, now=1_000_000.0, memo=memo)
    assert second == snapshot_from_objects(gone, now=1_000_000.0)
    assert [w.error for w in first.pending] == [None, None]
    assert all("LocalQueue team-a/training not found" in (w.error or "") for w in second.pending)
