"""The delivery controller: Sources are fetched, Applications synced, status written.

The shell around ``pipeline.deliver`` and ``status``: one pass (``reconcile_all``)
reads every Source and Application, decides what is due, acts and records. The
operator calls it in a loop; tests call one pass at a time. Fetching Sources is
``source_fetch``; what a spec means for a sync is ``application_spec``; our kinds
and their reads are ``resources``.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from lightkube import Client
from lightkube.types import PatchType

from quarterdeck.api import delivery as api
from quarterdeck.api.duration import parse_duration
from quarterdeck.api.project import Project
from quarterdeck.delivery import manifests
from quarterdeck.delivery.application_spec import (
    backoff,
    delivery_of,
    dependency_graph,
    health_rules,
    is_ready,
    retries_exhausted,
)
from quarterdeck.delivery.cluster import Cluster, call_api
from quarterdeck.delivery.dependencies import cycles, levels, waiting_for
from quarterdeck.delivery.guardrail_cache import GuardrailCache
from quarterdeck.delivery.guardrail_findings import findings, warning_event
from quarterdeck.delivery.health_cel import compile_errors
from quarterdeck.delivery.hookrun import statuses
from quarterdeck.delivery.inventory import Owner, entries_of
from quarterdeck.delivery.livecache import LiveCache
from quarterdeck.delivery.manifests import Obj
from quarterdeck.delivery.metrics import DRIFT_OBJECTS, OBJECTS_APPLIED, OBJECTS_PRUNED
from quarterdeck.delivery.parse_worker import ParsePool
from quarterdeck.delivery.pipeline import Bounds, deliver
from quarterdeck.delivery.plan import Plan
from quarterdeck.delivery.project import source_refusal as project_source_refusal
from quarterdeck.delivery.project_cache import ProjectCache
from quarterdeck.delivery.render import Limits
from quarterdeck.delivery.resources import (
    REQUEST_ANNOTATION,
    ApplicationRes,
    SourceRes,
    describe,
    get_application,
    read_credentials,
    rfc3339,
)
from quarterdeck.delivery.schedule import AppMemory, due, source_recovered
from quarterdeck.delivery.source import GitSource, SourceError
from quarterdeck.delivery.source_fetch import SourceFetcher
from quarterdeck.delivery.status import (
    PROJECT_REFUSED,
    PROJECTS_UNAVAILABLE,
    Outcome,
    application_status,
    applying_status,
    blocked_status,
    entries,
    spec_errors,
)
from quarterdeck.delivery.sync import SyncResult
from quarterdeck.delivery.tenancy import (
    LOCAL_CLUSTERS,
    Policy,
    application_refusal,
    service_account_user,
    source_refusal,
)
from quarterdeck.fleet.destinations import SERVING, Destinations
from quarterdeck.kube.events import EventRecorder
from quarterdeck.policy.pss.exemptions import DEFAULT, PodSecurityConfig

# the names callers (runner, CLI, tests) import from here
__all__ = [
    "REQUEST_ANNOTATION",
    "ApplicationRes",
    "Controller",
    "SourceRes",
    "delivery_of",
    "describe",
    "get_application",
    "read_credentials",
    "rfc3339",
]
T = TypeVar("T")
COMPONENT = "quarterdeck-delivery"  # the Events' source


class Controller:
    """Reconciles delivery Sources and Applications in one cluster."""

    def __init__(
        self,
        client: Client,
        cache_dir: Path,
        clock: Callable[[], float] = time.time,
        namespace: str | None = None,
        workers: int = 16,
        policy: Policy | None = None,
        destinations: Destinations | None = None,
        pod_security: PodSecurityConfig | None = None,
    ) -> None:
        # tenancy (delivery.tenancy): locked down unless the caller enables more (the
        # operator passes its flags; tests pass LOCAL_REPOSITORIES)
        self.policy = policy or Policy()
        self.policy = dataclasses.replace(self.policy, cache_dir=cache_dir)
        if self.policy.isolated_parsing:  # a hostile YAML commit cannot take our memory
            pool = ParsePool(max_memory=self.policy.parse_memory, timeout=self.policy.parse_timeout)
            manifests.isolate(pool)
        self.workers = workers
        self.namespace = namespace  # None watches all namespaces
        self.client = client
        self.direct = Cluster(client)  # uncached reads, for self-heal's fresh look
        self.cluster = Cluster(client)
        self.cache = self.cluster.cache = LiveCache(self.cluster, namespace)
        self.git = GitSource(cache_dir)
        self.clock = clock
        self.sources = SourceFetcher(client, self.git, self.policy, self.write_status, clock)
        self.apps: dict[Owner, AppMemory] = {}
        self.guardrails = GuardrailCache(client, clock)  # checked before every sync
        # guardrails: this API server's PodSecurity configuration (`qd operator --admission-config`)
        self.pod_security = pod_security or DEFAULT
        self.projects = ProjectCache(client, clock)  # bound every sync (delivery.project)
        self.events = EventRecorder(client, COMPONENT, clock)  # repeats are counted
        self.on_synced: Callable[[Owner, list[Obj]], None] = lambda owner, objs: None
        # fleet: destination.cluster -> that cluster's client and cache (the registry's)
        self.destinations: Destinations = destinations or SERVING

    # --- sources -----------------------------------------------------------------------

    def reconcile_source(self, raw: Obj, force: bool = False) -> api.Source:
        """Fetch a Source when due; write its status. Returns the Source as it now stands."""
        return self.sources.reconcile_source(raw, force)

    def source_wake(self, owner: Owner, src: api.Source) -> float | None:
        """Seconds until ``src`` is due to be fetched again (None while suspended)."""
        return self.sources.source_wake(owner, src)

    def forget_source(self, owner: Owner) -> None:
        """The Source is gone: fetch it afresh if it comes back."""
        self.sources.forget_source(owner)

    # --- applications ------------------------------------------------------------------

    def event(self, app: api.Application, type_: str, reason: str, message: str) -> None:
        """Record a Kubernetes Event on the Application (repeats are counted)."""
        meta = app.metadata
        regarding = {
            "apiVersion": api.API_VERSION,
            "kind": "Application",
            "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid},
        }
        self.events.event(regarding, type_, reason, message)

    def write_status(self, res: Any, owner: Owner, value: msgspec.Struct) -> None:
        """Merge-patch the status subresource with every field of ``value``.

        Empty lists and unset fields are sent explicitly (``[]``, ``null``); omitting
        them would leave the old values in place under a merge patch.
        """
        status: dict[str, Any] = msgspec.to_builtins(value)
        for f in msgspec.structs.fields(value):
            status.setdefault(f.encode_name, msgspec.to_builtins(getattr(value, f.name)))
        out = call_api(
            lambda: self.client.patch(
                res.Status,
                owner.name,
                {"status": status},
                namespace=owner.namespace,
                patch_type=PatchType.MERGE,
            )
        )
        memory = self.apps.get(owner) if res is ApplicationRes else None
        if memory is not None:  # lets a reader of a cache tell whether it has our write
            memory.written = str((dict(out).get("metadata") or {}).get("resourceVersion", ""))

    def reconcile_all(self, force: bool = False) -> dict[Owner, api.Application]:
        """One pass over every Source and Application; returns the Applications as written.

        An error in one Source or Application (it was deleted meanwhile, its namespace
        is terminating, the API server timed out) is reported and counts as a failed
        attempt of that one; the others are reconciled as usual.
        """
        sources = {}
        for raw in self.client.list(SourceRes, namespace=self.namespace or "*"):
            src = api.decode_source(dict(raw))
            owner = Owner(src.metadata.namespace, src.metadata.name)
            fetch = functools.partial(self.reconcile_source, dict(raw), force)
            sources[owner] = self._isolated(owner, fetch, src)
            if sources[owner] is src:  # failed: fetch again on the next pass
                self.sources.forget_source(owner)
        apps = {}
        for raw in self.client.list(ApplicationRes, namespace=self.namespace or "*"):
            app = api.decode_application(dict(raw))
            apps[Owner(app.metadata.namespace, app.metadata.name)] = app
        graph = dependency_graph(apps)
        cycle = cycles(graph)  # every member of every cycle, self-loops too
        for level in levels(graph):
            ready = [o for o, a in apps.items() if is_ready(a)]

            def one(owner: Owner, ready: list[Owner] = ready) -> api.Application:
                app = apps[owner]
                if owner in cycle:
                    path = " -> ".join(o.name for o in cycle[owner])
                    return self.block(
                        app, "DependencyCycle", f"dependsOn cycle: {path}", stalled=True
                    )
                return self.reconcile_application(app, sources, graph, ready, force)

            def guarded(owner: Owner) -> api.Application:
                return self._isolated(owner, lambda: one(owner), apps[owner])

            with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(level)))) as pool:
                for owner, app in zip(level, pool.map(guarded, level), strict=True):
                    apps[owner] = app
        return apps

    def _isolated(self, owner: Owner, fn: Callable[[], T], fallback: T) -> T:
        """``fn()``, or ``fallback`` when it raised: the error is reported, and the
        Application's own bookkeeping (``reconcile_application``) has already counted
        it as a failed attempt, so it is retried with backoff like any failed sync."""
        try:
            return fn()
        except Exception as err:
            self.log(f"reconcile {owner} failed: {describe(err)}")
            return fallback

    def log(self, message: str) -> None:
        print(f"delivery: {message}", file=sys.stderr, flush=True)

    def block(
        self, app: api.Application, reason: str, message: str, stalled: bool = False
    ) -> api.Application:
        """Record why ``app`` is not synced; no write when its status says so already
        (a blocked Application is looked at often and must not cost a call each time)."""
        owner = Owner(app.metadata.namespace, app.metadata.name)
        status = blocked_status(app, reason, message, rfc3339(self.clock()), stalled=stalled)
        if status == app.status:
            return app
        self.write_status(ApplicationRes, owner, status)
        return msgspec.structs.replace(app, status=status)

    def reconcile_application(
        self,
        app: api.Application,
        sources: dict[Owner, api.Source],
        graph: dict[Owner, list[Owner]],
        ready: list[Owner],
        force: bool = False,
        fresh: Callable[[Owner], api.Application | None] | None = None,
    ) -> api.Application:
        """Sync one Application if it is due and unblocked; write its status.

        Sets ``self.apps[owner].wake`` to the seconds after which it should be looked
        at again (its interval, or its retry backoff after a failure). ``fresh`` re-reads
        a due Application from the API server, so a sync never starts from a cached
        status that lags our own last write (its inventory and history).
        """
        owner = Owner(app.metadata.namespace, app.metadata.name)
        memory = self.apps.setdefault(owner, AppMemory())
        memory.wake = parse_duration(app.spec.interval) if not spec_errors(app) else 0.0
        if app.spec.suspend:
            return app
        errors = spec_errors(app) + compile_errors(health_rules(app))
        if errors:
            return self.block(app, "InvalidSpec", "; ".join(errors), stalled=True)
        remote: Cluster | None = None  # fleet: a registered cluster, or wait for it
        if app.spec.destination.cluster not in LOCAL_CLUSTERS:
            found = self.destinations.destination(app.spec.destination.cluster)
            if found.cluster is None:
                memory.attempted = ""  # sync at once when the cluster is back
                return self.block(app, found.reason, found.message)
            remote = found.cluster
        if refused := application_refusal(app, self.policy, served=remote is not None):
            return self.block(app, "Refused", refused, stalled=True)
        waiting = waiting_for(owner, graph, ready)
        if waiting:
            names = ", ".join(str(w) for w in waiting)
            return self.block(app, "DependencyNotReady", f"waiting for {names}")
        ref = app.spec.source_ref
        src = sources.get(Owner(ref.namespace or owner.namespace, ref.name))
        if src is None or src.status is None or src.status.artifact is None:
            return self.block(app, "SourceNotReady", f"source {ref.name} has no revision yet")
        view = self.projects.current()
        if view.error:  # the API server could not say: wait and look again, refuse nothing
            return self.block(app, PROJECTS_UNAVAILABLE, view.error)
        project, refused = view.lookup(owner.namespace, app.spec.project)
        if project is not None:
            refused = project_source_refusal(project, src.spec.url)
        if project is None or refused:  # not stalled: a Project change may lift it
            return self.refuse(app, refused)
        revision = app.spec.revision or src.status.artifact.revision
        now = self.clock()
        requested = app.metadata.annotations.get(REQUEST_ANNOTATION, "")
        when = due(
            memory,
            app,
            revision,
            requested,
            recovered=source_recovered(src.status, app),
            exhausted=retries_exhausted(app, revision),
            now=now,
            force=force,
        )
        if not when.now:
            memory.wake = when.after
            return app
        if fresh is not None:
            latest = fresh(owner)
            if latest is None:  # deleted meanwhile
                return app
            app = latest
        memory.last_sync, memory.generation = now, app.metadata.generation
        memory.requested, memory.attempted, memory.why = requested, revision, when.why
        try:
            app, out = self._deliver(app, src, revision, owner, project, remote)
            status = application_status(app, out, rfc3339(self.clock()))
            self.write_status(ApplicationRes, owner, status)
        except Exception:  # an API error or timeout mid-sync: a failed attempt
            memory.failures += 1
            memory.wake = backoff(app, memory.failures)
            raise
        if out.errors:
            memory.failures += 1
            memory.wake = backoff(app, memory.failures)
        else:
            memory.revision, memory.failures = revision, 0
            memory.wake = parse_duration(app.spec.interval)
        changed = out.created + out.configured + out.pruned
        if out.errors:
            reason = "GuardrailDenied" if out.denied else "SyncFailed"
            reason = PROJECT_REFUSED if out.refused else reason
            self.event(app, "Warning", reason, "; ".join(out.errors))
        elif changed:
            self.event(
                app,
                "Normal",
                "Synced",
                f"revision {out.revision[:12]}: "
                f"{out.created} created, {out.configured} configured, "
                f"{out.pruned} pruned",
            )
        if note := warning_event(app.status, status):
            self.event(app, "Warning", "GuardrailWarning", note)
        return msgspec.structs.replace(app, status=status)

    def refuse(self, app: api.Application, message: str) -> api.Application:
        """Block ``app`` because its Project refuses it; an Event when that is news."""
        blocked = self.block(app, PROJECT_REFUSED, message)
        if blocked is not app:
            self.event(app, "Warning", PROJECT_REFUSED, message)
        return blocked

    def _deliver(
        self,
        app: api.Application,
        src: api.Source,
        revision: str,
        owner: Owner,
        project: Project,
        remote: Cluster | None = None,
    ) -> tuple[api.Application, Outcome]:
        """Sync ``app`` at ``revision``; the Application as it stands after the
        in-progress status (if one was written) and what the sync did."""
        try:
            if refused := source_refusal(src, self.policy):
                raise SourceError(refused)
            creds = self.sources.credentials(src.metadata.namespace, src.spec.secret_ref)
        except Exception as err:  # a missing or unreadable Secret fails this sync only
            return app, Outcome(revision=revision, errors=[f"source secretRef: {err}"])
        policies = self.guardrails.current()
        if policies.error:
            return app, Outcome(revision=revision, errors=[policies.error])
        limits = Limits(timeout=self.policy.render_timeout)  # `qd operator --render-timeout`
        target, opts = delivery_of(app, src, revision, creds, limits)
        inventory = entries(app.status.inventory if app.status else [])
        current = [app]

        def before_changes(p: Plan, result: SyncResult) -> None:
            if not (
                p.prunes
                or result.drift
                or result.recreated
                or any(a.kind == "create" for a in p.applies)
            ):
                return  # nothing will change: Ready stays as it is
            planned = entries_of(a.obj for a in p.applies)
            status = applying_status(app, revision, [*inventory, *planned], rfc3339(self.clock()))
            self.write_status(ApplicationRes, owner, status)  # raises: nothing applied yet
            current[0] = msgspec.structs.replace(app, status=status)

        opts = dataclasses.replace(opts, before_changes=before_changes)
        rails, labels = policies.guardrails, policies.namespaces
        user = service_account_user(app, self.policy)  # tenancy: impersonate, if set
        base = remote or self.cluster  # fleet: the destination cluster's own client + cache
        cluster = base.impersonating(user) if user else base
        bounds = Bounds(project, app.spec.destination.cluster)
        done = deliver(cluster, self.git, target, owner, inventory, opts, rails, labels, bounds,
                       DEFAULT if remote else self.pod_security, user or None)  # guardrails
        result = done.result
        OBJECTS_APPLIED.labels(str(owner)).inc(len(result.created) + len(result.configured))
        OBJECTS_PRUNED.labels(str(owner)).inc(len(result.pruned))
        DRIFT_OBJECTS.labels(str(owner)).set(len(result.drift))
        if done.ok:
            self.apps[owner].desired = done.desired
            if remote is None:  # self-heal watches the local cluster only
                self.on_synced(owner, done.desired)
        return current[0], Outcome(
            revision=done.revision.sha if done.revision else revision,
            errors=result.errors,
            created=len(result.created),
            configured=len(result.configured),
            unchanged=len(result.unchanged),
            pruned=len(result.pruned),
            inventory=result.inventory,
            versions={e.key: e.api_version for e in result.inventory},
            health=result.health,
            drift=result.drift,
            overall=result.overall,
            denied=done.gate.blocked,
            refused=done.refusal is not None,
            guardrail_warnings=findings(done.gate) if done.ok else None,
            hooks=statuses(result.hooks),
        )
