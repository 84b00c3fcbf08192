"""Where one dev cluster keeps its files and which loopback ports it listens on.

A cluster is a directory under `clusters/NAME/`: PKI, kubeconfig, logs, etcd data and
`state.json` with the ports and process ids. Paths are derived, never stored twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.devcluster.versions import Component

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"cluster name {name!r} is invalid: use lowercase letters, digits and '-' (at most 40)"
        )
    return name


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    def by_component(self) -> dict[str, int]:
        """Every listening port, named for error messages and leak checks."""
        return {
            "etcd (client)": self.etcd_client,
            "etcd (peer)": self.etcd_peer,
            Component.APISERVER.value: self.apiserver,
            Component.CONTROLLER_MANAGER.value: self.controller_manager,
            Component.SCHEDULER.value: self.scheduler,
            Component.KWOK.value: self.kwok,
        }


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def kwok_config(self) -> Path:
        return self.root / "kwok.yaml"

    def log(self, component: Component) -> Path:
        return self.root / "logs" / f"{component.value}.log"

    def pki_file(self, name: str) -> Path:
        return self.pki / name
