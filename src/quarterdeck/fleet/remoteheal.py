"""Self-heal in worker clusters: an edit there by anyone else is taken back at once.

Delivery's own self-heal watches the management cluster only. Here the same watcher
(``delivery.selfheal.SelfHeal``: one watch per kind, the owner labels, ``managedFields``
to tell our writes from others') runs once per registered cluster, on that cluster's
client, for the kinds in the inventories of the Applications aimed at it. An edit or a
deletion by another manager asks the owning Application to sync now, with the
annotation ``qd sync`` writes; the sync applies the rendered set again, as the
Application's ServiceAccount, and takes the edited fields back (drift repaired, with
delivery's Events). Applications with ``selfHeal: false`` are not watched.

A cluster whose registration or reachability changes gets a new watcher from the
registrar's current client (the old one may hold a closed client).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from lightkube import Client
from lightkube.types import PatchType

from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.resources import REQUEST_ANNOTATION, ApplicationRes
from quarterdeck.delivery.selfheal import SelfHeal
from quarterdeck.fleet.destinations import Destinations
from quarterdeck.kube.informer import Informer

log = structlog.get_logger("quarterdeck.fleet")
Obj = Mapping[str, Any]
LOCAL = ("", "in-cluster")
DEBOUNCE = 1.0  # seconds: a burst of edits of one Application asks for one sync


def watched_kinds(app: Obj) -> tuple[str, list[dict[str, str]]]:
    """(destination cluster, kinds of its inventory) of an Application object that
    self-heals in another cluster; ("", []) for any other."""
    spec = app.get("spec") or {}
    cluster = str((spec.get("destination") or {}).get("cluster") or "")
    if cluster in LOCAL or spec.get("selfHeal") is False or spec.get("suspend"):
        return "", []
    kinds = {
        (str(r.get("apiVersion", "")), str(r.get("kind", "")))
        for r in (app.get("status") or {}).get("inventory") or []
        if r.get("apiVersion") and r.get("kind")
    }
    return cluster, [{"apiVersion": v, "kind": k} for v, k in sorted(kinds)]


class RemoteHeal:
    """See the module docstring."""

    def __init__(
        self,
        client: Client,
        destinations: Destinations,
        apps: Informer,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.destinations = destinations
        self.apps = apps
        self.clock = clock
        self.heals: dict[str, SelfHeal] = {}
        self._asked: dict[Owner, float] = {}
        self._lock = threading.Lock()
        apps.add_handler(self._on_app)

    def _on_app(self, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            return
        cluster, kinds = watched_kinds(obj)
        if not kinds:
            return
        found = self.destinations.destination(cluster)
        if found.cluster is None:
            return  # watched once it answers (``changed``)
        with self._lock:
            heal = self.heals.get(cluster)
            if heal is None:
                heal = self.heals[cluster] = SelfHeal(found.cluster, self._edited)
        heal.watch(kinds)

    def changed(self, cluster: str) -> None:
        """The registrar's listener: watch afresh through the cluster's current client."""
        with self._lock:
            old = self.heals.pop(cluster, None)
        if old is not None:
            old.stop.set()
        for app in self.apps.list():
            self._on_app("MODIFIED", app)

    def _edited(self, owner: Owner) -> None:
        if self.apps.get(owner.namespace, owner.name) is None:
            return  # labelled by an Application this operator does not serve
        now = self.clock()
        with self._lock:
            if now - self._asked.get(owner, float("-inf")) < DEBOUNCE:
                return
            self._asked[owner] = now
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: f"{stamp} remote self-heal"}}}
        try:
            call_api(
                lambda: self.client.patch(
                    ApplicationRes,
                    owner.name,
                    patch,
                    namespace=owner.namespace,
                    patch_type=PatchType.MERGE,
                )
            )
        except Exception as err:
            if not (isinstance(err, ClusterError) and err.code == 404):
                log.warning("remote self-heal not requested", app=str(owner), error=str(err))
            return
        log.info("remote edit seen: sync requested", app=str(owner))

    def stop(self) -> None:
        self.apps.remove_handler(self._on_app)
        with self._lock:
            heals, self.heals = list(self.heals.values()), {}
        for heal in heals:
            heal.stop.set()
