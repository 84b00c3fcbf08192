"""Each page's data for one user: the cache, filtered by what SubjectAccessReview allows,
turned into plain data by :mod:`quarterdeck.dashboard.views`.

A list shows only the namespaces (or cluster-scoped names) the user may list (or get);
a single object the user may not get is Forbidden before it is looked up, so a 403 tells
nothing about whether the object exists.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from lightkube import Client
from lightkube.types import PatchType

from quarterdeck.dashboard import gpus, live, views, waits
from quarterdeck.dashboard.access import Access, Ask, User
from quarterdeck.dashboard.cache import DELIVERY, QUEUEING, SHOWBACK, DashboardCache
from quarterdeck.dashboard.pending import PendingDiffs
from quarterdeck.dashboard.showback_view import WINDOW, budget_rows, team_costs
from quarterdeck.delivery.resources import REQUEST_ANNOTATION, ApplicationRes
from quarterdeck.showback.objectives import QueueWaits
from quarterdeck.showback.window import WindowError

#: seconds the showback table is reused while no UsageRecord or Pricing changed (the
#: showback controller's own pass interval, by default): accounting 5,000 records takes
#: longer than a page view may
COSTS_FOR = 15


class Forbidden(Exception):
    """The user may not do this; the message says what was asked."""


class NotFound(Exception):
    """The object named in the URL does not exist."""


def _apps(ns: str, verb: str = "list", name: str = "") -> Ask:
    return Ask(verb, DELIVERY, "applications", ns, name)


class Pages:
    def __init__(self, cache: DashboardCache, access: Access, client: Client,
                 pending: PendingDiffs | None = None) -> None:
        self.cache = cache
        self.access = access
        self.client = client
        self.pending = pending  # None: no diffs of pending commits (the render bench)
        self._waits: tuple[tuple[str, int], dict[str, list[dict[str, Any]]]] | None = None
        self._costs: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        self._queue_waits = QueueWaits()
        self._waits_lock = threading.Lock()

    def _require(self, user: User, ask: Ask) -> None:
        if not self.access.allowed(user, ask):
            where = f" in namespace {ask.namespace}" if ask.namespace else ""
            what = f"{ask.resource}/{ask.name}" if ask.name else ask.resource
            raise Forbidden(f"{user.name} may not {ask.verb} {what}{where}")

    # --- Applications ------------------------------------------------------------------

    def visible_apps(self, user: User) -> list[dict[str, Any]]:
        if self.access.allowed(user, _apps("")):  # may list them in every namespace
            return self.cache.applications.list()
        return [
            app
            for ns in self.cache.namespaces_of(self.cache.applications)
            if self.access.allowed(user, _apps(ns))
            for app in self.cache.applications.list(ns)
        ]

    def applications(self, user: User) -> dict[str, Any]:
        return {"applications": views.app_rows(self.visible_apps(user))}

    def _app(self, user: User, ns: str, name: str, verb: str = "get") -> dict[str, Any]:
        self._require(user, _apps(ns, verb, name))
        app = self.cache.applications.get(ns, name)
        if app is None:
            raise NotFound(f"application {ns}/{name} not found")
        return app

    def application(self, user: User, ns: str, name: str) -> dict[str, Any]:
        app = self._app(user, ns, name)
        source_name = ((app.get("spec") or {}).get("sourceRef") or {}).get("name", "")
        source = self.cache.sources.get(ns, source_name) if source_name else None
        detail = views.app_detail(app, source)
        detail["canSync"] = self.access.allowed(user, _apps(ns, "patch", name))
        detail["pending"] = self._pending(user, app, source)
        return {"application": detail}

    def _pending(self, user: User, app: dict[str, Any], source: dict[str, Any] | None
                 ) -> dict[str, Any] | None:
        """The pending commit's diff, each object's text only for who may `get` it."""
        found = self.pending.get(app, source) if self.pending is not None else None
        if found is None:
            return None
        objects = []
        for obj in found["objects"]:
            ask = Ask("get", obj["group"], obj["resource"], obj["namespace"], obj["name"])
            shown = bool(obj["resource"]) and self.access.allowed(user, ask)
            objects.append({k: obj[k] for k in ("object", "action")}
                           | {"diff": obj["diff"] if shown else "(you may not get this object)"})
        return {**found, "objects": objects}

    def sync(self, user: User, ns: str, name: str) -> str:
        """Ask delivery to sync now, the way `qd sync APP` does: a new value of the
        request annotation, which the controller acts on."""
        self._app(user, ns, name, verb="patch")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: now}}}
        self.client.patch(ApplicationRes, name, patch, namespace=ns, patch_type=PatchType.MERGE)
        return now

    def set_suspended(self, user: User, ns: str, name: str, suspended: bool) -> str:
        """Suspend or resume, as `spec.suspend` (delivery stops syncing while it is true)."""
        self._app(user, ns, name, verb="patch")
        self.client.patch(ApplicationRes, name, {"spec": {"suspend": suspended}}, namespace=ns,
                          patch_type=PatchType.MERGE)
        return "suspended" if suspended else "resumed"

    def rollback(self, user: User, ns: str, name: str, revision: str) -> str:
        """Pin the Application to a revision of its history (`spec.revision`, as
        `qd rollback` does); a revision not in the history is refused."""
        app = self._app(user, ns, name, verb="patch")
        history = [str(h.get("revision", "")) for h in
                   (app.get("status") or {}).get("history") or []]
        if not revision or revision not in history:
            raise NotFound(f"revision {revision[:12] or '(none)'} is not in the history of "
                           f"{ns}/{name}")
        self.client.patch(ApplicationRes, name, {"spec": {"revision": revision}}, namespace=ns,
                          patch_type=PatchType.MERGE)
        return f"pinned to {revision[:12]}"

    # --- Queues ------------------------------------------------------------------------

    def _queues(self, user: User, only: str = "") -> list[dict[str, Any]]:
        queues = [
            q for q in self.cache.cluster_queues.list()
            if (not only or q["metadata"]["name"] == only)
            and self.access.allowed(
                user, Ask("get", QUEUEING, "clusterqueues", "", q["metadata"]["name"]))
        ]
        workloads = [
            w
            for ns in self.cache.namespaces_of(self.cache.workloads)
            if self.access.allowed(user, Ask("list", QUEUEING, "workloads", ns))
            for w in self.cache.workloads.list(ns)
        ]
        rows = views.queue_rows(queues, workloads, self.cache.local_queue_targets())
        history = self.admission_waits(time.time())
        for row in rows:
            row["waits"] = history.get(row["name"], [])
        return rows

    def admission_waits(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """`waits.admission_waits` over every cached Workload (showback's `QueueWaits`,
        which reads again only the Workloads that changed), computed again only when a
        Workload changed (the informer's resourceVersion moved) or a minute has passed."""
        key = (self.cache.workloads.resource_version, int(now // 60))
        with self._waits_lock:  # page views run in threads: one updates it at a time
            if self._waits is None or self._waits[0] != key:
                self._queue_waits.update(self.cache.workloads.list())
                self._waits = (key, waits.admission_waits(self._queue_waits, now))
            return self._waits[1]

    def queues(self, user: User) -> dict[str, Any]:
        rows = self._queues(user)
        return {"queues": rows, "cohorts": views.cohorts(rows)}

    def queue(self, user: User, name: str) -> dict[str, Any]:
        self._require(user, Ask("get", QUEUEING, "clusterqueues", "", name))
        if self.cache.cluster_queues.get(None, name) is None:
            raise NotFound(f"clusterqueue {name} not found")
        rows = self._queues(user, name)
        return {"queues": rows, "cohorts": views.cohorts(rows)}

    # --- GPUs and showback --------------------------------------------------------------

    def gpus(self, user: User) -> dict[str, Any]:
        self._require(user, Ask("list", "", "nodes"))
        self._require(user, Ask("list", "", "pods"))
        return {"gpus": gpus.heatmap(self.cache.nodes.list(), self.cache.pods.list())}

    def showback(self, user: User, now: float, window: str = WINDOW) -> dict[str, Any]:
        self._require(user, Ask("list", SHOWBACK, "usagerecords"))
        key = (window, self.cache.usage_records.resource_version,
               self.cache.pricings.resource_version, int(now // COSTS_FOR))
        out = self._costs.get(key)
        if out is None:
            try:
                out = team_costs(self.cache.usage_records.list(), self.cache.pricings.list(),
                                 now, window=window)
            except WindowError as err:
                raise NotFound(str(err)) from None
            self._costs = {key: out}  # the newest only: one window is what most views ask
        budgets = None  # not shown to who may not list Budgets
        if self.access.allowed(user, Ask("list", SHOWBACK, "budgets")):
            budgets = budget_rows(self.cache.budgets.list(), out["currency"])
        return {"showback": {**out, "budgets": budgets}}

    # --- Live pages --------------------------------------------------------------------

    def visible_changes(self, user: User, want: live.Interest,
                        changes: set[live.Change]) -> list[live.Change]:
        """The changes that alter the page `want` describes and that the user may see
        there (the page's own access questions)."""
        shown = []
        for change in sorted(changes):
            asks = live.asks_for(want, change)
            if asks is not None and all(self.access.allowed(user, a) for a in asks):
                shown.append(change)
        return shown

    # --- Overview ----------------------------------------------------------------------

    def overview(self, user: User) -> dict[str, Any]:
        gpus = None
        if self.access.allowed(user, Ask("list", "", "nodes")) and self.access.allowed(
            user, Ask("list", "", "pods")
        ):
            gpus = views.gpu_totals(self.cache.nodes.list(), self.cache.pods.list())
        apps = views.app_rows(self.visible_apps(user))
        return {"overview": views.overview(apps, self._queues(user), gpus)}
