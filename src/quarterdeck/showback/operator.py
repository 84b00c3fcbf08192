"""The showback controller inside `qd operator`: prepare (CRDs), start (while leading).

Configured from the environment, so the operator's command line (the runtime's) needs
no showback flags:
- `QD_PROMETHEUS_URL`: the Prometheus that scrapes dcgm-exporter (unset: none; usage is
  then accounted from the cluster alone, with a condition saying so);
- `QD_SHOWBACK_INTERVAL`: seconds between passes (default 15);
- `QD_SHOWBACK_CLOCK_FILE`: a file clock for demos and tests (see `clock`).
`/allocation/compute` is served on the operator's health port while this replica leads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from quarterdeck.showback.clock import CLOCK_FILE_ENV, SystemClock, from_environment

if TYPE_CHECKING:
    from quarterdeck.operator import Operator
    from quarterdeck.showback.controller import Showback

_running: Showback | None = None


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


def start_showback(op: Operator) -> Callable[[float], None]:
    from quarterdeck.showback.controller import FIELD_MANAGER, Showback
    from quarterdeck.showback.metrics import process_metrics
    from quarterdeck.showback.prometheus import PrometheusSource
    from quarterdeck.showback.webhook import send

    url = os.environ.get("QD_PROMETHEUS_URL", "")
    clock = from_environment()
    showback = Showback(
        op.connect(FIELD_MANAGER),
        op.informers,
        op.events,
        clock,
        PrometheusSource(url) if url else None,
        interval=float(os.environ.get("QD_SHOWBACK_INTERVAL", "15")),
        trust_pod_times=isinstance(clock, SystemClock) and not os.environ.get(CLOCK_FILE_ENV),
        metrics=process_metrics(),
        notify=send,
        namespace=op.config.namespace,
    )
    showback.start()
    attach(showback)

    def stop(grace: float) -> None:
        showback.stop()
        attach(None)

    return stop


def allocation_route(query: str) -> tuple[int, bytes, str]:
    from quarterdeck.showback.opencost import compute

    showback = _running
    if showback is None:
        body = {"code": 503, "status": "error", "message": "showback runs on the leader only"}
        return 503, json.dumps(body).encode(), "application/json"
    records, prices, degraded, _ = showback.state.snapshot()
    code, out = compute(query, records, prices, showback.clock.now(), degraded)
    return code, json.dumps(out).encode(), "application/json"
