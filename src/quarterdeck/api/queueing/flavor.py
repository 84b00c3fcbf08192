"""ResourceFlavor and Topology: what kind of nodes a slice of quota stands for."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.queueing.meta import API_VERSION, Spec, Taint, Toleration


class ResourceFlavorSpec(Spec, kw_only=True):
    """Nodes of this flavor carry `nodeLabels`; `nodeTaints` keep other pods off them.

    `tolerations` are added to admitted pods; `topologyName` names a Topology whose
    levels (e.g. rack, NVLink domain) placement may be asked to respect.
    """

    node_labels: dict[str, str] = {}
    node_taints: list[Taint] = []
    tolerations: list[Toleration] = []
    topology_name: str | None = None


class ResourceFlavor(Spec, kw_only=True):
    KIND: ClassVar[str] = "ResourceFlavor"
    api_version: str = API_VERSION
    kind: str = "ResourceFlavor"
    metadata: ObjectMeta
    spec: ResourceFlavorSpec = msgspec.field(default_factory=ResourceFlavorSpec)


class TopologyLevel(Spec, kw_only=True):
    node_label: str


class TopologySpec(Spec, kw_only=True):
    """Topology levels from the widest (block, rack) to the narrowest (hostname)."""

    levels: list[TopologyLevel]


class Topology(Spec, kw_only=True):
    KIND: ClassVar[str] = "Topology"
    api_version: str = API_VERSION
    kind: str = "Topology"
    metadata: ObjectMeta
    spec: TopologySpec
