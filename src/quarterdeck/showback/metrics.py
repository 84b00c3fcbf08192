"""Prometheus metrics of showback, computed from the usage records (so they survive a
restart: a counter is the records' total, not what this process happened to see).

- `quarterdeck_gpu_hours_total{namespace,team,queue,model}`: GPU-hours allocated;
- `quarterdeck_gpu_used_hours_total`, `quarterdeck_gpu_idle_hours_total`: split by
  utilisation (unmeasured hours are in neither);
- `quarterdeck_gpu_cost_total{...,currency}`: their cost (priced models only);
- `quarterdeck_queue_wait_seconds{cluster_queue,quantile}`: Workload creation to
  admission, over the last 7 days;
- `quarterdeck_budget_used_percent{budget,team}`;
- `quarterdeck_showback_prometheus_up`: 1 when utilisation could be read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from quarterdeck.showback.account import account
from quarterdeck.showback.objectives import QueueWaits, percentile
from quarterdeck.showback.prices import Prices
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import Window

LABELS = ["namespace", "team", "queue", "model"]
WEEK = 7 * 86400.0


class ShowbackMetrics:
    """A collector whose families are recomputed once per controller pass."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._lock = threading.Lock()
        self._families: list[Metric] = []
        self._budgets: dict[tuple[str, str], float] = {}
        (registry or REGISTRY).register(self)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = list(self._families)
            budgets = dict(self._budgets)
        yield from families
        g = GaugeMetricFamily(
            "quarterdeck_budget_used_percent", "Share of the budget used", labels=["budget", "team"]
        )
        for (name, team), pct in sorted(budgets.items()):
            g.add_metric([name, team], pct)
        yield g

    def budget(self, name: str, team: str, percent: float) -> None:
        with self._lock:
            self._budgets[(name, team)] = percent

    def update(
        self,
        records: Sequence[UsageRecord],
        prices: Prices,
        now: float,
        waits: QueueWaits,
        degraded: str,
    ) -> None:
        out = account(
            records,
            prices,
            Window(0, max(now, 1)),
            ["namespace", "label:team", "queue", "model"],
            now,
        )
        hours = CounterMetricFamily("quarterdeck_gpu_hours", "GPU-hours allocated", labels=LABELS)
        used = CounterMetricFamily("quarterdeck_gpu_used_hours", "GPU-hours used", labels=LABELS)
        idle = CounterMetricFamily("quarterdeck_gpu_idle_hours", "GPU-hours idle", labels=LABELS)
        cost = CounterMetricFamily(
            "quarterdeck_gpu_cost", "Cost of GPU-hours (priced)", labels=[*LABELS, "currency"]
        )
        for a in out.allocations.values():
            values = [a.properties[k] for k in ("namespace", "label:team", "queue", "model")]
            hours.add_metric(values, a.gpu_hours)
            used.add_metric(values, a.gpu_hours_used)
            idle.add_metric(values, a.gpu_hours_idle)
            if a.gpu_cost is not None:
                cost.add_metric([*values, out.currency], float(a.gpu_cost))
        wait = GaugeMetricFamily(
            "quarterdeck_queue_wait_seconds",
            "Workload creation to admission, last 7 days",
            labels=["cluster_queue", "quantile"],
        )
        week_ago = time.time() - WEEK
        for cq in waits.queues():
            waited = waits.since(cq, week_ago)
            for q in (50, 95):
                value = percentile(waited, q)
                if value is not None:
                    wait.add_metric([cq, f"0.{q}"], value)
        up = GaugeMetricFamily("quarterdeck_showback_prometheus_up", "GPU utilisation readable")
        up.add_metric([], 0.0 if degraded else 1.0)
        last = GaugeMetricFamily(
            "quarterdeck_showback_last_pass_timestamp_seconds",
            "The showback clock's time at the last pass (how fresh accounting is)",
        )
        last.add_metric([], now)
        with self._lock:
            self._families = [hours, used, idle, cost, wait, up, last]


_process: ShowbackMetrics | None = None


def process_metrics() -> ShowbackMetrics:
    """The process's one instance (registered once, kept across leaderships)."""
    global _process
    if _process is None:
        _process = ShowbackMetrics()
    return _process
