"""`qd dev up/down/status`: start, stop and inspect a named local control plane.

The order is etcd -> kube-apiserver -> (controller-manager, scheduler, kwok) -> nodes.
Whatever fails on the way, every process this call started is stopped before the error
is raised, so a failed `up` leaves no orphan behind; a cluster directory left by a killed
`qd` (processes gone, or no state file) is detected as stale and cleaned.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from quarterdeck.devcluster import cache, fakenodes, flags, pki, ports, process, readiness, state
from quarterdeck.devcluster import prometheus as addon_prometheus
from quarterdeck.devcluster.kubeconfig import kubeconfig
from quarterdeck.devcluster.layout import Layout, Ports, check_name
from quarterdeck.devcluster.pools import NodeSpec
from quarterdeck.devcluster.stages import kwok_configuration, stages
from quarterdeck.devcluster.versions import Component

DEFAULT_NAME = "dev"


class ClusterError(RuntimeError):
    """A dev cluster could not be started, found or stopped; the message says what to do."""


class Reporter(Protocol):
    def step(self, text: str) -> None: ...
    def progress(self, task: str, done: int, total: int | None) -> None: ...


@dataclass
class ComponentStatus:
    component: Component
    pid: int
    alive: bool
    port: int
    listening: bool


@dataclass
class ClusterStatus:
    name: str
    server: str
    kubeconfig: Path
    components: list[ComponentStatus] = field(default_factory=list)
    api_ready: bool = False

    @property
    def healthy(self) -> bool:
        return self.api_ready and all(c.alive for c in self.components)


def layout_for(name: str) -> Layout:
    return Layout(cache.clusters_dir() / check_name(name))


def _write_pki(layout: Layout, name: str) -> pki.ClusterPKI:
    creds = pki.generate(datetime.now(UTC), name)
    layout.pki.mkdir(parents=True, exist_ok=True)
    files = {
        "ca.crt": creds.ca.cert_pem,
        "ca.key": creds.ca.key_pem,
        "apiserver.crt": creds.serving.cert_pem,
        "apiserver.key": creds.serving.key_pem,
        "admin.crt": creds.admin.cert_pem,
        "admin.key": creds.admin.key_pem,
        "sa.key": creds.service_account_key_pem,
        "sa.pub": creds.service_account_pub_pem,
    }
    for fname, data in files.items():
        path = layout.pki_file(fname)
        path.write_bytes(data)
        path.chmod(0o600)
    return creds


def _port_of(component: Component, p: Ports) -> int:
    return {
        Component.ETCD: p.etcd_client,
        Component.APISERVER: p.apiserver,
        Component.CONTROLLER_MANAGER: p.controller_manager,
        Component.SCHEDULER: p.scheduler,
        Component.KWOK: p.kwok,
    }[component]


def _choose_ports(api_port: int | None) -> Ports:
    if api_port is not None:
        ports.check_free(api_port, "kube-apiserver")
    picked = ports.free_ports(6)
    return Ports(picked[0], picked[1], api_port or picked[2], picked[3], picked[4], picked[5])


def _died(layout: Layout, started: dict[Component, process.ProcessRef]) -> str | None:
    for component, ref in started.items():
        if not process.alive(ref):
            return (
                f"{component.value} exited during start-up; last lines of "
                f"{layout.log(component)}:\n{process.tail(layout.log(component))}"
            )
    return None


def _stop_all(started: dict[Component, process.ProcessRef]) -> None:
    for ref in reversed(list(started.values())):
        process.stop(ref)


def clean_stale(name: str) -> bool:
    """Remove a cluster directory whose processes are gone; True if something was cleaned."""
    layout = layout_for(name)
    if not layout.root.exists():
        return False
    st = state.load(layout)
    if st is not None and all(process.alive(r) for r in st.processes.values()):
        return False
    if st is not None:
        _stop_all(st.processes)  # stop any survivor of a half-dead cluster
    addon_prometheus.stop_with_cluster(layout.root)
    shutil.rmtree(layout.root, ignore_errors=True)
    return True


def up(
    name: str,
    nodes: Sequence[NodeSpec],
    binaries: dict[Component, Path],
    reporter: Reporter,
    api_port: int | None = None,
    timeout: float = 120.0,
    admission_config: Mapping[str, Any] | None = None,
) -> state.ClusterState:
    """Start a cluster; `admission_config` (an AdmissionConfiguration) is handed to
    kube-apiserver as `--admission-control-config-file`."""
    layout = layout_for(name)
    if layout.root.exists():
        if not clean_stale(name):
            raise ClusterError(
                f"dev cluster {name!r} is already running: use it (`qd dev env --name {name}`) "
                f"or stop it first (`qd dev down --name {name}`)"
            )
        reporter.step(f"cleaned a stale cluster {name!r} left by an earlier run")
    chosen = _choose_ports(api_port)
    layout.root.mkdir(parents=True)
    server = f"https://{flags.LOOPBACK}:{chosen.apiserver}"
    started: dict[Component, process.ProcessRef] = {}
    try:
        creds = _write_pki(layout, name)
        layout.kubeconfig.write_text(yaml.safe_dump(kubeconfig(name, server, creds)))
        layout.kubeconfig.chmod(0o600)
        layout.kwok_config.write_text(yaml.safe_dump_all([kwok_configuration(), *stages()]))
        tls = readiness.admin_tls(layout)
        admission = layout.root / "admission.yaml"
        if admission_config is not None:
            admission.write_text(yaml.safe_dump(dict(admission_config)))

        def start(component: Component) -> None:
            cmd = flags.command(component, binaries[component], layout, chosen)
            if component is Component.APISERVER and admission_config is not None:
                cmd.append(f"--admission-control-config-file={admission}")
            started[component] = process.spawn(cmd, layout.log(component), layout.root)

        def died() -> str | None:
            return _died(layout, started)

        reporter.step("starting etcd")
        start(Component.ETCD)
        readiness.wait_until(
            lambda: readiness.http_ok(f"http://127.0.0.1:{chosen.etcd_client}/health"),
            "etcd",
            timeout,
            died,
        )
        reporter.step("starting kube-apiserver")
        start(Component.APISERVER)
        readiness.wait_until(
            lambda: readiness.http_ok(f"{server}/readyz", tls),
            "kube-apiserver",
            timeout,
            died,
            interval=0.2,
        )
        reporter.step("starting kube-controller-manager, kube-scheduler and kwok")
        for component in (Component.CONTROLLER_MANAGER, Component.SCHEDULER, Component.KWOK):
            start(component)
        if nodes:
            fakenodes.create_nodes(
                layout.kubeconfig, nodes, lambda d, t: reporter.progress("registering nodes", d, t)
            )
            fakenodes.wait_ready(
                layout.kubeconfig,
                len(nodes),
                lambda d, t: reporter.progress("nodes Ready", d, t),
                timeout + len(nodes) * 0.1,
                died,
            )
        for component in (Component.CONTROLLER_MANAGER, Component.SCHEDULER):
            port = _port_of(component, chosen)
            readiness.wait_until(
                lambda p=port: readiness.http_ok(f"https://127.0.0.1:{p}/healthz", False),  # type: ignore[misc]
                component.value,
                timeout,
                died,
            )
        reporter.step("waiting for the default service account")
        readiness.wait_until(
            lambda: readiness.http_ok(
                f"{server}/api/v1/namespaces/default/serviceaccounts/default", tls
            ),
            "default service account",
            timeout,
            died,
            interval=0.2,
        )
        st = state.ClusterState(name, chosen, started, server)
        state.save(layout, st)
        return st
    except BaseException:
        # Logs stay for the user to read; without a state file the directory counts as
        # stale and the next `up` cleans it.
        _stop_all(started)
        raise


def down(name: str) -> bool:
    """Stop every process and remove the cluster; False if there was no such cluster."""
    layout = layout_for(name)
    if not layout.root.exists():
        return False
    st = state.load(layout)
    addon_prometheus.stop_with_cluster(layout.root)
    if st is not None:
        _stop_all(st.processes)
        leftover = [
            f"{what} ({p})" for what, p in st.ports.by_component().items() if ports.is_listening(p)
        ]
        deadline = time.monotonic() + 5
        while leftover and time.monotonic() < deadline:
            time.sleep(0.1)
            leftover = [w for w in leftover if ports.is_listening(int(w.rsplit("(", 1)[1][:-1]))]
        if leftover:
            raise ClusterError(f"ports still listening after stopping {name!r}: {leftover}")
    shutil.rmtree(layout.root, ignore_errors=True)
    return True


def status(name: str) -> ClusterStatus | None:
    layout = layout_for(name)
    st = state.load(layout)
    if st is None:
        return None
    result = ClusterStatus(name, st.server, layout.kubeconfig)
    for component, ref in st.processes.items():
        port = _port_of(component, st.ports)
        result.components.append(
            ComponentStatus(component, ref.pid, process.alive(ref), port, ports.is_listening(port))
        )
    result.api_ready = readiness.http_ok(f"{st.server}/readyz", readiness.admin_tls(layout))
    return result


def require_running(name: str) -> tuple[Layout, state.ClusterState]:
    layout = layout_for(name)
    st = state.load(layout)
    if st is None:
        raise ClusterError(
            f"no dev cluster named {name!r}: start one with `qd dev up --name {name}`"
        )
    return layout, st
