"""Self-heal: watch the objects delivery manages and report edits made by others.

One watch per kind (all namespaces, selected by the owner label) rather than a
poll at the sync interval, so a ``kubectl edit`` is seen within the watch latency
and the owning Application can be re-synced at once. Which manager wrote last is
read from ``managedFields``: our own applies and status updates are ignored.
``repair`` is the re-apply itself, made as the Application's ServiceAccount (as
its syncs are) and reported with an Event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from lightkube import operators
from lightkube.types import on_error_retry

from quarterdeck.audit.heal import audited_heal
from quarterdeck.delivery.cluster import FIELD_MANAGER, Cluster
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.hookrun import statuses
from quarterdeck.delivery.inventory import OWNER_NAME_LABEL, Owner, owner_of
from quarterdeck.delivery.metrics import DRIFT_OBJECTS, OBJECTS_APPLIED
from quarterdeck.delivery.resources import ApplicationRes, get_application, rfc3339
from quarterdeck.delivery.status import Outcome, application_status, entries
from quarterdeck.delivery.sync import SyncOptions, SyncResult, sync
from quarterdeck.delivery.tenancy import service_account_user


def edited_by_other(obj: Mapping[str, Any]) -> bool:
    """Whether the latest non-status write to ``obj`` may have come from another manager."""
    entries = [
        e
        for e in (obj.get("metadata") or {}).get("managedFields") or []
        if e.get("subresource", "") != "status"
    ]
    others = [e for e in entries if e.get("manager") != FIELD_MANAGER]
    if not others:
        return False
    # a write through a subresource (``kubectl scale``) leaves an entry without a time:
    # it may be the latest, so it counts (our re-apply takes its fields, and the entry
    # goes away with them)
    if any(not e.get("time") for e in others):
        return True
    # managedFields times have one-second resolution: on a tie, any other manager counts,
    # at worst costing one dry-run that finds nothing to revert
    latest = max(str(e.get("time", "")) for e in entries)
    return any(str(e.get("time", "")) == latest for e in others)


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


def repaired_summary(result: SyncResult) -> str:
    """The Event message of a repair: which objects were put back and which fields."""
    parts = []
    for key, fields in sorted(result.drift.items(), key=lambda kv: str(kv[0])):
        where = f"{key.namespace}/" if key.namespace else ""
        paths = ", ".join(d.path for d in fields[:5]) + (", ..." if len(fields) > 5 else "")
        parts.append(f"{key.kind} {where}{key.name} ({paths})")
    return "reverted edits made outside git: " + "; ".join(parts)


def repair(controller: Controller, owner: Owner) -> bool:
    """Re-apply the last rendered set of ``owner`` if it asks for self-heal; True when
    a repair was attempted (and its status written, if it changed anything or failed).

    The re-apply is made as the Application's ServiceAccount, like its syncs, so a
    self-heal can do no more than the tenant may. Reads bypass the cache: it may not
    have seen the edit that woke us yet. A repair that reverted something is an Event.
    """
    memory = controller.apps.get(owner)
    if memory is None or not memory.desired:
        return False
    app = get_application(controller.client, owner)
    if app is None or not app.spec.self_heal or app.spec.suspend or app.status is None:
        return False
    if app.status.last_attempted_revision != app.status.last_applied_revision:
        return False  # a newer revision is being applied (or failed): do not revert it
    inventory = entries(app.status.inventory)
    opts = SyncOptions(
        namespace=app.spec.render.target_namespace or owner.namespace, prune=False, wait=False
    )
    user = service_account_user(app, controller.policy)
    cluster = controller.direct.impersonating(user) if user else controller.direct
    desired = memory.desired
    healed = audited_heal(  # records the edits; None: paused by an incident (guardrails)
        controller.direct, owner, inventory, app.metadata.annotations, controller.clock(),
        lambda: sync(cluster, desired, inventory, owner, opts))
    if healed is None:
        return True
    result = healed
    if not result.drift and result.ok:
        return True
    OBJECTS_APPLIED.labels(str(owner)).inc(len(result.created) + len(result.configured))
    DRIFT_OBJECTS.labels(str(owner)).set(len(result.drift))
    outcome = Outcome(
        revision=app.status.last_applied_revision,
        errors=result.errors,
        created=len(result.created),
        configured=len(result.configured),
        unchanged=len(result.unchanged),
        inventory=inventory,
        versions={e.key: e.api_version for e in inventory},
        health=dict(result.health.items()),
        drift=result.drift,
        hooks=statuses(result.hooks),
    )
    status = application_status(app, outcome, rfc3339(controller.clock()))
    if not result.health:  # no wait on a heal: keep the health last observed
        status = msgspec.structs.replace(status, resources=app.status.resources)
    controller.write_status(ApplicationRes, owner, status)
    if result.errors:
        controller.event(app, "Warning", "SelfHealFailed", "; ".join(result.errors)[:1024])
    elif result.drift:
        controller.event(app, "Normal", "SelfHealed", repaired_summary(result)[:1024])
    return True
