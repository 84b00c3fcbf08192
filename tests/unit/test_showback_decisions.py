"""The pure decisions around accounting: records following pods, idle verdicts, budgets,
queue objectives, and the OpenCost-shaped API answer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from quarterdeck.api.showback import BudgetSpec, GpuIdlePolicySpec, QueueObjectiveSpec
from quarterdeck.showback import budget, idle, objectives
from quarterdeck.showback.claims import Claim
from quarterdeck.showback.observe import observe
from quarterdeck.showback.opencost import compute
from quarterdeck.showback.prices import GpuPrice, Prices
from quarterdeck.showback.prometheus import PrometheusSource
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import Window

T0 = 1_924_992_000.0  # 2031-01-01T00:00:00Z (a Wednesday)
H100 = "NVIDIA-H100-80GB-HBM3"
NODES = {"n1": {"metadata": {"name": "n1", "labels": {"nvidia.com/gpu.product": H100}}}}


def pod(uid: str, phase: str = "Running", gpus: str = "2", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"p-{uid}",
            "namespace": "ns",
            "uid": uid,
            "labels": {"team": "a", "batch.kubernetes.io/job-name": "j"},
            **meta,
        },
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus}}}],
        },
        "status": {"phase": phase, "startTime": "2031-01-01T00:00:00Z"},
    }


def test_a_running_gpu_pod_gets_a_record_and_its_utilisation() -> None:
    (new,) = observe([], [pod("u1")], NODES, {("ns", "j"): "cq"}, {("ns", "p-u1"): 30.0}, T0 + 5)
    assert (new.start, new.model, new.queue, new.claim.gpu_milli) == (T0, H100, "cq", 2000)
    assert new.util == ((T0, 30.0),)
    assert observe([], [pod("cpu", gpus="0")], NODES, {}, {}, T0) == []


def test_records_close_when_the_pod_stops_and_step_on_change() -> None:
    (r,) = observe([], [pod("u1")], NODES, {}, {("ns", "p-u1"): 30.0}, T0)
    (stepped,) = observe([r], [pod("u1")], NODES, {}, {("ns", "p-u1"): 0.0}, T0 + 60)
    assert stepped.util == ((T0, 30.0), (T0 + 60, 0.0))
    assert observe([stepped], [pod("u1")], NODES, {}, {("ns", "p-u1"): 0.0}, T0 + 90) == []
    (closed,) = observe([stepped], [pod("u1", phase="Succeeded")], NODES, {}, {}, T0 + 120)
    assert closed.end == T0 + 120
    (gone,) = observe([stepped], [], NODES, {}, {}, T0 + 130)
    assert gone.end == T0 + 130


def test_prometheus_unreachable_is_unmeasured_never_guessed() -> None:
    source = PrometheusSource("http://127.0.0.1:9", timeout=0.5)
    assert source.utilisation() is None and "unreachable" in source.error
    (r,) = observe([], [pod("u1")], NODES, {}, None, T0)
    assert r.util == ((T0, None),)


def _rec(util: tuple[tuple[float, float | None], ...], **kw: Any) -> UsageRecord:
    base: dict[str, Any] = {
        "namespace": "ns",
        "pod": "p",
        "uid": "u",
        "claim": Claim(gpu_milli=1000),
        "start": T0,
        "util": util,
        "queue": "cq",
        "labels": (("app", "x"),),
    }
    return UsageRecord(**(base | kw))


def test_idle_verdicts_respect_duration_dry_run_kind_and_schedule() -> None:
    r = _rec(((T0, 80.0), (T0 + 600, 2.0)))
    spec = GpuIdlePolicySpec(threshold=5, duration="30m", action="Suspend")
    assert idle.decide(spec, "ns", [r], T0 + 600 + 1799) == []
    (v,) = idle.decide(spec, "ns", [r], T0 + 600 + 1800)
    assert (v.act, v.idle_since, v.action) == (True, T0 + 600, "Suspend")
    dry = GpuIdlePolicySpec(duration="30m", action="Suspend", dry_run=True)
    assert not idle.decide(dry, "ns", [r], T0 + 7200)[0].act
    nb = GpuIdlePolicySpec(duration="30m", action="DeleteNotebook", schedule="20:00-08:00")
    (not_nb,) = idle.decide(nb, "ns", [r], T0 + 7200)
    assert not not_nb.act and "not a notebook" in not_nb.message
    notebook = _rec(((T0, 0.0),), kind="notebook")
    assert idle.decide(nb, "ns", [notebook], T0 + 7200)[0].act  # 02:00 is inside 20:00-08:00
    assert not idle.decide(nb, "ns", [notebook], T0 + 9 * 3600)[0].act  # 09:00 is not
    unmeasured = _rec(((T0, 0.0), (T0 + 60, None)))
    assert idle.decide(spec, "ns", [unmeasured], T0 + 7200) == []
    other = GpuIdlePolicySpec(selector={"app": "y"}, duration="30m")
    assert idle.decide(other, "ns", [r], T0 + 7200) == []


def test_budget_thresholds_fire_once_per_period() -> None:
    from quarterdeck.showback.account import account

    rs = [_rec(((T0, 50.0),), end=T0 + 9 * 3600, labels=(("team", "a"),))]
    spent = account(
        rs,
        Prices(gpus={H100: GpuPrice(Decimal(1))}),
        Window(T0, T0 + 86400),
        ["label:team"],
        T0 + 10 * 3600,
    ).allocations.get("a")
    spec = BudgetSpec(team="a", period="daily", gpu_hours="10")
    first = budget.evaluate(spec, spent, (), None, T0 + 10 * 3600)
    assert (first.percent, first.crossed, first.new) == (90.0, (50, 80), (50, 80))
    again = budget.evaluate(spec, spent, first.crossed, first.period_start, T0 + 11 * 3600)
    assert again.new == ()
    tomorrow = budget.evaluate(spec, spent, first.crossed, first.period_start, T0 + 86400 + 60)
    assert tomorrow.period_start == T0 + 86400 and tomorrow.new == (50, 80)
    assert budget.period_start("weekly", T0) == T0 - 2 * 86400  # the Monday before
    assert budget.period_start("monthly", T0 + 20 * 86400) == T0


def test_queue_objectives_and_their_error_budget() -> None:
    spec = QueueObjectiveSpec(cluster_queue="cq", wait_p95="10m", target=0.9, utilisation=50)
    waits = [60.0] * 18 + [1200.0, 1200.0]  # 2 of 20 over 10m: the whole 10 % allowed
    state = objectives.evaluate(spec, waits, 0.4)
    assert state.wait_p50 == 60.0 and state.wait_p95 == 1200.0
    assert state.error_budget_remaining == pytest.approx(0.0)
    assert not state.met and "utilisation 40.0% < 50%" in state.message


def wl(
    name: str,
    cq: str | None,
    reserved: str | None,
    version: str,
    created: str = "2031-01-01T00:00:00Z",  # T0
) -> dict[str, Any]:
    """A Workload created at `created`, admitted to `cq` with quota reserved at `reserved`."""
    status: dict[str, Any] = {}
    if cq is not None:
        status["admission"] = {"clusterQueue": cq}
    if reserved is not None:
        status["conditions"] = [
            {"type": "QuotaReserved", "status": "True", "lastTransitionTime": reserved}
        ]
    meta = {"name": name, "namespace": "ns", "resourceVersion": version}
    return {"metadata": meta | {"creationTimestamp": created}, "status": status}


def test_queue_waits_are_grouped_per_queue_and_read_once_per_version() -> None:
    waits = objectives.QueueWaits()
    waits.update(
        [
            wl("a", "cq-1", "2031-01-01T00:01:00Z", "1"),
            wl("b", "cq-1", "2031-01-01T00:10:00Z", "2"),
            wl("c", "cq-2", "2031-01-01T00:00:30Z", "3"),
            wl("pending", None, None, "4"),
            wl("no-reservation", "cq-3", None, "5"),
        ]
    )
    assert waits.queues() == ["cq-1", "cq-2"]
    assert sorted(waits.since("cq-1", T0)) == [60.0, 600.0]
    assert waits.since("cq-1", T0 + 120) == [600.0]  # reserved before `since`: left out
    assert waits.since("cq-2", T0) == [30.0] and waits.since("cq-3", T0) == []
    # the same version is not read again; a new one is; a Workload gone is forgotten
    waits.update(
        [
            wl("a", "cq-1", "2031-01-01T00:05:00Z", "1"),
            wl("b", "cq-2", "2031-01-01T00:20:00Z", "6"),
            wl("pending", "cq-2", "2031-01-01T00:02:00Z", "7"),
        ]
    )
    assert waits.queues() == ["cq-1", "cq-2"]
    assert waits.since("cq-1", T0) == [60.0]
    assert sorted(waits.since("cq-2", T0)) == [120.0, 1200.0]
    assert objectives.admission_wait(wl("x", "cq", "2030-12-31T23:00:00Z", "8")) == (
        objectives.Wait("cq", T0 - 3600, 0.0)  # a clock skew never waits less than 0
    )


def test_metrics_expose_gpu_hours_and_queue_waits() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from quarterdeck.showback.metrics import ShowbackMetrics

    registry = CollectorRegistry()
    metrics = ShowbackMetrics(registry)
    waits = objectives.QueueWaits()
    now = T0 + 4 * 3600
    # the gauge covers the wall clock's last 7 days: reserved far in the future, it counts
    waits.update([wl("a", "cq", "2999-01-01T00:01:30Z", "1", created="2999-01-01T00:00:00Z")])
    r = _rec(((T0, 25.0),), end=now, model=H100, labels=(("team", "a"),))
    metrics.update([r], Prices(gpus={H100: GpuPrice(Decimal("2"))}), now, waits, "")
    samples = {
        (m.name, tuple(sorted(m.labels.items()))): m.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for m in family.samples
    }
    labels = (("model", H100), ("namespace", "ns"), ("queue", "cq"), ("team", "a"))
    assert samples[("quarterdeck_gpu_hours_total", labels)] == 4.0
    assert samples[("quarterdeck_gpu_used_hours_total", labels)] == 1.0
    assert samples[("quarterdeck_gpu_idle_hours_total", labels)] == 3.0
    assert samples[("quarterdeck_gpu_cost_total", (("currency", "USD"), *labels))] == 8.0
    wait = (("cluster_queue", "cq"), ("quantile", "0.95"))
    assert samples[("quarterdeck_queue_wait_seconds", wait)] == 90.0
    assert samples[("quarterdeck_showback_prometheus_up", ())] == 1.0


def test_allocation_api_answers_in_opencost_shape() -> None:
    r = _rec(((T0, 25.0),), end=T0 + 4 * 3600, model=H100, labels=(("team", "a"),))
    prices = Prices(gpus={H100: GpuPrice(Decimal("2"))})
    code, body = compute(
        "window=2031-01-01T00:00:00Z,2031-01-02T00:00:00Z&aggregate=label:team"
        "&step=1h&accumulate=true",
        [r],
        prices,
        T0 + 86400,
    )
    assert code == 200 and body["status"] == "success" and len(body["data"]) == 1
    a = body["data"][0]["a"]
    assert (a["gpuHours"], a["gpuHoursUsed"], a["gpuHoursIdle"]) == (4.0, 1.0, 3.0)
    assert (a["gpuCost"], a["gpuIdleCost"], a["totalCost"]) == (8.0, 6.0, 8.0)
    assert (
        a["properties"] == {"labels.team": "a"} and a["window"]["start"] == "2031-01-01T00:00:00Z"
    )
    code, steps = compute(
        "window=2031-01-01T00:00:00Z,2031-01-02T00:00:00Z&step=6h", [r], prices, T0 + 86400
    )
    assert len(steps["data"]) == 4 and steps["data"][0]["ns"]["gpuHours"] == 4.0
    json.dumps(body)
    for query, field in (
        ("window=7x", "window"),
        ("", "window"),
        ("window=7d&step=2q", "step"),
        ("window=7d&aggregate=colour", "aggregate"),
        ("window=7d&accumulate=maybe", "accumulate"),
    ):
        code, err = compute(query, [r], prices, T0)
        assert code == 400 and err["message"].startswith(f"{field}:")
