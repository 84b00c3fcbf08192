"""Pinned versions of the control-plane components `qd dev` builds and runs.

One place to bump: the cache key of every binary is its component and version, so a
new pin builds anew beside the old one instead of trusting a stale binary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
#: The Go release the pinned Kubernetes go.mod asks for (`go 1.26.0`).
MIN_GO = (1, 26)


class Component(StrEnum):
    """The processes of a dev cluster, in start order."""

    ETCD = "etcd"
    APISERVER = "kube-apiserver"
    CONTROLLER_MANAGER = "kube-controller-manager"
    SCHEDULER = "kube-scheduler"
    KWOK = "kwok"


@dataclass(frozen=True)
class Pin:
    """A component's Go module, the package to build and the version pinned."""

    component: Component
    module: str
    package: str
    version: str


PINS: dict[Component, Pin] = {
    Component.ETCD: Pin(
        Component.ETCD, "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3", ETCD_VERSION
    ),
    Component.APISERVER: Pin(
        Component.APISERVER,
        "k8s.io/kubernetes",
        "k8s.io/kubernetes/cmd/kube-apiserver",
        KUBERNETES_VERSION,
    ),
    Component.CONTROLLER_MANAGER: Pin(
        Component.CONTROLLER_MANAGER,
        "k8s.io/kubernetes",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        KUBERNETES_VERSION,
    ),
    Component.SCHEDULER: Pin(
        Component.SCHEDULER,
        "k8s.io/kubernetes",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        KUBERNETES_VERSION,
    ),
    Component.KWOK: Pin(
        Component.KWOK, "sigs.k8s.io/kwok", "sigs.k8s.io/kwok/cmd/kwok", KWOK_VERSION
    ),
}
