"""The record of a running dev cluster (`state.json`): ports and process identities.

It is written once every process is up, and read by `down`, `status`, `env` and `logs`.
A cluster directory without a state file, or whose processes are gone, is stale.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from quarterdeck.devcluster.layout import Layout, Ports
from quarterdeck.devcluster.process import ProcessRef
from quarterdeck.devcluster.versions import Component


@dataclass(frozen=True)
class ClusterState:
    name: str
    ports: Ports
    processes: dict[Component, ProcessRef]
    server: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "server": self.server,
                "ports": asdict(self.ports),
                "processes": {c.value: asdict(p) for c, p in self.processes.items()},
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        data = json.loads(text)
        return cls(
            name=data["name"],
            server=data["server"],
            ports=Ports(**data["ports"]),
            processes={Component(k): ProcessRef(**v) for k, v in data["processes"].items()},
        )


def load(layout: Layout) -> ClusterState | None:
    try:
        return ClusterState.from_json(layout.state.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # a half-written or foreign file: treat the cluster as stale


def save(layout: Layout, state: ClusterState) -> None:
    tmp = layout.state.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(layout.state)


def known_clusters(clusters_root: Path) -> list[str]:
    if not clusters_root.is_dir():
        return []
    return sorted(p.name for p in clusters_root.iterdir() if p.is_dir())
