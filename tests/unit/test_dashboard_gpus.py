"""The GPU heatmap and the cohort view, on plain objects."""

from __future__ import annotations

from typing import Any

from quarterdeck.dashboard import views
from quarterdeck.dashboard.gpus import heatmap


def node(name: str, rack: str, alloc: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"quarterdeck.dev/rack": rack,
                                                  "nvidia.com/gpu.product": "H100"}},
            "status": {"allocatable": alloc}}


def pod(name: str, node_name: str, requests: dict[str, str], milli: str = "",
        phase: str = "Running") -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "t", "name": name}
    if milli:
        meta["annotations"] = {"quarterdeck.dev/gpu-milli": milli}
    return {"metadata": meta, "status": {"phase": phase},
            "spec": {"nodeName": node_name, "containers": [
                {"name": "c", "resources": {"requests": requests, "limits": requests}}]}}


def test_cells_fill_whole_shared_and_mig_and_skip_cpu_nodes_and_finished_pods() -> None:
    nodes = [node("g1", "rack0", {"nvidia.com/gpu": "4"}),
             node("m1", "rack1", {"nvidia.com/mig-1g.10gb": "2"}),
             {"metadata": {"name": "cpu"}, "status": {"allocatable": {"cpu": "16"}}}]
    pods = [pod("whole", "g1", {"nvidia.com/gpu": "2"}),
            pod("half", "g1", {"cpu": "1"}, milli="500"),
            pod("quarter", "g1", {"cpu": "1"}, milli="250"),
            pod("done", "g1", {"nvidia.com/gpu": "1"}, phase="Succeeded"),
            pod("mig", "m1", {"nvidia.com/mig-1g.10gb": "1"}),
            pod("bad", "g1", {"cpu": "1"}, milli="2000")]  # refused by claim_of: not shown
    out = heatmap(nodes, pods)
    assert [g["name"] for g in out["groups"]] == ["rack0", "rack1"]
    cells = out["groups"][0]["nodes"][0]["cells"]
    assert [c["state"] for c in cells] == ["used", "used", "shared", "free"]
    assert cells[2]["pods"] == ["t/half", "t/quarter"] and cells[2]["milli"] == 750
    mig = out["groups"][1]["nodes"][0]["cells"]
    assert [(c["state"], c["profile"]) for c in mig] == [("mig-used", "1g.10gb"),
                                                         ("mig-free", "1g.10gb")]
    assert out["totals"] == {"gpus": 4, "used": 2, "shared": 1, "free": 1, "migUsed": 1,
                             "migFree": 1, "partialFreeMilli": 250}


def test_cohort_sums_its_members_and_shows_who_borrows() -> None:
    def cq(name: str, total: str, borrowed: str) -> dict[str, Any]:
        return {"metadata": {"name": name},
                "spec": {"cohortName": "research", "resourceGroups": [{"flavors": [
                    {"name": "h100", "resources": [{"name": "nvidia.com/gpu",
                                                    "nominalQuota": 8}]}]}]},
                "status": {"flavorsUsage": [{"name": "h100", "resources": [
                    {"name": "nvidia.com/gpu", "total": total, "borrowed": borrowed}]}]}}

    rows = views.queue_rows([cq("a", "16", "8"), cq("b", "0", "0")], [], {})
    (cohort,) = views.cohorts(rows)
    (usage,) = cohort["usage"]
    assert cohort["name"] == "research" and (usage["used"], usage["nominal"]) == (16, 16)
    assert [(m["queue"], m["borrowed"]) for m in usage["members"]] == [("a", 8), ("b", 0)]
