"""The dashboard's pure views: what a page shows from cached objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quarterdeck.dashboard import views
from quarterdeck.dashboard.pending import key_of, pending_revision
from quarterdeck.dashboard.waits import WINDOWS, admission_waits
from quarterdeck.showback.objectives import QueueWaits


def app(ns: str, name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"sourceRef": {"name": "r"}},
            "status": status}


def test_app_sync_and_health_summarise_the_objects() -> None:
    never = app("a", "new")
    synced = app("a", "web", lastAppliedRevision="abc",
                 resources=[{"health": "Healthy"}, {"health": "Progressing"}])
    failed = app("a", "bad", conditions=[{"type": "Ready", "status": "False", "message": "x"}])
    drifted = app("a", "edit", lastAppliedRevision="abc",
                  resources=[{"sync": "OutOfSync", "health": "Healthy"}])
    assert [(views.app_sync(a), views.app_health(a)) for a in (never, synced, failed, drifted)] == [
        ("Unknown", "Unknown"), ("Synced", "Progressing"), ("Failed", "Unknown"),
        ("OutOfSync", "Healthy"),
    ]
    summary = views.overview(views.app_rows([never, synced, drifted]), [], None)
    assert summary["applications"] == {
        "total": 3,
        "health": {"Healthy": 1, "Progressing": 1, "Unknown": 1},
        "sync": {"OutOfSync": 1, "Synced": 1, "Unknown": 1},
    }


def test_app_detail_shows_the_commit_only_when_it_is_the_applied_one() -> None:
    a = app("a", "web", lastAppliedRevision="abc",
            history=[{"revision": "abc", "time": "t", "result": "Succeeded", "attempts": 2}])
    source = {"status": {"artifact": {"revision": "abc", "author": "Ada", "message": "one"}}}
    newer = {"status": {"artifact": {"revision": "def", "author": "Bob", "message": "two"}}}
    assert views.app_detail(a, source)["commit"] == {"author": "Ada", "message": "one"}
    assert views.app_detail(a, newer)["commit"] == {"author": "", "message": ""}
    assert views.app_detail(a, None)["history"][0]["attempts"] == 2


def test_queue_rows_usage_per_flavor_and_pending_in_order_with_reason() -> None:
    cq = {"metadata": {"name": "cq"},
          "spec": {"resourceGroups": [{"flavors": [{"name": "h100", "resources": [
              {"name": "nvidia.com/gpu", "nominalQuota": 8, "borrowingLimit": "4"}]}]}]},
          "status": {"admittedWorkloads": 1, "flavorsUsage": [
              {"name": "h100", "resources": [{"name": "nvidia.com/gpu", "total": "6"}]}]}}
    waiting = {"reason": "NoQuota", "type": "QuotaReserved", "status": "False",
               "message": "needs 8"}
    wl = [
        {"metadata": {"namespace": "t", "name": "late", "creationTimestamp": "2026-01-02"},
         "spec": {"queueName": "lq"}, "status": {"conditions": [waiting]}},
        {"metadata": {"namespace": "t", "name": "early", "creationTimestamp": "2026-01-01"},
         "spec": {"queueName": "lq"}},
        {"metadata": {"namespace": "t", "name": "running"}, "spec": {"queueName": "lq"},
         "status": {"admission": {"clusterQueue": "cq"}}},
        {"metadata": {"namespace": "other", "name": "elsewhere"}, "spec": {"queueName": "lq"}},
    ]
    (row,) = views.queue_rows([cq], wl, {("t", "lq"): "cq"})
    assert row["usage"] == [{"flavor": "h100", "resource": "nvidia.com/gpu", "used": 6.0,
                             "nominal": 8.0, "borrowingLimit": 4.0, "borrowed": 0.0,
                             "percent": 75}]
    assert [(w["name"], w["reason"]) for w in row["pending"]] == [
        ("early", "not yet considered"), ("late", "needs 8")]
    assert row["pendingTotal"] == 2


def test_a_long_queue_lists_the_first_pending_and_counts_them_all() -> None:
    cq = {"metadata": {"name": "cq"}, "spec": {}}
    many = [{"metadata": {"namespace": "t", "name": f"w{i:03d}", "creationTimestamp": f"{i:03d}"},
             "spec": {"queueName": "lq"}} for i in range(120)]
    (row,) = views.queue_rows([cq], many, {("t", "lq"): "cq"})
    assert row["pendingTotal"] == 120 and len(row["pending"]) == views.PENDING_SHOWN
    assert row["pending"][0]["name"] == "w000"


def test_gpu_totals_count_only_pods_holding_a_node() -> None:
    nodes = [{"status": {"allocatable": {"nvidia.com/gpu": "8"}}}, {"status": {}}]

    def pod(node: str, phase: str, gpus: str) -> dict[str, Any]:
        return {"spec": {"nodeName": node, "containers": [
            {"resources": {"requests": {"nvidia.com/gpu": gpus}}}]}, "status": {"phase": phase}}

    pods = [pod("n1", "Running", "4"), pod("n1", "Succeeded", "4"), pod("", "Pending", "8")]
    assert views.gpu_totals(nodes, pods) == {"total": 8, "allocated": 4, "free": 4}
    assert views.quantity("500m") == 0.5 and views.quantity("2Gi") == 2 * 2**30


def admitted(name: str, queue: str, created: str, reserved: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "a", "name": name, "creationTimestamp": created},
            "status": {"admission": {"clusterQueue": queue}, "conditions": [
                {"type": "QuotaReserved", "status": "True", "lastTransitionTime": reserved}]}}


def test_admission_waits_cut_showbacks_queue_waits_into_recent_windows() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC).timestamp()
    workloads = [
        admitted("w1", "gpu", "2026-01-02T11:50:00Z", "2026-01-02T11:50:30Z"),  # 30 s, last hour
        admitted("w2", "gpu", "2026-01-02T11:00:00Z", "2026-01-02T11:10:00Z"),  # 600 s, 50 min ago
        admitted("w3", "gpu", "2026-01-02T07:00:00Z", "2026-01-02T08:00:00Z"),  # 3600 s, 4 h ago
        admitted("w4", "gpu", "2025-12-20T00:00:00Z", "2025-12-20T00:01:00Z"),  # too old
        admitted("w5", "cpu", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"),  # 36 h ago
        {"metadata": {"namespace": "a", "name": "waiting",
                      "creationTimestamp": "2026-01-02T11:00:00Z"}, "status": {}},
    ]
    waits = QueueWaits()
    waits.update(workloads)
    out = admission_waits(waits, now)
    assert set(out) == {"gpu", "cpu"}
    gpu = {w["window"]: w for w in out["gpu"]}
    assert [w["window"] for w in out["gpu"]] == [label for label, _, _ in WINDOWS]
    assert gpu["last hour"] == {"window": "last hour", "workloads": 2, "p50": 30.0, "p95": 600.0}
    assert gpu["1-6 h ago"] == {"window": "1-6 h ago", "workloads": 1, "p50": 3600.0,
                                "p95": 3600.0}
    assert gpu["6-24 h ago"]["workloads"] == 0 and gpu["6-24 h ago"]["p95"] is None
    assert gpu["1-7 days ago"]["workloads"] == 0  # w4 is older than a week
    assert {w["window"]: w["workloads"] for w in out["cpu"]}["1-7 days ago"] == 1


def test_a_commit_is_pending_when_the_source_fetched_what_the_application_has_not_applied(
) -> None:
    source = {"status": {"artifact": {"revision": "new"}}}
    behind = app("a", "web", lastAppliedRevision="old")
    assert pending_revision(behind, source) == "new"
    assert pending_revision(app("a", "web", lastAppliedRevision="new"), source) == ""
    assert pending_revision(app("a", "web"), source) == "new"  # never synced: all of it
    pinned = {**behind, "spec": {"sourceRef": {"name": "r"}, "revision": "old"}}
    assert pending_revision(pinned, source) == ""  # pinned: the Source's newest is not wanted
    assert pending_revision(behind, None) == "" and pending_revision(behind, {}) == ""
    synced_again = app("a", "web", lastAppliedRevision="older")
    assert key_of(behind, "new") != key_of(synced_again, "new")  # a new diff after a sync
