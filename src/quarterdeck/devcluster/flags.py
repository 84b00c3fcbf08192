"""Command lines of the control-plane processes: pure functions of layout, ports and paths.

Everything listens on 127.0.0.1 only. The choices follow what kwokctl's binary runtime
and controller-runtime's envtest do, with test-speed settings (no fsync in etcd,
short node-monitor periods so a lost kwok is noticed).
"""

from __future__ import annotations

from pathlib import Path

from quarterdeck.devcluster.layout import Layout, Ports
from quarterdeck.devcluster.versions import Component

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"


def etcd(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    client = f"http://{LOOPBACK}:{ports.etcd_client}"
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    return [
        str(binary),
        f"--name={layout.name}",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={layout.name}={peer}",
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


def apiserver(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    pki = layout.pki_file
    return [
        str(binary),
        f"--etcd-servers=http://{LOOPBACK}:{ports.etcd_client}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={pki('apiserver.crt')}",
        f"--tls-private-key-file={pki('apiserver.key')}",
        f"--client-ca-file={pki('ca.crt')}",
        f"--service-account-key-file={pki('sa.pub')}",
        f"--service-account-signing-key-file={pki('sa.key')}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--max-requests-inflight=2000",
        "--max-mutating-requests-inflight=1000",
        "--endpoint-reconciler-type=none",
    ]


def _api_client(binary: Path, layout: Layout, port: int) -> list[str]:
    """What controller-manager and scheduler share: the admin kubeconfig, a loopback port."""
    return [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        f"--authentication-kubeconfig={layout.kubeconfig}",
        f"--authorization-kubeconfig={layout.kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--kube-api-qps=500",
        "--kube-api-burst=1000",
    ]


def controller_manager(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    pki = layout.pki_file
    return [
        *_api_client(binary, layout, ports.controller_manager),
        f"--root-ca-file={pki('ca.crt')}",
        f"--service-account-private-key-file={pki('sa.key')}",
        f"--cluster-signing-cert-file={pki('ca.crt')}",
        f"--cluster-signing-key-file={pki('ca.key')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--cluster-cidr={POD_CIDR}",
        "--use-service-account-credentials=false",
        "--node-monitor-period=5s",
        "--node-monitor-grace-period=40s",
        "--concurrent-deployment-syncs=10",
        "--concurrent-job-syncs=10",
    ]


def scheduler(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return _api_client(binary, layout, ports.scheduler)


def kwok(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        f"--config={layout.kwok_config}",
        "--manage-all-nodes=true",
        f"--server-address={LOOPBACK}:{ports.kwok}",
        f"--node-ip={LOOPBACK}",
        "--node-lease-duration-seconds=40",
        "--cidr=10.244.0.0/16",
    ]


COMMANDS = {
    Component.ETCD: etcd,
    Component.APISERVER: apiserver,
    Component.CONTROLLER_MANAGER: controller_manager,
    Component.SCHEDULER: scheduler,
    Component.KWOK: kwok,
}


def command(component: Component, binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return COMMANDS[component](binary, layout, ports)
