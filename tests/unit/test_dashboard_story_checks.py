"""The demo's end-state conditions and the showback page's numbers, on plain objects."""

from __future__ import annotations

from typing import Any

from quarterdeck.dashboard import story_checks as checks
from quarterdeck.dashboard.showback_view import budget_rows, team_costs

REV = "0123456789abcdef0123"


def app(revision: str, ready: str, reason: str = "Synced", message: str = "",
        health: str = "Healthy") -> dict[str, Any]:
    return {"metadata": {"namespace": "team-a", "name": "web"},
            "status": {"lastAppliedRevision": revision,
                       "conditions": [{"type": "Ready", "status": ready, "reason": reason,
                                       "message": message}],
                       "resources": [{"kind": "Deployment", "health": health}]}}


def workload(name: str, admitted: bool, evicted: bool = False) -> dict[str, Any]:
    conds = [{"type": "Evicted", "status": "True"}] if evicted else []
    status: dict[str, Any] = {"conditions": conds}
    if admitted:
        status["admission"] = {"clusterQueue": "team-a"}
    return {"metadata": {"name": f"job-{name}-x",
                         "ownerReferences": [{"kind": "Job", "name": name}]},
            "status": status}


def queue(borrowed: str) -> dict[str, Any]:
    return {"status": {"flavorsUsage": [{"name": "h100", "resources": [
        {"name": "nvidia.com/gpu", "total": "16", "borrowed": borrowed}]}]}}


def test_synced_needs_the_revision_ready_and_healthy() -> None:
    assert checks.synced_at(app(REV, "True"), REV) == f"team-a/web at {REV[:12]}"
    assert checks.synced_at(app("other", "True"), REV) is None
    assert checks.synced_at(app(REV, "False"), REV) is None
    assert checks.synced_at(app(REV, "True", health="Progressing"), REV) is None
    assert checks.synced_at(None, REV) is None


def test_refused_names_the_guardrail_for_that_revision_only() -> None:
    why = f"revision {REV[:12]}: blocked by 1 guardrail violation(s): no latest"
    assert checks.refused(app("old", "False", "GuardrailDenied", why), REV) == why
    assert checks.refused(app("old", "False", "GuardrailDenied", why), "f" * 20) is None
    assert checks.refused(app("old", "False", "SyncFailed", why), REV) is None


def test_borrowing_then_reclaim() -> None:
    both = [workload("train-1", True), workload("train-2", True)]
    assert checks.borrowing_story(queue("8"), both) == (
        "team-a runs 2 Jobs, 8 GPUs borrowed from team-b's idle quota")
    assert checks.borrowing_story(queue("0"), both) is None
    a_after = [workload("train-1", True), workload("train-2", True, evicted=True)]
    b_after = [{**workload("finetune", True)}]
    assert checks.admitted(a_after) == ["job-train-1-x"]
    assert checks.reclaim_story(queue("0"), a_after, b_after) == (
        "team-b runs finetune; team-a's train-2 preempted and requeued")
    assert checks.reclaim_story(queue("8"), both, b_after) is None
    assert checks.reclaim_story(queue("0"), a_after, [workload("finetune", False)]) is None


def record(ns: str, start: float, end: float | None, gpus: int = 8) -> dict[str, Any]:
    return {"apiVersion": "showback.quarterdeck.dev/v1alpha1", "kind": "UsageRecord",
            "metadata": {"name": f"{ns}.p"},
            "spec": {"namespace": ns, "pod": "p", "podUid": "u", "gpuMilli": gpus * 1000,
                     "start": start, "end": end, "model": "NVIDIA-H100-80GB-HBM3"}}


def test_team_costs_price_each_team_by_the_showback_accounting() -> None:
    now = 1_800_000_000.0 - 1_800_000_000.0 % 86400 + 7200  # 02:00 UTC
    pricing = [{"metadata": {"name": "default"},
                "spec": {"gpus": [{"model": "NVIDIA-H100-80GB-HBM3", "perHour": "2.50"}]}}]
    records = [record("team-a", now - 3600, None), record("team-b", now - 1800, now - 900),
               record("team-c", now - 3600, None)]
    out = team_costs(records, pricing, now, {"team-a", "team-b"})
    rows = {r["team"]: r for r in out["teams"]}
    assert set(rows) == {"team-a", "team-b"}  # team-c is not the viewer's
    assert rows["team-a"]["gpuHours"] == 8.0 and rows["team-a"]["gpuCost"] == "20.00"
    assert rows["team-b"]["gpuHours"] == 2.0 and rows["team-b"]["gpuCost"] == "5.00"
    assert rows["team-a"]["unmeasuredHours"] == 8.0  # no utilisation samples
    assert out["total"] == {"gpuHours": 10.0, "gpuCost": "25.00", "idleCost": "0.00"}
    unpriced = team_costs(records, [], now)
    assert unpriced["teams"][0]["gpuCost"] is None and unpriced["teams"][0]["unpriced"]


def budget(name: str, team: str, status: dict[str, Any] | None = None,
           **spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": name}, "spec": {"team": team, **spec}}
    if status is not None:
        out["status"] = status
    return out


def test_budget_rows_read_showbacks_verdict_from_each_budgets_status() -> None:
    ready = [{"type": "Ready", "status": "True", "message": "85.0% used"},
             {"type": "MetricsAvailable", "status": "False", "message": "Prometheus down"}]
    rows = budget_rows([
        budget("b-over", "team-b", {"conditions": ready[:1], "percent": 120.0, "gpuHours": 12.0,
                                    "crossed": [50, 80, 100], "borrowingStopped": "gpu-b"},
               gpuHours="10", thresholds=[50, 80, 100]),
        budget("a-warn", "team-a", {"conditions": ready, "percent": 85.0, "cost": "85.00",
                                    "crossed": [50, 80], "gpuHours": 34.0},
               cost="100", thresholds=[100, 50, 80], period="weekly"),
        budget("c-new", "team-c", gpuHours="5"),
        budget("d-bad", "team-d", {"conditions": [{"type": "Ready", "status": "False",
                                                   "message": "spec.period: invalid"}]}),
    ], "EUR")
    by = {r["name"]: r for r in rows}
    assert [r["team"] for r in rows] == ["team-a", "team-b", "team-c", "team-d"]
    assert by["a-warn"]["state"] == "warning" and by["a-warn"]["limit"] == "100 EUR"
    assert by["a-warn"]["thresholds"] == [
        {"percent": 50, "crossed": True}, {"percent": 80, "crossed": True},
        {"percent": 100, "crossed": False}]
    assert by["a-warn"]["message"] == "Prometheus down" and by["a-warn"]["cost"] == "85.00"
    assert by["b-over"]["state"] == "exceeded" and by["b-over"]["borrowingStopped"] == "gpu-b"
    assert by["b-over"]["limit"] == "10 GPU-hours" and by["b-over"]["gpuHours"] == 12.0
    assert by["c-new"]["state"] == "not evaluated" and by["c-new"]["percent"] == 0.0
    assert by["d-bad"]["state"] == "invalid" and "spec.period" in by["d-bad"]["message"]


def test_the_showback_steps_wait_for_measured_hours_and_evaluated_budgets() -> None:
    row = {"team": "team-a", "gpuHours": 1.0, "usedHours": 0.0, "idleHours": 0.0}
    costs = {"teams": [row, {**row, "team": "team-b", "usedHours": 0.5}]}
    assert checks.costs_story(costs, {"team-a", "team-b"}, measured=False)
    assert not checks.costs_story(costs, {"team-a", "team-b"}, measured=True)  # a not measured
    row["idleHours"] = 0.2
    assert checks.costs_story(costs, {"team-a", "team-b"}, measured=True)
    assert not checks.costs_story(costs, {"team-a", "team-c"}, measured=False)
    conds = [{"type": "Ready", "status": "True"}, {"type": "MetricsAvailable", "status": "False"}]
    evaluated = budget("team-a", "team-a", {"conditions": conds, "gpuHours": 0.5,
                                            "percent": 12.5, "crossed": [10]}, gpuHours="4")
    assert checks.budgets_story([evaluated], measured=True) is None  # no metrics yet
    assert checks.budgets_story([evaluated, None], measured=False) is None  # one missing
    assert checks.budgets_story([evaluated], measured=False) == (
        "team-a 12.5% of 4 GPU-h (crossed 10%)")
