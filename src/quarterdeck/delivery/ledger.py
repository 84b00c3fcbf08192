"""Where one-shot syncs (``qd sync --path``) keep their inventory: a ConfigMap.

With no Application object there is no status to hold the inventory, so it lives
in a ConfigMap named after the owner, applied by the same field manager. The
operator keeps it in ``Application.status.inventory`` instead.
"""

from __future__ import annotations

import json

from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Entry, Owner
from quarterdeck.delivery.manifests import Key

PREFIX = "qd-inventory-"


def _key(owner: Owner) -> Key:
    return Key("", "ConfigMap", owner.namespace, f"{PREFIX}{owner.name}")


def encode(entries: list[Entry]) -> str:
    """Inventory as stable JSON (one list per entry: apiVersion, kind, namespace, name)."""
    return json.dumps(
        [[e.api_version, e.key.kind, e.key.namespace, e.key.name] for e in sorted(entries)]
    )


def decode(text: str) -> list[Entry]:
    """Inventory from ``encode``'s JSON."""
    out = []
    for api_version, kind, namespace, name in json.loads(text):
        group = api_version.rpartition("/")[0]
        out.append(Entry(Key(group, kind, namespace, name), api_version))
    return out


def load(cluster: Cluster, owner: Owner) -> list[Entry]:
    """The stored inventory of ``owner``; empty when none was stored yet."""
    obj = cluster.get("v1", _key(owner))
    if obj is None:
        return []
    return decode((obj.get("data") or {}).get("inventory", "[]"))


def save(cluster: Cluster, owner: Owner, entries: list[Entry]) -> None:
    """Store ``entries`` as the inventory of ``owner``."""
    key = _key(owner)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": key.name, "namespace": key.namespace},
            "data": {"inventory": encode(entries)},
        }
    )
