"""Idle GPUs on the dev cluster with real Prometheus: an idle Job is suspended and
requeued through the queue, an idle notebook is deleted on its schedule, a dry run only
reports (Prometheus unreachable: test_showback_bad_input.py).

Same file clock and controller as test_showback_day.py (`showback_setup.day`).
"""

from __future__ import annotations

import json

import pytest
from lightkube import Client
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from queueing_setup import as_dict, gpu_queue, passes_until, workload
from showback_setup import (
    HOUR,
    T0,
    Day,
    day,  # noqa: F401  (the fixture)
    events,
    job,
    pod,
    pod_of,
    policy,
    prometheus,  # noqa: F401  (the fixture)
    route_to,
    running,
)
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration


def test_an_idle_job_is_suspended_and_requeued_and_a_dry_run_only_reports(
    day: Day,  # noqa: F811
    kube: Client,
    namespace: str,
) -> None:
    c = day.team("c")
    day.at(8)  # the day so far: 8 hours (test_showback_day.py's Jobs ran in them)
    with gpu_queue(kube, namespace, nominal=8):
        kube.apply(
            policy(namespace, "reclaim", "Suspend", {"idle": "act"}), field_manager="t", force=True
        )
        kube.apply(
            policy(namespace, "watch", "Suspend", {"idle": "dry"}, dryRun=True),
            field_manager="t",
            force=True,
        )
        kube.create(job(namespace, "c-idle", 1, c, "0", idle="act"))
        kube.create(job(namespace, "c-dry", 1, c, "0", idle="dry"))
        passes_until(
            kube, lambda _: running(kube, namespace, {"c-idle", "c-dry"}) or None, "running"
        )
        for name in ("c-idle", "c-dry"):
            held = pod_of(kube, namespace, name)
            wait_for(lambda p=held: day.measured(namespace, p, 0), f"{name} idle", 60)  # type: ignore[misc]
        day.at(8.25)  # idle for 15 minutes: not yet
        assert "Evicted" not in str(workload(kube, namespace, "job-c-idle").get("status"))
        day.at(8.6)  # idle for 36 minutes: over the policy's 30
        wait_for(
            lambda: any(
                c["type"] == "Evicted" and c["reason"] == "GpuIdle"
                for c in (workload(kube, namespace, "job-c-idle").get("status") or {}).get(
                    "conditions", []
                )
            ),
            "the idle Workload evicted",
            30,
        )
        _, reports = passes_until(
            kube,
            lambda rs: True if any(f"{namespace}/job-c-idle" in r.stopped for r in rs) else None,
            "the idle Job suspended and its quota released (requeued)",
        )
        assert any(f"{namespace}/c-idle" in r.suspended for r in reports)
        assert events(kube, namespace, "c-idle", "GpuIdleSuspended")
        dry_pod = pod_of(kube, namespace, "c-dry")
        wait_for(
            lambda: any(
                m.startswith("dry run: would suspend")
                for m in events(kube, namespace, dry_pod, "GpuIdle")
            ),
            "the dry-run Event",
            30,
        )
        status = workload(kube, namespace, "job-c-dry").get("status") or {}
        assert not any(c["type"] == "Evicted" for c in status.get("conditions", []))
        assert not (as_dict(kube.get(Job, "c-dry", namespace=namespace))["spec"].get("suspend"))


def test_an_idle_notebook_is_deleted_on_its_schedule(
    day: Day,  # noqa: F811
    kube: Client,
    namespace: str,
) -> None:
    d = day.team("d")
    nb = {"quarterdeck.dev/notebook": "true"}
    kube.apply(
        policy(namespace, "nightly", "DeleteNotebook", {"nb": "act"}, schedule="09:30-12:00"),
        field_manager="t",
        force=True,
    )
    kube.apply(
        policy(
            namespace,
            "nightly-dry",
            "DeleteNotebook",
            {"nb": "dry"},
            schedule="09:30-12:00",
            dryRun=True,
        ),
        field_manager="t",
        force=True,
    )
    for name, sel in (("nb-act", "act"), ("nb-dry", "dry")):
        kube.create(
            pod(namespace, name, d, "0", "gpu-h100-8", {"nvidia.com/gpu": "1"}, None, nb=sel, **nb)
        )
    for name in ("nb-act", "nb-dry"):
        wait_for(lambda n=name: day.measured(namespace, n, 0), f"{name} idle", 60)  # type: ignore[misc]
    day.at(8.9)  # idle 18 minutes
    day.at(9.25)  # 09:15: idle over 30 minutes, but before 09:30: outside the schedule
    assert kube.get(Pod, "nb-act", namespace=namespace).metadata.deletionTimestamp is None  # type: ignore[union-attr]
    day.at(9.6)  # 09:36, inside the schedule
    wait_for(lambda: day.closed(namespace, "nb-act"), "the idle notebook deleted", 30)
    assert events(kube, namespace, "nb-act", "GpuIdleDeleted")
    wait_for(
        lambda: any(
            m.startswith("dry run: would delete")
            for m in events(kube, namespace, "nb-dry", "GpuIdle")
        ),
        "the dry-run Event",
        30,
    )
    assert not day.closed(namespace, "nb-dry")
    result = CliRunner().invoke(
        app, ["showback", "idle", "-o", "json", "--kubeconfig", str(day.kubeconfig)]
    )
    rows = [r for r in json.loads(result.stdout) if r["policy"].startswith(namespace)]
    assert {(r["policy"].split("/")[1], r["done"]) for r in rows} >= {
        ("nightly", True),
        ("nightly-dry", False),
    }
    kube.delete(Pod, "nb-dry", namespace=namespace)


def test_an_idle_pod_is_notified_through_notify_or_reported(
    day: Day,  # noqa: F811
    kube: Client,
    namespace: str,
) -> None:
    route_to(kube, namespace, day.receiver, "Pod")  # notify's Provider and Alert for Pods
    for name, action in (("quiet", "Notify"), ("reported", "Report")):
        kube.apply(policy(namespace, name, action, {"idle": name}), field_manager="t", force=True)
        gpu = {"nvidia.com/gpu": "1"}
        kube.create(pod(namespace, name, day.team("n"), "0", "gpu-h100-8", gpu, idle=name))
    for name in ("quiet", "reported"):
        wait_for(lambda n=name: day.measured(namespace, n, 0), f"{name} idle", 60)  # type: ignore[misc]
    start = (day.clock.now() - T0) / HOUR
    day.at(start + 0.25)  # idle for 15 minutes: not yet
    assert not any(b.get("event") == "gpu-idle" for b in day.receiver.bodies)
    assert not events(kube, namespace, "reported", "GpuIdle")
    day.at(start + 0.6)  # idle for 36 minutes: over the policy's 30
    wait_for(
        lambda: any(
            b.get("event") == "gpu-idle" and b["involvedObject"]["name"] == "quiet"
            for b in day.receiver.bodies
        ),
        "the gpu-idle notice delivered to the receiver",
        30,
    )
    hook = next(b for b in day.receiver.bodies if b.get("event") == "gpu-idle")
    assert hook["involvedObject"] == {"kind": "Pod", "namespace": namespace, "name": "quiet"}
    assert any("notified" in m for m in events(kube, namespace, "quiet", "GpuIdle"))
    wait_for(
        lambda: any(
            m.startswith("GpuIdlePolicy reported: ")
            for m in events(kube, namespace, "reported", "GpuIdle")
        ),
        "the Report policy's Event",
        30,
    )
    for name in ("quiet", "reported"):
        kube.delete(Pod, name, namespace=namespace)
