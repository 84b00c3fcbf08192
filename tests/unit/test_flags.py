"""Command lines of the control-plane processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.devcluster import flags
from quarterdeck.devcluster.layout import Layout, Ports, check_name
from quarterdeck.devcluster.versions import Component

LAYOUT = Layout(Path("/qd/clusters/dev"))
PORTS = Ports(2379, 2380, 6443, 10257, 10259, 10247)


def _flags(component: Component) -> dict[str, str]:
    cmd = flags.command(component, Path(f"/bin/{component.value}"), LAYOUT, PORTS)
    assert cmd[0] == f"/bin/{component.value}"
    return dict(a[2:].split("=", 1) for a in cmd[1:])


def test_apiserver_listens_on_loopback_and_uses_our_pki_and_etcd() -> None:
    f = _flags(Component.APISERVER)
    assert f["bind-address"] == f["advertise-address"] == "127.0.0.1"
    assert f["secure-port"] == "6443"
    assert f["etcd-servers"] == "http://127.0.0.1:2379"
    assert f["client-ca-file"] == "/qd/clusters/dev/pki/ca.crt"
    assert f["service-account-signing-key-file"] == "/qd/clusters/dev/pki/sa.key"
    assert f["authorization-mode"] == "Node,RBAC"


def test_etcd_is_loopback_only_with_its_own_data_dir() -> None:
    f = _flags(Component.ETCD)
    assert f["listen-client-urls"] == "http://127.0.0.1:2379"
    assert f["listen-peer-urls"] == "http://127.0.0.1:2380"
    assert f["data-dir"] == "/qd/clusters/dev/etcd"


@pytest.mark.parametrize("component", [Component.CONTROLLER_MANAGER, Component.SCHEDULER])
def test_controllers_use_the_admin_kubeconfig_on_their_port(component: Component) -> None:
    f = _flags(component)
    assert f["kubeconfig"] == "/qd/clusters/dev/kubeconfig"
    assert f["bind-address"] == "127.0.0.1"
    port = (
        PORTS.controller_manager if component is Component.CONTROLLER_MANAGER else PORTS.scheduler
    )
    assert f["secure-port"] == str(port)


def test_kwok_manages_all_nodes_with_our_stages() -> None:
    f = _flags(Component.KWOK)
    assert f["manage-all-nodes"] == "true"
    assert f["config"] == "/qd/clusters/dev/kwok.yaml"
    assert f["server-address"] == "127.0.0.1:10247"


def test_every_port_has_a_name_for_leak_checks() -> None:
    assert sorted(PORTS.by_component().values()) == sorted([2379, 2380, 6443, 10257, 10259, 10247])


@pytest.mark.parametrize("bad", ["Dev", "a_b", "", "-x", "x" * 41])
def test_cluster_names_are_dns_labels(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        check_name(bad)
