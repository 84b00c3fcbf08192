"""Prometheus metrics of the queueing controller, named after Kueue's.

`observe()` is called once per pass with the snapshot and the decisions; gauges are
set from the state after the pass, the histogram and counter count what the pass
did. Quantities are in base units (GPUs, cores, bytes).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from quarterdeck.queueing.decisions import Decisions, apply
from quarterdeck.queueing.model import Snapshot
from quarterdeck.queueing.quota import QuotaState

WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600)


class QueueMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.registry = reg
        self.pending = Gauge(
            "quarterdeck_queueing_pending_workloads",
            "Workloads waiting in a ClusterQueue after the last pass.",
            ["cluster_queue"],
            registry=reg,
        )
        self.admitted = Gauge(
            "quarterdeck_queueing_admitted_workloads",
            "Workloads holding quota in a ClusterQueue after the last pass.",
            ["cluster_queue"],
            registry=reg,
        )
        self.usage = Gauge(
            "quarterdeck_queueing_quota_usage",
            "Quota in use per ClusterQueue, flavor and resource (base units).",
            ["cluster_queue", "flavor", "resource"],
            registry=reg,
        )
        self.nominal = Gauge(
            "quarterdeck_queueing_nominal_quota",
            "Nominal quota per ClusterQueue, flavor and resource (base units).",
            ["cluster_queue", "flavor", "resource"],
            registry=reg,
        )
        self.borrowed = Gauge(
            "quarterdeck_queueing_borrowed_quota",
            "Quota used beyond nominal, borrowed from the cohort (base units).",
            ["cluster_queue", "flavor", "resource"],
            registry=reg,
        )
        self.wait = Histogram(
            "quarterdeck_queueing_admission_wait_seconds",
            "Time from a Workload's creation to its admission.",
            ["cluster_queue"],
            buckets=WAIT_BUCKETS,
            registry=reg,
        )
        self.pass_seconds = Histogram(
            "quarterdeck_queueing_pass_seconds",
            "Wall time of one controller pass (read caches, cycle, writes).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=reg,
        )
        self.pass_cpu_seconds = Counter(
            "quarterdeck_queueing_pass_cpu_seconds",
            "CPU time of the pass thread over all passes; the rest of the passes' wall "
            "time waited (on the API server, on the interpreter lock, on the write pool).",
            registry=reg,
        )
        self.preemptions = Counter(
            "quarterdeck_queueing_preemptions",
            "Workloads preempted, by the ClusterQueue of the victim and the reason.",
            ["cluster_queue", "reason"],
            registry=reg,
        )

    def observe(self, snapshot: Snapshot, decisions: Decisions, now: float) -> None:
        after = apply(snapshot, decisions, now)
        quota = QuotaState(after.cluster_queues, after.cohorts)
        counts: dict[str, list[int]] = {name: [0, 0] for name in after.cluster_queues}
        for adm in after.admitted:
            name = adm.workload.cluster_queue
            if name in counts:
                quota.add(name, adm.usage())
                counts[name][1] += 1
        for wl in after.pending:
            if wl.cluster_queue in counts:
                counts[wl.cluster_queue][0] += 1
        for name, (pending, admitted) in counts.items():
            self.pending.labels(name).set(pending)
            self.admitted.labels(name).set(admitted)
            for (flavor, res), q in after.cluster_queues[name].flavor_resources():
                used = quota.used(name, (flavor, res))
                self.usage.labels(name, flavor, res).set(used / 1000)
                self.nominal.labels(name, flavor, res).set(q.nominal / 1000)
                self.borrowed.labels(name, flavor, res).set(max(0, used - q.nominal) / 1000)
        for a in decisions.admitted:
            self.wait.labels(a.cluster_queue).observe(max(0.0, now - a.workload.created))
        for p in decisions.preempted:
            self.preemptions.labels(p.victim.workload.cluster_queue, p.reason).inc()


class MetricsPortError(RuntimeError):
    """The metrics port cannot be bound (one line for the user, no traceback)."""


def serve_metrics(port: int, registry: CollectorRegistry, host: str = "0.0.0.0") -> None:
    """Serve `registry` on `host:port`; a port already in use is a `MetricsPortError`."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as err:
        raise MetricsPortError(
            f"cannot serve metrics on {host}:{port}: {err.strerror or err}"
        ) from err
