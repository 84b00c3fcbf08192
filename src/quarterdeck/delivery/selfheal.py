"""Self-heal: watch the objects delivery manages and report edits made by others.

One watch per kind (all namespaces, selected by the owner label) rather than a
poll at the sync interval, so a ``kubectl edit`` is seen within the watch latency
and the owning Application can be re-synced at once. Which manager wrote last is
read from ``managedFields``: our own applies and status updates are ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lightkube import operators
from lightkube.types import on_error_retry

from quarterdeck.delivery.cluster import FIELD_MANAGER, Cluster
from quarterdeck.delivery.inventory import OWNER_NAME_LABEL, Owner, owner_of


def edited_by_other(obj: Mapping[str, Any]) -> bool:
    """Whether the latest non-status write to ``obj`` may have come from another manager."""
    entries = [
        e
        for e in (obj.get("metadata") or {}).get("managedFields") or []
        if e.get("subresource", "") != "status"
    ]
    if not entries:
        return False
    # managedFields times have one-second resolution: on a tie, any other manager counts,
    # at worst costing one dry-run that finds nothing to revert
    latest = max(str(e.get("time", "")) for e in entries)
    return any(
        e.get("manager") != FIELD_MANAGER for e in entries if str(e.get("time", "")) == latest
    )


class SelfHeal:
    """Calls ``on_edit(owner)`` when a managed object is edited or deleted by someone else."""

    def __init__(self, cluster: Cluster, on_edit: Callable[[Owner], None]) -> None:
        self.cluster = cluster
        self.on_edit = on_edit
        self._watched: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def watch(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Make sure the kinds of ``objects`` are watched (one daemon thread per kind)."""
        for obj in objects:
            kind = (str(obj["apiVersion"]), str(obj["kind"]))
            with self._lock:
                if kind in self._watched:
                    continue
                self._watched.add(kind)
            thread = threading.Thread(
                target=self._run, args=kind, daemon=True, name=f"selfheal-{kind[1]}"
            )
            thread.start()

    def _run(self, api_version: str, kind: str) -> None:
        """Watch one kind until stopped; a lost connection is retried every second."""
        cls = self.cluster.resource(api_version, kind)
        labels: dict[str, Any] = {OWNER_NAME_LABEL: operators.exists()}
        namespace = "*" if self.cluster.kind(api_version, kind).namespaced else None
        while not self.stop.is_set():
            try:
                stream = self.cluster.client.watch(
                    cls, namespace=namespace, labels=labels, on_error=on_error_retry
                )
                for event, obj in stream:
                    if self.stop.is_set():
                        return
                    raw = dict(obj)
                    owner = owner_of(raw)
                    if owner is None:
                        continue
                    # ADDED too: a watch (re)started without a version lists what exists,
                    # and an edit made before it started shows only there
                    if event == "DELETED" or edited_by_other(raw):
                        self.on_edit(owner)
            except Exception:  # the API server went away or restarted: watch again
                self.stop.wait(1.0)
