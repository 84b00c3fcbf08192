"""Self-heal, audited: record each out-of-band edit before healing, and honour incidents.

The operator's self-heal calls `audited_heal` around its re-apply. The live objects'
managedFields say who edited what; the edits not yet in the trail are recorded with
what happened to them: reverted by self-heal, kept during a break-glass incident (no
re-apply at all then), or not reverted (fields delivery does not set). Writing the
trail never stops a heal: a failure to record is logged, and the heal goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from quarterdeck.audit import store
from quarterdeck.audit.incident import incident_of, paused_for, rfc3339
from quarterdeck.audit.record import REVERTED, Edit, Entry, edit_entry, edits, new_edits

if TYPE_CHECKING:
    from quarterdeck.delivery.cluster import Cluster
    from quarterdeck.delivery.inventory import Entry as InventoryEntry
    from quarterdeck.delivery.inventory import Owner
    from quarterdeck.delivery.sync import SyncResult

R = TypeVar("R", bound="SyncResult")


def _key_text(api_version: str, kind: str, namespace: str, name: str) -> str:
    group = api_version.rpartition("/")[0]
    return f"{group}/{kind}/{namespace}/{name}"


def outcome(edit: Edit, result: SyncResult) -> str:
    drifted = {_key_text(edit.api_version, k.kind, k.namespace, k.name) for k in result.drift}
    if _key_text(edit.api_version, edit.kind, edit.namespace, edit.name) in drifted:
        return REVERTED if result.ok else "revert failed: " + "; ".join(
            result.errors)[:300]
    return "not reverted (no field delivery sets was changed)"


def audited_heal(cluster: Cluster, owner: Owner, inventory: Sequence[InventoryEntry],
                 annotations: Mapping[str, str] | None, now: float,
                 heal: Callable[[], R]) -> R | None:
    """Run `heal` unless an incident pauses self-heal (then None); record the edits."""
    from quarterdeck.delivery.cluster import FIELD_MANAGER

    try:
        live = [(e, cluster.get(e.api_version, e.key)) for e in inventory]
        recorded = store.read(cluster.client, owner.namespace, owner.name)
        fresh = new_edits([x for _, obj in live if obj for x in edits(obj, FIELD_MANAGER)],
                          recorded)
    except Exception as err:  # the trail cannot be read: heal anyway, say so
        print(f"audit {owner}: cannot read the trail: {err}", file=sys.stderr)
        live, fresh = [], []
    if paused_for(annotations, now):
        incident = incident_of(annotations)
        reason = incident.reason if incident else ""
        _write(cluster, owner, [edit_entry(e, f"kept: break-glass incident ({reason})")
                                for e in fresh])
        return None
    result = heal()
    entries: list[Entry] = [edit_entry(e, outcome(e, result)) for e in fresh]
    created = set(result.created) | set(result.recreated)
    entries += [Entry(rfc3339(now), "out-of-band", f"{e.key.kind}/{e.key.namespace}/"
                      f"{e.key.name}" if e.key.namespace else f"{e.key.kind}/{e.key.name}",
                      outcome="deleted; recreated by self-heal")
                for e, obj in live if obj is None and e.key in created]
    _write(cluster, owner, entries)
    return result


def _write(cluster: Cluster, owner: Owner, entries: list[Entry]) -> None:
    try:
        store.append(cluster.client, owner.namespace, owner.name, entries)
    except Exception as err:
        print(f"audit {owner}: cannot record {len(entries)} entries: {err}", file=sys.stderr)
