"""`qd operator`: run quarterdeck's controllers (delivery, queueing) in one process.

Flags follow controller-runtime's and client-go's names where they exist
(`--leader-elect*`, `--health-port` as `--health-probe-bind-address`); see docs/runtime.md.
SIGTERM and SIGINT both stop it cleanly (exit 0); a second one ends it at once. SIGUSR1
prints every thread's stack on stderr (for a process that seems stuck).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from quarterdeck.cli.options import AllowExecOpt, ContextOpt, KubeconfigOpt


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT alike set ``stop``; a second signal exits at once."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # where is every thread now?


def operator(
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Only this namespace (default: all).")
    ] = "",
    cache_dir: Annotated[Path, typer.Option(help="Git mirrors and checkouts.")] = Path(".qd-cache"),
    tick: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    health_port: Annotated[
        int, typer.Option(help="Serve /healthz, /readyz and /metrics on this port (0: off).")
    ] = 0,
    metrics_port: Annotated[int, typer.Option(help="Same as --health-port (older name).")] = 0,
    bind_address: Annotated[
        str, typer.Option(help="Address of the health and metrics port.")
    ] = "127.0.0.1",
    install_crds: Annotated[bool, typer.Option(help="Apply the CRDs first.")] = True,
    delivery: Annotated[bool, typer.Option(help="Run the delivery controller.")] = True,
    queueing: Annotated[bool, typer.Option(help="Run the queueing controller too.")] = True,
    queueing_webhook_port: Annotated[
        int, typer.Option(help="Serve the queueing Job webhook on 127.0.0.1:PORT (dev; 0: off).")
    ] = 0,
    leader_elect: Annotated[
        bool, typer.Option(help="Run controllers only while holding the Lease.")
    ] = False,
    leader_elect_namespace: Annotated[
        str, typer.Option(help="Namespace of the Lease (default: the context's).")
    ] = "",
    leader_elect_id: Annotated[str, typer.Option(help="Name of the Lease.")] = "",
    leader_elect_lease_duration: Annotated[
        float, typer.Option(help="Seconds a standby waits before taking an unrenewed Lease.")
    ] = 15.0,
    leader_elect_renew_deadline: Annotated[
        float, typer.Option(help="Seconds the leader keeps trying to renew before giving up.")
    ] = 10.0,
    leader_elect_retry_period: Annotated[
        float, typer.Option(help="Seconds between attempts to take or renew the Lease.")
    ] = 2.0,
    identity: Annotated[
        str, typer.Option(help="Holder name in the Lease (default: host_pid_random).")
    ] = "",
    grace_period: Annotated[
        float, typer.Option(help="Seconds in-flight work may take to finish on stop.")
    ] = 10.0,
    log_format: Annotated[LogFormat, typer.Option(help="json or console.")] = LogFormat.console,
    log_level: Annotated[LogLevel, typer.Option(help="Least severe level logged.")] = (
        LogLevel.info
    ),
    default_service_account: Annotated[
        str, typer.Option(help="Lockdown: Applications without one apply as this ServiceAccount.")
    ] = "",
    allow_cross_namespace_refs: Annotated[
        bool, typer.Option(help="Allow sourceRef/secretRef/dependsOn into other namespaces.")
    ] = False,
    allow_file_sources: Annotated[
        bool, typer.Option(help="Allow file:// Source URLs (local repositories; tests, demos).")
    ] = False,
    allow_http_sources: Annotated[
        bool, typer.Option(help="Allow plain http:// Source URLs without credentials.")
    ] = False,
    parse_memory_mib: Annotated[
        int, typer.Option(min=32, help="Address space of each manifest parse worker (MiB).")
    ] = 1024,
    parse_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds one manifest file may take to parse.")
    ] = 30.0,
    render_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds one kustomize or helm render may take.")
    ] = 60.0,
    prometheus_url: Annotated[
        str, typer.Option(help="Showback: the Prometheus scraping dcgm-exporter (empty: none).")
    ] = "",
    showback_interval: Annotated[
        float, typer.Option(help="Showback: seconds between passes.")
    ] = 15.0,
    showback_retention: Annotated[
        str, typer.Option(help="Showback: delete UsageRecords ended longer ago (e.g. 90d).")
    ] = "",
    showback_clock_file: Annotated[
        Path | None, typer.Option(help="Showback: a file of Unix seconds used as now (demos).")
    ] = None,
    dashboard_port: Annotated[
        int, typer.Option(help="Serve the dashboard on --bind-address:PORT (0: off).")
    ] = 0,
    admission_config: Annotated[
        Path | None, typer.Option(help="The API server's admission configuration file: the "
                                  "sync gate predicts its PodSecurity defaults and exemptions.")
    ] = None,
) -> None:
    """Run the controllers (delivery, queueing) until SIGTERM or SIGINT."""
    from quarterdeck.delivery.tenancy import Policy
    from quarterdeck.kube.config import ClientSettings, ConfigError, load_client, resolve
    from quarterdeck.kube.health import PortTaken
    from quarterdeck.operator import (
        LEASE_NAME,
        LeaderElection,
        Operator,
        OperatorConfig,
        configure_logging,
    )
    from quarterdeck.showback.operator import showback_config

    configure_logging(log_format.value, log_level.value)
    settings = ClientSettings(kubeconfig, context, None, allow_exec_plugins)
    try:
        pod_security = None  # guardrails: read as `qd check --cluster --admission-config` does
        if admission_config is not None:
            from quarterdeck.policy.pss.exemptions import load as load_admission

            pod_security = load_admission(admission_config)
        resolved = resolve(settings)
        client = load_client(settings, field_manager="quarterdeck-operator")
        election = LeaderElection(
            enabled=leader_elect,
            namespace=leader_elect_namespace or resolved.namespace or "default",
            name=leader_elect_id or LEASE_NAME,
            lease_duration=leader_elect_lease_duration,
            renew_deadline=leader_elect_renew_deadline,
            retry_period=leader_elect_retry_period,
        )
        config = OperatorConfig(
            cache_dir=cache_dir,
            namespace=namespace or None,
            tick=tick,
            install_crds=install_crds,
            delivery=delivery,
            queueing=queueing,
            queueing_webhook_port=queueing_webhook_port,
            bind_address=bind_address,
            health_port=health_port or metrics_port,
            grace_period=grace_period,
            leader=election,
            identity=identity,
            tenancy=Policy(  # docs/tenancy.md
                cross_namespace_refs=allow_cross_namespace_refs,
                allow_file_sources=allow_file_sources,
                allow_http_sources=allow_http_sources,
                default_service_account=default_service_account,
                isolated_parsing=True,  # manifests parsed under memory and time limits
                parse_memory=parse_memory_mib << 20,
                parse_timeout=parse_timeout,
                render_timeout=render_timeout,
            ),
        )
        config = replace(
            config,
            showback=showback_config(
                prometheus_url, showback_interval, showback_retention, showback_clock_file
            ),
            pod_security=pod_security,
        )
        op = Operator(client, config, lambda manager: load_client(settings, manager))
        if leader_elect:  # bad durations are bad input, said before anything starts
            from quarterdeck.kube.leader import LeaderElector

            LeaderElector(
                client,
                election.namespace,
                election.name,
                "check",
                election.lease_duration,
                election.renew_deadline,
                election.retry_period,
            )
        op.serve_health()
        dashboard = None
        if dashboard_port:  # imported only then: FastAPI is not light
            from quarterdeck.dashboard.server import FIELD_MANAGER, beside_operator

            dashboard = beside_operator(load_client(settings, FIELD_MANAGER), bind_address,
                                        dashboard_port)
    except (ConfigError, PortTaken, ValueError) as err:  # ListenError is a ValueError
        sys.stderr.write(f"error: {err}\n")
        raise typer.Exit(2) from None
    _stop_on_signals(op.stop)
    code = op.run()
    if dashboard is not None:
        dashboard.stop()
    raise typer.Exit(code)
