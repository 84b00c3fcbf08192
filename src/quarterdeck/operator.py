"""The operator process: every controller of quarterdeck in one process, on one runtime.

One :class:`Operator` owns what the controllers share: the client, the shared informers,
the Event recorder, the health/metrics server, and (with ``leader_elect``) the Lease.
Controllers run only while this process leads; a standby keeps its caches warm, answers
``/readyz`` as ready and does nothing else, so a failover costs one lease period, not a
cold start.

Stopping (SIGTERM or SIGINT alike, see ``cli/operator.py``): the controllers are told to
stop and given ``grace_period`` seconds to finish the work in hand, then the Lease is
released (the standby takes over at its next retry), and the process exits 0.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from lightkube import Client

from quarterdeck.fleet import operator as fleet
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.health import HealthServer
from quarterdeck.kube.informer import SharedInformers, freeze_filled_caches
from quarterdeck.kube.leader import LeaderElector
from quarterdeck.kube.supervisor import Supervisor
from quarterdeck.notify.operator import prepare_notify, start_notify
from quarterdeck.rollout.operator import start_rollouts
from quarterdeck.showback.operator import prepare_showback, start_showback

log = structlog.get_logger("quarterdeck.operator")

LEASE_NAME = "quarterdeck-operator"
COMPONENT = "quarterdeck-operator"


@dataclass(frozen=True)
class LeaderElection:
    """``--leader-elect*``: client-go's flag names and defaults."""

    enabled: bool = False
    namespace: str = "default"
    name: str = LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class OperatorConfig:
    cache_dir: Path = Path(".qd-cache")
    namespace: str | None = None  # None: every namespace
    tick: float = 1.0
    install_crds: bool = True
    delivery: bool = True
    queueing: bool = True
    queueing_webhook_port: int = 0
    bind_address: str = "127.0.0.1"
    health_port: int = 0  # 0: no health/metrics server
    grace_period: float = 10.0
    leader: LeaderElection = field(default_factory=LeaderElection)
    identity: str = ""  # default: hostname_pid_random (client-go's controllers: hostname_uuid)
    tenancy: Any = None  # delivery.tenancy.Policy; None: the Controller's default
    showback: Any = None  # showback.operator.ShowbackConfig; None: its defaults
    pod_security: Any = None  # policy.pss.exemptions.PodSecurityConfig; None: the defaults


def default_identity() -> str:
    """``hostname_pid_random``: unique, and says which process holds the Lease."""
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


#: Starts one controller; returns its stop function (which waits up to the grace period).
ControllerStart = Callable[["Operator"], Callable[[float], None]]


@dataclass(frozen=True)
class ControllerSpec:
    """One controller: ``prepare`` runs once before campaigning, on every replica
    (imports, CRDs: idempotent), so a standby that takes over only calls ``start``."""

    name: str
    start: ControllerStart
    prepare: Callable[[Operator], None] | None = None


class Operator:
    """Runs the controllers while leading; see the module docstring."""

    def __init__(
        self,
        client: Client,
        config: OperatorConfig,
        connect: Callable[[str], Client],
        controllers: list[ControllerSpec] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.connect = connect  # a fresh client with the given field manager
        self.identity = config.identity or default_identity()
        self.stop = threading.Event()
        self.informers = SharedInformers(client, self.stop)
        self.events = EventRecorder(client, COMPONENT, host=self.identity)
        self.supervisor = Supervisor(self.stop)
        self.controllers = controllers if controllers is not None else default_controllers(config)
        self.leading = False
        self.started = threading.Event()  # every controller is running (while leading)
        self.prepared = threading.Event()  # every controller's prepare step is done
        self._stops: list[tuple[str, Callable[[float], None]]] = []
        self._lock = threading.Lock()
        self._abort = threading.Event()  # leadership ended: stop starting controllers
        self.health: HealthServer | None = None
        self.queue_metrics: Any = None
        self.elector: LeaderElector | None = None

    # --- health -------------------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        """Ready when the caches are in and, if leading, the controllers run."""
        if not self.prepared.is_set():
            return False, "preparing controllers (CRDs)"
        if not self.informers.has_synced():
            return False, "caches not synced"
        if self.leading and not self.started.is_set():
            return False, "leading, controllers starting"
        return True, "leader" if self.leading else "standby"

    def serve_health(self) -> None:
        """Bind the health/metrics port now, so a taken port fails before anything starts."""
        if self.config.health_port:
            self.health = HealthServer(
                self.config.bind_address, self.config.health_port, self.ready
            )
            self.health.start()

    # --- leading ------------------------------------------------------------------------

    def _start_controllers(self) -> None:
        """Start every controller; one that fails to start (the API server answering 503
        while it loads our new CRDs) is retried with backoff until it starts or we stop."""
        self._abort.clear()
        with self._lock:
            self.leading = True
            for spec in self.controllers:
                name, start = spec.name, spec.start
                delay = 0.5
                while True:
                    if self.stop.is_set() or self._abort.is_set():
                        return
                    try:
                        self._stops.append((name, start(self)))
                        log.info("controller started", controller=name)
                        break
                    except Exception as err:
                        log.error(
                            "controller failed to start; retrying",
                            controller=name,
                            error=f"{type(err).__name__}: {err}",
                            retry_in=delay,
                        )
                        self._abort.wait(delay)
                        delay = min(delay * 2, 30.0)
            freeze_filled_caches()  # every controller has waited for its informers
            self.started.set()

    def _stop_controllers(self) -> None:
        self._abort.set()
        with self._lock:
            self.started.clear()
            stops, self._stops = self._stops, []
            self.leading = False
        for name, stop in reversed(stops):
            try:
                stop(self.config.grace_period)
                log.info("controller stopped", controller=name)
            except Exception as err:
                log.error("controller did not stop cleanly", controller=name, error=str(err))

    def _prepare(self) -> None:
        """Every controller's prepare step, each retried with backoff until it succeeds."""
        for spec in self.controllers:
            delay = 0.5
            while spec.prepare is not None and not self.stop.is_set():
                try:
                    spec.prepare(self)
                    break
                except Exception as err:
                    log.error(
                        "controller failed to prepare; retrying",
                        controller=spec.name,
                        error=f"{type(err).__name__}: {err}",
                        retry_in=delay,
                    )
                    self.stop.wait(delay)
                    delay = min(delay * 2, 30.0)
        self.prepared.set()

    def run(self) -> int:
        """Run until ``stop`` is set; returns the exit code."""
        self.informers.start()
        leader = self.config.leader
        log.info(
            "operator running",
            identity=self.identity,
            leader_elect=leader.enabled,
            namespace=self.config.namespace or "all",
        )
        self._prepare()
        if not leader.enabled:
            threading.Thread(target=self._start_controllers, name="start", daemon=True).start()
            self.stop.wait()
            self._stop_controllers()
        else:
            self.elector = LeaderElector(
                self.connect("quarterdeck-leader"),  # its own connections: never queued
                # behind the controllers' requests
                leader.namespace,
                leader.name,
                self.identity,
                leader.lease_duration,
                leader.renew_deadline,
                leader.retry_period,
            )
            while not self.stop.is_set():
                lost = self.elector.run(self._start_controllers, self._stop_controllers, self.stop)
                if lost:
                    log.warning("campaigning again after losing the lease")
        self.informers.stop()
        if self.health is not None:
            self.health.stop()
        log.info("operator stopped", identity=self.identity)
        return 0


def default_controllers(config: OperatorConfig) -> list[ControllerSpec]:
    made: list[ControllerSpec] = []
    if config.delivery:
        made.append(ControllerSpec("delivery", start_delivery, prepare_delivery))
        made.append(ControllerSpec("notify", start_notify, prepare_notify))  # notify: delivery
        made.append(ControllerSpec("rollouts", start_rollouts))  # rollouts: delivery
    if config.queueing:
        made.append(ControllerSpec("queueing", start_queueing, prepare_queueing))
    made.append(ControllerSpec("showback", start_showback, prepare_showback))
    made.append(ControllerSpec("fleet", fleet.start_fleet, fleet.prepare_fleet))
    return made


# --- the controllers, through the entry points their packages expose ------------------


def prepare_delivery(op: Operator) -> None:
    """Import delivery and apply its CRDs (and Guardrail's: every sync is checked)."""
    from quarterdeck.api import delivery as api
    from quarterdeck.api.crd import crd
    from quarterdeck.api.policy_crd import guardrail_crd
    from quarterdeck.delivery.runner import Runner  # noqa: F401  (imported before leading)
    from quarterdeck.kube.crds import install_crds

    if op.config.install_crds:
        manifests = [*(crd(kind) for kind in api.KINDS), guardrail_crd()]
        install_crds(op.connect("quarterdeck-delivery"), manifests, timeout=60)
    # a standby keeps the Source and Application caches warm: a new leader starts on them
    from quarterdeck.delivery.controller import ApplicationRes, SourceRes

    op.informers.informer(SourceRes, namespace=op.config.namespace)
    op.informers.informer(ApplicationRes, namespace=op.config.namespace)


def start_delivery(op: Operator) -> Callable[[float], None]:
    """The delivery Runner in a supervised thread."""
    from quarterdeck.delivery.controller import Controller
    from quarterdeck.delivery.runner import Runner

    client = op.connect("quarterdeck-delivery")
    controller = Controller(
        client, op.config.cache_dir, namespace=op.config.namespace, policy=op.config.tenancy,
        pod_security=op.config.pod_security,  # guardrails: --admission-config
    )
    runner = Runner(controller, op.config.tick, informers=op.informers)
    thread = op.supervisor.spawn("delivery", runner.run)

    def stop(grace: float) -> None:
        runner.stop.set()
        thread.join(grace)
        if thread.is_alive():
            log.warning("delivery pass still running at the end of the grace period")

    return stop


def prepare_queueing(op: Operator) -> None:
    """Import queueing before leading (its CRDs and admission policy are installed by its
    own start, which also waits for the policy to be in force)."""
    import quarterdeck.queueing.operator  # noqa: F401


def start_queueing(op: Operator) -> Callable[[float], None]:
    """The queueing loop beside delivery."""
    from prometheus_client import REGISTRY

    from quarterdeck.queueing.controller import FIELD_MANAGER
    from quarterdeck.queueing.metrics import QueueMetrics
    from quarterdeck.queueing.operator import start_beside

    if op.queue_metrics is None:  # registered once per process, kept across leaderships
        op.queue_metrics = QueueMetrics(REGISTRY)
    queueing_log = structlog.get_logger("quarterdeck.queueing")
    if op.config.queueing_webhook_port:
        queueing_log.warning(
            "--queueing-webhook-port is ignored: a MutatingAdmissionPolicy suspends queued Jobs"
        )
    stop = start_beside(
        lambda: op.connect(FIELD_MANAGER),
        interval=op.config.tick,
        install=op.config.install_crds,
        metrics=op.queue_metrics,
        informers=op.informers,  # one watch per kind for the process (showback reads Pods too)
        # each line keeps the "queueing  " prefix that `qd operator` always printed
        log=lambda line: (
            queueing_log.warning(f"queueing  {line.removeprefix('warning: ')}")
            if line.startswith("warning: ")
            else queueing_log.info(f"queueing  {line}")
        ),
    )
    return lambda grace: stop()


# --- logs ---------------------------------------------------------------------------


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    """structlog to stderr: one JSON object a line (``json``) or coloured text."""
    import logging
    import sys

    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
