"""`qd operator` killed with SIGKILL mid-window loses no usage; its showback flags work.

A real `qd operator` process (showback only, scoped to the test's namespace) runs on a
file clock with `--prometheus-url`, `--showback-clock-file`, `--showback-interval` and
`--showback-retention`. A pod holding one H100 at 50 % runs from hour 0 to hour 4; the
operator is killed with `kill -9` at hour 1 and a new one starts at hour 3: the record
in the cluster carries the holding across, so `qd showback` and the new operator's
`/allocation/compute` both give exactly 4 GPU-hours, 2 used, 2 idle, 10.00. The new
operator also deletes a record that ended beyond the retention (and keeps a recent
one), and a Budget with `stopBorrowing` at 200 % sets its ClusterQueue's
borrowingLimit to 0, then puts it back when the next day's period starts.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import install_crds as install_all_crds
from lightkube import ApiError, Client, codecs
from lightkube.resources.core_v1 import Pod
from queueing_setup import as_dict
from showback_setup import (
    H100,
    HOUR,
    install_showback_crds,
    pod,
    price_list,
    prometheus,  # noqa: F401  (the fixture)
    running,
)
from typer.testing import CliRunner

from operator_process import OperatorProcess
from quarterdeck.cli.main import app
from quarterdeck.devcluster import prometheus as devprom
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.borrowing import SAVED
from quarterdeck.showback.claims import Claim
from quarterdeck.showback.clock import FileClock
from quarterdeck.showback.records import to_object
from quarterdeck.showback.resources import (
    BudgetResource,
    ClusterQueueResource,
    UsageRecordResource,
)
from quarterdeck.showback.usage import UsageRecord

pytestmark = pytest.mark.integration
T1 = 1928448000.0  # 2031-02-10T00:00:00Z: a day no other test's records touch
WINDOW = "2031-02-10T00:00:00Z,2031-02-11T00:00:00Z"
DAY = 86400.0


class Showback:
    """One `qd operator` with only showback, on the test's clock."""

    def __init__(self, cluster: RunningCluster, tmp: Path, ns: str, url: str, clock: Path) -> None:
        self.cluster, self.tmp, self.ns, self.url, self.clock = cluster, tmp, ns, url, clock
        self.op: OperatorProcess | None = None

    def start(self, identity: str) -> OperatorProcess:
        flags = (
            *("--prometheus-url", self.url, "--showback-clock-file", str(self.clock)),
            *("--showback-interval", "0.3", "--showback-retention", "1d"),
        )
        self.op = OperatorProcess(
            self.cluster.kubeconfig, self.tmp, self.ns, identity, extra=flags, controllers=()
        ).start()
        op = self.op
        wait_for(lambda: op.readyz() == "leader", f"operator {identity} to lead", 240)
        return op

    def pass_time(self) -> float | None:
        """The showback clock at the operator's last pass (its /metrics gauge)."""
        assert self.op is not None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.op.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("quarterdeck_showback_last_pass_timestamp_seconds "):
                return float(line.split()[1])
        return None

    def at(self, hours: float) -> None:
        """Move the clock and wait for a pass of the running operator that saw it."""
        when = T1 + hours * HOUR
        FileClock(self.clock).set(when)
        wait_for(lambda: self.pass_time() == when, f"a showback pass at hour {hours}", 120)

    def allocation(self, query: str) -> dict[str, Any]:
        assert self.op is not None
        url = f"http://127.0.0.1:{self.op.port}/allocation/compute?{query}"
        with urllib.request.urlopen(url, timeout=30) as r:
            return dict(json.loads(r.read()))


@pytest.fixture
def showback_op(
    kube: Client,
    dev_cluster: RunningCluster,
    tmp_path: Path,
    namespace: str,
    prometheus: devprom.PrometheusState,  # noqa: F811
) -> Iterator[Showback]:
    install_all_crds(kube)  # the operator's shared informers list delivery's kinds too
    install_showback_crds(kube)
    price_list(kube)
    clock = tmp_path / "clock"
    FileClock(clock).set(T1)
    made = Showback(dev_cluster, tmp_path, namespace, prometheus.url, clock)
    yield made
    if made.op is not None:
        made.op.stop()
    for r in kube.list(UsageRecordResource):
        if r.metadata and r.metadata.name and as_dict(r)["spec"]["namespace"] == namespace:
            kube.delete(UsageRecordResource, r.metadata.name)


def _record(kube: Client, ns: str, name: str) -> dict[str, Any] | None:
    for r in kube.list(UsageRecordResource):
        spec: dict[str, Any] = as_dict(r)["spec"]
        if (spec["namespace"], spec["pod"]) == (ns, name):
            return spec
    return None


def _exists(kube: Client, name: str) -> bool:
    try:
        kube.get(UsageRecordResource, name)
    except ApiError:
        return False
    return True


def _old_record(ns: str, name: str, end: float) -> dict[str, Any]:
    """A record of a pod that ended at `end` (made here, as an earlier operator would)."""
    return to_object(
        UsageRecord(
            namespace=ns,
            pod=name,
            uid=f"uid-{name}-{ns}",
            claim=Claim(gpu_milli=1000),
            start=end - HOUR,
            end=end,
            model=H100,
            labels=(("team", "old"),),
            util=((end - HOUR, 10.0),),
        )
    )


def _cluster_queue(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "queueing.quarterdeck.dev/v1alpha1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "cohort": f"co-{name}",
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}},
            "resourceGroups": [
                {
                    "coveredResources": ["nvidia.com/gpu"],
                    "flavors": [
                        {
                            "name": f"h100-{name}",
                            "resources": [
                                {"name": "nvidia.com/gpu", "nominalQuota": 2, "borrowingLimit": 4}
                            ],
                        }
                    ],
                }
            ],
        },
    }


def _limit(kube: Client, name: str) -> Any:
    cq = as_dict(kube.get(ClusterQueueResource, name))
    resource = cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    return resource.get("borrowingLimit"), SAVED in (cq["metadata"].get("annotations") or {})


def test_a_killed_operator_loses_no_usage_and_its_flags_work(
    kube: Client, namespace: str, showback_op: Showback, dev_cluster: RunningCluster
) -> None:
    team = f"r-{namespace[-6:]}"
    first = showback_op.start("first")
    kube.create(pod(namespace, "r-train", team, "50", "gpu-h100-8", {"nvidia.com/gpu": "1"}))
    wait_for(lambda: running(kube, namespace, {"r-train"}), "r-train running", 120)

    def measured() -> bool:
        spec = _record(kube, namespace, "r-train")
        # a sample of 0 % is stored without its (default) field: read it as 0, not KeyError
        samples = (spec or {}).get("util") or [{}]
        return samples[-1].get("percent", 0) == 50

    wait_for(measured, "r-train recorded at 50 % (from Prometheus)", 120)
    showback_op.at(1)

    first.signal(signal.SIGKILL)  # no goodbye: nothing flushed, the Lease not released
    assert first.wait() == -signal.SIGKILL
    FileClock(showback_op.clock).set(T1 + 3 * HOUR)  # two hours with no operator at all
    old = _old_record(namespace, "gone-long-ago", T1 - 2 * DAY)
    recent = _old_record(namespace, "gone-recently", T1 - 0.5 * DAY)
    for body in (old, recent):
        kube.apply(
            UsageRecordResource.from_dict(body), field_manager="quarterdeck-tests", force=True
        )

    showback_op.start("second")  # takes the Lease once the killed one's has expired
    showback_op.at(3)
    wait_for(lambda: not _exists(kube, old["metadata"]["name"]), "the expired record deleted", 120)
    assert _exists(kube, recent["metadata"]["name"])  # within the day of retention
    showback_op.at(4)
    kube.delete(Pod, "r-train", namespace=namespace)
    wait_for(
        lambda: (_record(kube, namespace, "r-train") or {}).get("end") is not None,
        "r-train's record closed",
        120,
    )
    spec = _record(kube, namespace, "r-train")
    assert spec is not None and (spec["start"], spec["end"]) == (T1, T1 + 4 * HOUR)

    args = ["showback", "--window", WINDOW, "-o", "json", "--clock-file", str(showback_op.clock)]
    result = CliRunner().invoke(app, [*args, "--kubeconfig", str(dev_cluster.kubeconfig)])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(result.stdout) if r["name"] == team]
    assert (row["gpuHours"], row["gpuHoursUsed"], row["gpuHoursIdle"]) == (4.0, 2.0, 2.0)
    assert (row["gpuCost"], row["gpuIdleCost"]) == (10.0, 5.0)
    served = showback_op.allocation(f"window={WINDOW}&aggregate=label:team&accumulate=true")
    assert served["data"][0][team] == row  # the operator's API, from its cache, agrees

    cq = f"cq-{namespace}"
    kube.apply(codecs.from_dict(_cluster_queue(cq)), field_manager="quarterdeck-tests", force=True)
    budget = f"budget-{namespace}"
    kube.apply(
        BudgetResource.from_dict(
            {
                "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                "kind": "Budget",
                "metadata": {"name": budget},
                "spec": {
                    "team": team,
                    "period": "daily",
                    "gpuHours": "2",
                    "thresholds": [100],
                    "clusterQueue": cq,
                    "stopBorrowing": True,
                },
            }
        ),
        field_manager="quarterdeck-tests",
        force=True,
    )
    try:
        wait_for(lambda: _limit(kube, cq) == (0, True), "the queue's borrowing stopped", 120)

        def status() -> dict[str, Any]:
            return dict(as_dict(kube.get(BudgetResource, budget)).get("status") or {})

        wait_for(lambda: status().get("borrowingStopped") == cq, "the Budget's status says so", 120)
        assert status()["percent"] == 200.0
        showback_op.at(25)  # the next day: a new period, the team is back under budget
        wait_for(lambda: _limit(kube, cq) == (4, False), "the queue's borrowing restored", 120)
    finally:
        kube.delete(BudgetResource, budget)
        kube.delete(ClusterQueueResource, cq)
