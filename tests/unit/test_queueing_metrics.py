"""Prometheus metrics from one pass: gauges of the state after it, counts of what it did."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest
from queueing_scenarios import GPU, job, queue, running, world

from quarterdeck.queueing import cycle
from quarterdeck.queueing.metrics import QueueMetrics


def test_metrics_after_a_pass_with_borrowing_and_preemption() -> None:
    qs = [queue("a", 4, cohort="c", within="LowerPriority"), queue("b", 4, cohort="c")]
    low = running(job("n/low", "a", 4, priority=0))
    # b's running half leaves too little for n/high to borrow, so it preempts at once;
    # n/b goes first (higher priority) and takes b's other half.
    snap = replace(
        world(
            qs,
            [
                job("n/high", "a", 4, priority=5, created=10),
                job("n/b", "b", 2, priority=10, created=40),
            ],
            [low, running(job("n/b-run", "b", 2))],
        ),
        now=100.0,
    )
    d = cycle(snap)
    registry = CollectorRegistry()
    metrics = QueueMetrics(registry)
    metrics.observe(snap, d, now=100.0)
    value = registry.get_sample_value
    assert (
        value(
            "quarterdeck_queueing_preemptions_total",
            {"cluster_queue": "a", "reason": "InClusterQueue"},
        )
        == 1
    )
    assert value("quarterdeck_queueing_pending_workloads", {"cluster_queue": "a"}) == 2  # high, low
    assert value("quarterdeck_queueing_admitted_workloads", {"cluster_queue": "b"}) == 2
    labels = {"cluster_queue": "b", "flavor": "h100", "resource": GPU}
    assert value("quarterdeck_queueing_quota_usage", labels) == 4
    assert value("quarterdeck_queueing_nominal_quota", labels) == 4
    assert value("quarterdeck_queueing_admission_wait_seconds_sum", {"cluster_queue": "b"}) == 60
    assert b"quarterdeck_queueing_borrowed_quota" in generate_latest(registry)


def test_a_taken_metrics_port_is_one_line_not_a_traceback() -> None:
    import socket

    import pytest
    from typer.testing import CliRunner

    from quarterdeck.cli.main import app
    from quarterdeck.queueing.metrics import MetricsPortError, QueueMetrics, serve_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortError, match=f"cannot serve metrics on 127.0.0.1:{port}: "):
            serve_metrics(port, QueueMetrics().registry, host="127.0.0.1")
        result = CliRunner().invoke(app, ["queue", "reconcile", "--metrics-port", str(port)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert f"cannot serve metrics on 0.0.0.0:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1
