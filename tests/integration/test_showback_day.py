"""A scripted day of GPU Jobs on the dev cluster with real Prometheus: showback is exact.

Time is a file clock shared by the showback controller and `qd showback`, so six
simulated hours take seconds and the GPU-hours come out exactly as computed by hand.
Utilisation is real: each pod's annotation is served by the dcgm-format source, scraped
by Prometheus, and read back by the controller. The queueing controller's own passes
admit the Jobs.

The day (team names are suffixed per run; prices: H100 2.50/h, MIG 1g.10gb 0.40/h), every
Job admitted by the queue: one ClusterQueue with an H100 flavor for whole GPUs and shares
(the queue charges a share as 500m `nvidia.com/gpu`) and an A100 MIG flavor:
| Job     | team | holds            | util | hours | GPU-h   | used     | idle     | cost  |
| a-train | a    | 2 H100           | 75 % | 0-3   | 6       | 4.5      | 1.5      | 15.00 |
| a-share | a    | 500m of an H100  | 40 % | 0-6   | 3       | 1.2      | 1.8      | 7.50  |
| b-train | b    | 4 H100           | 50 % | 0-6   | 24      | 12       | 12       | 60.00 |
| b-mig   | b    | MIG 1g.10gb A100 | 20 % | 0-4   | 4/7     | 0.8/7    | 3.2/7    | 1.60  |
The controller is stopped at hour 2 and a new one started at hour 3 (in-process here;
test_showback_restart.py kills a real `qd operator`): nothing held in between is lost.
The Budget's alert goes through notify: a Provider and an Alert route it to a receiver.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.types import CascadeType
from queueing_setup import as_dict, passes_until, workload
from showback_setup import (
    A100,
    HOUR,
    MIG,
    T0,
    WINDOW,
    Day,
    allocation_api,
    apply_budget,
    day,  # noqa: F401  (the fixture)
    day_queue,
    events,
    job,
    pod_of,
    prometheus,  # noqa: F401  (the fixture)
    route_to,
    running,
    showback,
)
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback import borrowing
from quarterdeck.showback.resources import BudgetResource, ClusterQueueResource, ObjectiveResource

pytestmark = pytest.mark.integration
JOBS = ("a-train", "b-train", "a-share", "b-mig")


def assert_admitted_as(kube: Client, namespace: str, cq: str) -> None:
    """The queue charged each Job what showback prices: whole GPUs, 500m, one MIG instance."""
    got = {}
    for name in JOBS:
        admission = workload(kube, namespace, f"job-{name}")["status"]["admission"]
        (assigned,) = admission["podSetAssignments"]
        got[name] = (admission["clusterQueue"], assigned["flavors"], assigned["resourceUsage"])
    h100, mig = f"h100-{namespace}", f"a100-mig-{namespace}"
    gpu, instance = "nvidia.com/gpu", f"nvidia.com/mig-{MIG}"
    assert got == {
        "a-train": (cq, {gpu: h100}, {gpu: 2}),
        "b-train": (cq, {gpu: h100}, {gpu: 4}),
        "a-share": (cq, {gpu: h100}, {gpu: "500m"}),
        "b-mig": (cq, {instance: mig}, {instance: 1}),
    }


def _threshold(body: dict[str, Any]) -> int | None:
    """The threshold a budget notice is about, from its message."""
    found = re.search(r"\(threshold (\d+)%\)", str(body.get("message", "")))
    return int(found.group(1)) if found else None


def test_a_scripted_day_is_exact_and_survives_a_restart(
    day: Day,  # noqa: F811
    kube: Client,
    namespace: str,
    tmp_path: Path,
) -> None:
    a, b = day.team("a"), day.team("b")
    with day_queue(kube, namespace) as cq:
        kube.create(job(namespace, "a-train", 2, a, "75"))
        kube.create(job(namespace, "b-train", 4, b, "50"))
        kube.create(job(namespace, "a-share", 0, a, "40", share="500"))
        kube.create(job(namespace, "b-mig", 0, b, "20", mig=MIG))
        passes_until(
            kube,
            lambda _: running(kube, namespace, set(JOBS)) or None,
            "all four Jobs admitted and running",
        )
        pods = {name: pod_of(kube, namespace, name) for name in JOBS}
        utils = {"a-train": 75, "b-train": 50, "a-share": 40, "b-mig": 20}
        for name, held in pods.items():  # Prometheus scraped each pod's GPUs, at hour 0
            wait_for(
                lambda p=held, u=utils[name]: day.measured(namespace, p, u),  # type: ignore[misc]
                f"{name} measured at {utils[name]}%",
                60,
            )
        for name, held in pods.items():  # each held what the queue admitted it for
            assert day.record(namespace, held).queue == cq, name
        assert_admitted_as(kube, namespace, cq)

        day.at(2)
        # the queue's objectives: all four Jobs waited; at hour 2, 52.2/7 of 93/7 GPU-hours
        # were busy (3 + 4 + 0.4 + 0.4/7 of 4 + 8 + 1 + 2/7)
        kube.apply(
            ObjectiveResource.from_dict(
                {
                    "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                    "kind": "QueueObjective",
                    "metadata": {"name": cq},
                    "spec": {"clusterQueue": cq, "waitP95": "1h", "utilisation": 60},
                }
            ),
            field_manager="quarterdeck-tests",
            force=True,
        )
        try:
            wait_for(
                lambda: (
                    (as_dict(kube.get(ObjectiveResource, cq)).get("status") or {}).get("workloads")
                    == 4
                ),
                "the queue objective evaluated",
                30,
            )
            status = as_dict(kube.get(ObjectiveResource, cq))["status"]
            assert status["utilisation"] == pytest.approx(52.2 / 93)
            assert status["errorBudgetRemaining"] == 1.0 and status["waitP95Seconds"] < 3600
            (met,) = status["conditions"]
            assert met["status"] == "False" and "utilisation 56.1% < 60%" in met["message"]
        finally:
            kube.delete(ObjectiveResource, cq)
        day.stop()  # the operator goes away at hour 2 ...
        day.clock.set(T0 + 3 * HOUR)
        day.start()  # ... and a new one starts at hour 3, from the records in the cluster
        day.at(3)
        kube.delete(Job, "a-train", namespace=namespace, cascade=CascadeType.BACKGROUND)
        wait_for(lambda: day.closed(namespace, pods["a-train"]), "a-train closed", 60)
        day.at(4)
        kube.delete(Job, "b-mig", namespace=namespace, cascade=CascadeType.BACKGROUND)
        wait_for(lambda: day.closed(namespace, pods["b-mig"]), "b-mig closed", 60)
        day.at(6)
        kube.delete(Job, "b-train", namespace=namespace, cascade=CascadeType.BACKGROUND)
        kube.delete(Job, "a-share", namespace=namespace, cascade=CascadeType.BACKGROUND)
        wait_for(
            lambda: (
                day.closed(namespace, pods["b-train"]) and day.closed(namespace, pods["a-share"])
            ),
            "b-train and a-share closed",
            60,
        )
        day.at(8)

        teams = showback(day.kubeconfig, day.clock)
        assert {a, b} <= set(teams), teams
        assert (teams[a]["gpuHours"], teams[a]["gpuHoursUsed"], teams[a]["gpuHoursIdle"]) == (
            9.0,
            5.7,
            3.3,
        )
        assert (teams[a]["gpuCost"], teams[a]["gpuIdleCost"]) == (22.5, 8.25)
        assert teams[b]["gpuHours"] == round(24 + 4 / 7, 9)
        assert teams[b]["gpuHoursUsed"] == round(12 + 0.8 / 7, 9)
        assert teams[b]["gpuHoursIdle"] == round(12 + 3.2 / 7, 9)
        assert teams[b]["migInstanceHours"] == {"1g.10gb": 4.0}
        assert (teams[b]["gpuCost"], teams[b]["gpuIdleCost"]) == (61.6, 31.28)
        assert teams[a]["unpriced"] == teams[b]["unpriced"] == []
        models = showback(day.kubeconfig, day.clock, "model")
        assert models[A100]["gpuCost"] >= 1.6
        chart = tmp_path / "cost.png"
        args = ["--window", WINDOW, "--clock-file", str(day.clock.path), "-o", "csv"]
        result = CliRunner().invoke(
            app, ["showback", *args, "--chart", str(chart), "--kubeconfig", str(day.kubeconfig)]
        )
        assert result.exit_code == 0, result.output
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
        assert (rows[a]["gpuHours"], rows[a]["gpuCost"], rows[a]["gpuIdleCost"]) == (
            "9.0",
            "22.5",
            "8.25",
        )
        assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")  # cost per team per day
        served = allocation_api(day, "aggregate=label:team&accumulate=true")
        assert served["code"] == 200 and len(served["data"]) == 1
        assert served["data"][0][a] == teams[a] and served["data"][0][b] == teams[b]
        hourly = allocation_api(day, "aggregate=label:team&step=1h")["data"]
        assert [round(h[a]["gpuHours"], 6) for h in hourly[:7] if a in h] == [2.5] * 3 + [0.5] * 3
        bad = allocation_api(day, "window=7x", window=False)
        assert bad["code"] == 400 and bad["message"].startswith("window: '7x'")


def test_a_budget_crossing_80_percent_fires_an_event_and_a_webhook(
    day: Day,  # noqa: F811
    kube: Client,
    namespace: str,
) -> None:
    name = f"team-a-{day.sfx}"
    route_to(kube, namespace, day.receiver, "Budget")  # notify's Provider and Alert
    apply_budget(kube, name, day.team("a"), gpuHours="10", thresholds=[50, 80, 100])
    try:
        wait_for(
            lambda: {_threshold(b) for b in day.receiver.bodies} >= {50, 80},
            "webhook calls for 50% and 80%",
            30,
        )
        hook = next(b for b in day.receiver.bodies if _threshold(b) == 80)
        assert hook["event"] == "budget-exceeded"
        assert hook["involvedObject"] == {"kind": "Budget", "namespace": "", "name": name}
        assert f"team {day.team('a')} has used 90.0% of its daily budget" in hook["message"]
        wait_for(
            lambda: any(
                "threshold 80%" in m for m in events(kube, "default", name, "BudgetThreshold")
            ),
            "the 80% Event",
            30,
        )
        status = as_dict(kube.get(BudgetResource, name))["status"]
        assert status["crossed"] == [50, 80] and status["percent"] == pytest.approx(90.0)
        assert 100 not in {_threshold(b) for b in day.receiver.bodies}
        result = CliRunner().invoke(
            app, ["budget", "list", "-o", "json", "--kubeconfig", str(day.kubeconfig)]
        )
        assert any(
            r["name"] == name and r["crossed"] == [50, 80] for r in json.loads(result.stdout)
        )
    finally:
        kube.delete(BudgetResource, name)


def test_a_deleted_budget_gives_its_queue_borrowing_back(
    day: Day,  # noqa: F811
    kube: Client,
) -> None:
    """Team a is over a 1 GPU-hour budget (the scripted day's hours, above): its queue
    stops borrowing. Deleting the Budget restores it, with the operator running and with
    the operator down at the time of the delete (found from the queue's state, not an event)."""
    cq, name = f"lender-{day.sfx}", f"stop-{day.sfx}"
    gpu = {"name": "nvidia.com/gpu", "nominalQuota": 1, "borrowingLimit": 4}
    group = {"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": cq, "resources": [gpu]}]}
    spec = {"cohort": cq, "namespaceSelector": {}, "resourceGroups": [group]}
    body = {"apiVersion": "queueing.quarterdeck.dev/v1alpha1", "kind": "ClusterQueue"}
    kube.apply(ClusterQueueResource.from_dict({**body, "metadata": {"name": cq}, "spec": spec}))

    def limit() -> Any:
        queue = as_dict(kube.get(ClusterQueueResource, cq))
        held = (queue["metadata"].get("annotations") or {}).get(borrowing.SAVED)
        return held is not None, queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]

    try:
        for down in (False, True):
            apply_budget(
                kube, name, day.team("a"), gpuHours="1", clusterQueue=cq, stopBorrowing=True
            )
            wait_for(lambda: limit() == (True, {**gpu, "borrowingLimit": 0}), "stopped", 30)
            if down:
                day.stop()
            kube.delete(BudgetResource, name)
            wait_for(
                lambda: (
                    name not in {b.metadata.name for b in kube.list(BudgetResource) if b.metadata}
                ),
                "the Budget gone",
                30,
            )
            if down:
                day.start()
            wait_for(lambda: limit() == (False, gpu), f"borrowing back (down: {down})", 30)
    finally:
        kube.delete(ClusterQueueResource, cq)
