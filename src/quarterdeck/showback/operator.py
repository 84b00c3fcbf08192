"""The showback controller inside `qd operator`: prepare (CRDs), start (while leading).

Configured by the operator's flags (`ShowbackConfig`, from `cli/operator.py`):
- `--prometheus-url`: the Prometheus that scrapes dcgm-exporter (empty: none; usage is
  then accounted from the cluster alone, with a condition saying so);
- `--showback-interval`: seconds between passes (default 15);
- `--showback-retention`: UsageRecords that ended longer ago are deleted (default: kept);
- `--showback-clock-file`: a file clock for demos and tests (see `clock`).
`/allocation/compute` is served on the operator's health port while this replica leads,
from the cache of accounted windows (`cache`), as of the controller's last pass.
Budget and idle notifications go to the notify controller's Notifier in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck.showback.cache import ResponseCache

if TYPE_CHECKING:
    from quarterdeck.notify.notice import Notice
    from quarterdeck.operator import Operator
    from quarterdeck.showback.controller import Showback


@dataclass(frozen=True)
class ShowbackConfig:
    """The operator's showback flags."""

    prometheus_url: str = ""
    interval: float = 15.0
    retention: float = 0.0  # seconds; 0: UsageRecords are kept
    clock_file: Path | None = None


_running: Showback | None = None
_cache = ResponseCache()


def prepare_showback(op: Operator) -> None:
    from quarterdeck.api.crd import crd
    from quarterdeck.api.showback import KINDS
    from quarterdeck.kube.crds import install_crds
    from quarterdeck.kube.health import ROUTES

    if op.config.install_crds:
        install_crds(op.connect("quarterdeck-showback"), [crd(k) for k in KINDS], timeout=60)
    ROUTES["/allocation/compute"] = allocation_route


def attach(showback: Showback | None) -> None:
    """The controller `/allocation/compute` answers from (None: not leading)."""
    global _running
    _running = showback
    _cache.clear()


def publish(item: Notice) -> None:
    """To the notify controller's Notifier, when it runs in this process."""
    from quarterdeck.notify import operator as notify

    if notify.current is not None:
        notify.current.publish(item)


def start_showback(op: Operator) -> Callable[[float], None]:
    from quarterdeck.showback.clock import clock_for
    from quarterdeck.showback.controller import FIELD_MANAGER, Showback
    from quarterdeck.showback.metrics import process_metrics
    from quarterdeck.showback.prometheus import PrometheusSource

    config = op.config.showback if isinstance(op.config.showback, ShowbackConfig) else None
    config = config or ShowbackConfig()
    showback = Showback(
        op.connect(FIELD_MANAGER),
        op.informers,
        op.events,
        clock_for(config.clock_file),
        PrometheusSource(config.prometheus_url) if config.prometheus_url else None,
        interval=config.interval,
        trust_pod_times=config.clock_file is None,
        metrics=process_metrics(),
        publish=publish,
        namespace=op.config.namespace,
        retention=config.retention,
    )
    showback.start()
    attach(showback)

    def stop(grace: float) -> None:
        showback.stop()
        attach(None)

    return stop


def allocation_route(query: str) -> tuple[int, bytes, str]:
    """`/allocation/compute`: answered once per query and pass, then from the cache."""
    import json

    showback = _running
    if showback is None or not showback.ready.is_set():
        body = {"code": 503, "status": "error", "message": "showback runs on the leader only"}
        return 503, json.dumps(body).encode(), "application/json"
    return _cache.answer(query, showback.state)


def showback_config(
    prometheus_url: str, interval: float, retention: str, clock_file: Path | None
) -> ShowbackConfig:
    """The operator's showback flags, checked; ValueError names the flag."""
    from quarterdeck.showback.window import WindowError, duration

    if prometheus_url and not prometheus_url.startswith(("http://", "https://")):
        raise ValueError(f"--prometheus-url: {prometheus_url!r} is not an http(s) URL")
    if not interval > 0:
        raise ValueError(f"--showback-interval: {interval} must be above 0")
    try:
        kept = duration(retention, "--showback-retention") if retention else 0.0
    except WindowError as err:
        raise ValueError(str(err)) from None
    return ShowbackConfig(prometheus_url.rstrip("/"), interval, kept, clock_file)
