"""Showback's bad input on the dev cluster with real Prometheus: a GPU model in use that
Pricing leaves out is reported unpriced (never costed at zero), and a Prometheus that
cannot be reached degrades to accounting from the cluster alone, with conditions saying
so. (`--window 7x` is refused by `qd showback` in tests/unit/test_showback_cli.py and by
`/allocation/compute` in test_showback_day.py.)

Same file clock and controller as test_showback_day.py (`showback_setup.day`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import showback_setup as sb
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from queueing_setup import as_dict
from showback_setup import Day
from showback_setup import day as day  # the fixture
from showback_setup import prometheus as prometheus  # the fixture
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.resources import BudgetResource, IdlePolicyResource

pytestmark = pytest.mark.integration


def condition(kube: Client, resource: Any, name: str, type_: str, **where: str) -> Any:
    """The `type_` condition of a showback object's status (None while there is none)."""
    status = as_dict(kube.get(resource, name, **where)).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)


def test_a_model_without_a_price_is_unpriced_never_zero(
    day: Day,
    kube: Client,
    namespace: str,
) -> None:
    f, g = day.team("f"), day.team("g")
    budget = f"cost-{day.sfx}"
    start = (day.clock.now() - sb.T0) / sb.HOUR
    sb.price_list(kube, priced=(sb.H100,))  # the A100 (and so its MIG profile) has no price
    try:
        kube.create(
            sb.pod(namespace, "mig", f, "50", "a100-mig", {f"nvidia.com/mig-{sb.MIG}": "1"})
        )
        kube.create(sb.pod(namespace, "whole", g, "50", "gpu-h100-8", {"nvidia.com/gpu": "1"}))
        for name in ("mig", "whole"):
            wait_for(lambda n=name: day.record(namespace, n) is not None, f"{name} recorded", 30)  # type: ignore[misc]
        sb.apply_budget(kube, budget, f, cost="10")
        day.at(start + 2)
        for name in ("mig", "whole"):
            kube.delete(Pod, name, namespace=namespace)
        wait_for(
            lambda: day.closed(namespace, "mig") and day.closed(namespace, "whole"),
            "both pods closed",
            30,
        )
        teams = sb.showback(day.kubeconfig, day.clock)
        unpriced = f"{sb.A100}/{sb.MIG}"
        assert teams[f]["gpuHours"] == round(2 / 7, 9)
        assert (teams[f]["gpuCost"], teams[f]["totalCost"]) == (None, None)
        assert teams[f]["unpriced"] == [unpriced]
        assert (teams[g]["gpuCost"], teams[g]["unpriced"]) == (5.0, [])
        models = sb.showback(day.kubeconfig, day.clock, "model")
        assert models[sb.A100]["gpuCost"] is None and models[sb.A100]["unpriced"] == [unpriced]
        args = ["--window", sb.WINDOW, "--clock-file", str(day.clock.path)]
        table = CliRunner().invoke(app, ["showback", *args, "--kubeconfig", str(day.kubeconfig)])
        (row,) = [line.split("   ") for line in table.stdout.splitlines() if line.startswith(f)]
        cost, idle_cost = [c.strip() for c in row if c.strip()][-2:]  # the two money columns
        assert cost == idle_cost == f"unpriced ({unpriced})"
        served = sb.allocation_api(day, "aggregate=label:team&accumulate=true")["data"][0]
        assert served[f]["gpuCost"] is None and served[f]["unpriced"] == [unpriced]
        wait_for(
            lambda: (
                (condition(kube, BudgetResource, budget, "Priced") or {}).get("status") == "False"
            ),
            "the cost Budget's Priced=False condition",
            30,
        )
        priced = condition(kube, BudgetResource, budget, "Priced")
        assert priced["reason"] == "UnpricedModel" and unpriced in priced["message"]
    finally:
        kube.delete(BudgetResource, budget)
        sb.price_list(kube)


def test_prometheus_unreachable_degrades_to_cluster_only_accounting(
    day: Day,
    kube: Client,
    namespace: str,
) -> None:
    budget = f"blind-{day.sfx}"
    day.stop()  # the operator now runs with a Prometheus it cannot reach
    with sb.unreachable_url() as nowhere:
        day.url, url = nowhere, day.url
        try:
            day.start()
            kube.apply(sb.policy(namespace, "watch", "Report", {}), field_manager="t", force=True)
            sb.apply_budget(kube, budget, day.team("e"), gpuHours="100")
            kube.create(
                sb.pod(
                    namespace, "blind", day.team("e"), "0", "gpu-h100-8", {"nvidia.com/gpu": "1"}
                )
            )

            def degraded(resource: Any, name: str, **where: str) -> bool:
                c = condition(kube, resource, name, "MetricsAvailable", **where) or {}
                return c.get("status") == "False" and c.get("reason") == "PrometheusUnreachable"

            wait_for(
                lambda: (
                    degraded(IdlePolicyResource, "watch", namespace=namespace)
                    and degraded(BudgetResource, budget)
                ),
                "MetricsAvailable=False on the policy and the Budget",
                30,
            )
            wait_for(
                lambda: day.record(namespace, "blind") is not None, "the pod recorded anyway", 30
            )
            assert day.record(namespace, "blind").util[-1][1] is None  # unmeasured, not idle
            start = (day.clock.now() - sb.T0) / sb.HOUR
            day.at(start + 10)
            assert not sb.events(kube, namespace, "blind", "GpuIdle")  # never reclaimed on no data
            kube.delete(Pod, "blind", namespace=namespace)
            wait_for(lambda: day.closed(namespace, "blind"), "blind closed", 30)
            rows = sb.showback(day.kubeconfig, day.clock)
            row = rows[day.team("e")]
            assert row["gpuHours"] == 10.0 and row["gpuCost"] == 25.0  # counted from the cluster
            assert row["gpuHoursUnmeasured"] == 10.0 and row["gpuHoursIdle"] == 0
            served = sb.allocation_api(day, "aggregate=label:team&accumulate=true")
            assert nowhere in served["warning"] and "unreachable" in served["warning"]
            assert served["data"][0][day.team("e")] == row
            result = CliRunner().invoke(
                app, ["budget", "list", "-o", "json", "--kubeconfig", str(day.kubeconfig)]
            )
            (listed,) = [r for r in json.loads(result.stdout) if r["name"] == budget]
            assert listed["gpuHours"] == 10.0
        finally:
            kube.delete(BudgetResource, budget)
            day.stop()
            day.url = url
            day.start()
