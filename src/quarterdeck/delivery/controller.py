"""The delivery controller: Sources are fetched, Applications synced, status written.

The shell around ``pipeline.deliver`` and ``status``: one pass (``reconcile_all``)
reads every Source and Application, decides what is due, acts and records. The
operator calls it in a loop; tests call one pass at a time.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from quarterdeck.api import delivery as api
from quarterdeck.api.duration import parse_duration
from quarterdeck.api.meta import find_condition
from quarterdeck.delivery.cluster import Cluster, ClusterError, call_api
from quarterdeck.delivery.dependencies import cycles, levels, waiting_for
from quarterdeck.delivery.guardrail_cache import GuardrailCache
from quarterdeck.delivery.guardrail_findings import findings, warning_event
from quarterdeck.delivery.health_cel import HealthRule, compile_errors
from quarterdeck.delivery.inventory import Owner, entries_of
from quarterdeck.delivery.livecache import LiveCache
from quarterdeck.delivery.manifests import Key, Obj
from quarterdeck.delivery.metrics import DRIFT_OBJECTS, OBJECTS_APPLIED, OBJECTS_PRUNED
from quarterdeck.delivery.pipeline import Target, deliver
from quarterdeck.delivery.plan import Plan
from quarterdeck.delivery.render import Options
from quarterdeck.delivery.schedule import AppMemory, due, retry_delay, source_recovered
from quarterdeck.delivery.source import Credentials, GitSource, SourceError
from quarterdeck.delivery.status import (
    Outcome,
    application_status,
    applying_status,
    blocked_status,
    entries,
    source_status,
    spec_errors,
)
from quarterdeck.delivery.sync import SyncOptions, SyncResult
from quarterdeck.delivery.tenancy import (
    LOCAL_CLUSTERS,
    Policy,
    application_refusal,
    service_account_user,
    source_refusal,
)
from quarterdeck.fleet.destinations import SERVING, Destinations
from quarterdeck.kube.errors import classify
from quarterdeck.kube.events import EventRecorder

#: Set to any new value (`qd sync APP` writes the time) to sync an Application now.
REQUEST_ANNOTATION = "delivery.quarterdeck.dev/requested-at"
SourceRes = create_namespaced_resource(api.GROUP, api.VERSION, "Source", "sources")
ApplicationRes = create_namespaced_resource(api.GROUP, api.VERSION, "Application", "applications")
T = TypeVar("T")
COMPONENT = "quarterdeck-delivery"  # the Events' source


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    ) -> None:
        # tenancy (delivery.tenancy): the operator passes its flags; in-process callers
        # (tests, qd sync) may read local and plain-http repositories
        self.policy = policy or Policy(allow_file_sources=True, allow_http_sources=True)
        self.policy = dataclasses.replace(self.policy, cache_dir=cache_dir)
        self.workers = workers
        self.namespace = namespace  # None watches all namespaces
        self.client = client
        self.direct = Cluster(client)  # uncached reads, for self-heal's fresh look
        self.cluster = Cluster(client)
        self.cache = self.cluster.cache = LiveCache(self.cluster, namespace)
        self.git = GitSource(cache_dir)
        self.clock = clock
        self._fetched: dict[Owner, tuple[float, int]] = {}
        self.apps: dict[Owner, AppMemory] = {}
        self.guardrails = GuardrailCache(client, clock)  # checked before every sync
        self.events = EventRecorder(client, COMPONENT, clock)  # repeats are counted
        self.on_synced: Callable[[Owner, list[Obj]], None] = lambda owner, objs: None
        # fleet: destination.cluster -> that cluster's client and cache (the registry's)
        self.destinations: Destinations = destinations or SERVING

    # --- sources -----------------------------------------------------------------------

    def _credentials(self, namespace: str, ref: Any) -> Credentials | None:
        return read_credentials(self.client, namespace, ref)

    def reconcile_source(self, raw: Obj, force: bool = False) -> api.Source:
        """Fetch a Source when due; write its status. Returns the Source as it now stands."""
        src = api.decode_source(raw)
        owner = Owner(src.metadata.namespace, src.metadata.name)
        now = self.clock()
        last, gen = self._fetched.get(owner, (0.0, -1))
        due = (
            force
            or gen != src.metadata.generation
            or now - last >= parse_duration(src.spec.interval)
        )
        if src.spec.suspend or not due:
            return src
        self._fetched[owner] = (now, src.metadata.generation)
        ref = src.spec.ref
        try:
            if refused := source_refusal(src, self.policy):  # before any Secret is read
                raise SourceError(refused)
            creds = self._credentials(owner.namespace, src.spec.secret_ref)
            rev = self.git.fetch(
                src.spec.url,
                branch=ref.branch,
                tag=ref.tag,
                semver=ref.semver,
                commit=ref.commit,
                credentials=creds,
            )
            artifact = api.Artifact(
                revision=rev.sha,
                ref=rev.ref,
                time=rev.time,
                author=rev.author,
                message=rev.message[:512],
            )
            status = source_status(src.status, artifact, "", src.metadata.generation, rfc3339(now))
        except (SourceError, ClusterError) as err:
            status = source_status(
                src.status, None, str(err), src.metadata.generation, rfc3339(now)
            )
        except Exception as err:  # a Secret lookup failing must not stop the controller
            status = source_status(
                src.status, None, f"secretRef: {err}", src.metadata.generation, rfc3339(now)
            )
        self.write_status(SourceRes, owner, status)
        return msgspec.structs.replace(src, status=status)

    def source_wake(self, owner: Owner, src: api.Source) -> float | None:
        """Seconds until ``src`` is due to be fetched again (None while suspended)."""
        if src.spec.suspend:
            return None
        last, _ = self._fetched.get(owner, (0.0, -1))
        return max(0.0, last + parse_duration(src.spec.interval) - self.clock())

    def forget_source(self, owner: Owner) -> None:
        """The Source is gone: fetch it afresh if it comes back."""
        self._fetched.pop(owner, None)

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
                self._fetched.pop(owner, None)
        apps = {}
        for raw in self.client.list(ApplicationRes, namespace=self.namespace or "*"):
            app = api.decode_application(dict(raw))
            apps[Owner(app.metadata.namespace, app.metadata.name)] = app
        graph = dependency_graph(apps)
        cycle = cycles(graph)  # every member of every cycle, self-loops too
        for level in levels(graph):
            ready = [o for o, a in apps.items() if _ready(a)]

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
        revision = app.spec.revision or src.status.artifact.revision
        now = self.clock()
        requested = app.metadata.annotations.get(REQUEST_ANNOTATION, "")
        when = due(
            memory,
            app,
            revision,
            requested,
            recovered=source_recovered(src.status, app),
            exhausted=_retries_exhausted(app, revision),
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
        memory.requested, memory.attempted = requested, revision
        try:
            app, out = self._deliver(app, src, revision, owner, remote)
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

    def _deliver(
        self,
        app: api.Application,
        src: api.Source,
        revision: str,
        owner: Owner,
        remote: Cluster | None = None,
    ) -> tuple[api.Application, Outcome]:
        """Sync ``app`` at ``revision``; the Application as it stands after the
        in-progress status (if one was written) and what the sync did."""
        try:
            if refused := source_refusal(src, self.policy):
                raise SourceError(refused)
            creds = self._credentials(src.metadata.namespace, src.spec.secret_ref)
        except Exception as err:  # a missing or unreadable Secret fails this sync only
            return app, Outcome(revision=revision, errors=[f"source secretRef: {err}"])
        policies = self.guardrails.current()
        if policies.error:
            return app, Outcome(revision=revision, errors=[policies.error])
        target, opts = delivery_of(app, src, revision, creds)
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
        done = deliver(cluster, self.git, target, owner, inventory, opts, rails, labels)
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
            guardrail_warnings=findings(done.gate) if done.ok else None,
        )


def get_application(client: Client, owner: Owner) -> api.Application | None:
    """The Application as the API server has it now; None when it does not exist."""
    try:
        raw = call_api(lambda: client.get(ApplicationRes, owner.name, namespace=owner.namespace))
    except ClusterError as err:
        if err.code == 404:
            return None
        raise
    return api.decode_application(dict(raw))


def dependency_graph(apps: dict[Owner, api.Application]) -> dict[Owner, list[Owner]]:
    """Each Application's dependsOn as owners."""
    return {
        o: [Owner(d.namespace or o.namespace, d.name) for d in a.spec.depends_on]
        for o, a in apps.items()
    }


def backoff(app: api.Application, failures: int) -> float:
    """Seconds until the retry of ``app`` after ``failures`` failed syncs in a row."""
    spec = app.spec
    return retry_delay(parse_duration(spec.retry.interval), parse_duration(spec.interval), failures)


def describe(err: BaseException) -> str:
    """One line for an error: the typed API error's message (server, cause, hint) when it
    came from talking to the API server (lightkube and httpx2 errors alike), else the
    exception's type and message."""
    typed = classify(err)
    text = str(typed) if typed is not None else f"{type(err).__name__}: {err}"
    return (text.splitlines() or [""])[0][:300]


def read_credentials(client: Client, namespace: str, ref: Any) -> Credentials | None:
    """Git credentials from a Source's secretRef (keys: username, token, identity,
    known_hosts); None without a secretRef."""
    if ref is None:
        return None
    secret = client.get(Secret, ref.name, namespace=ref.namespace or namespace)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    return Credentials(
        username=data.get("username", "git"),
        token=data.get("token", ""),
        identity=data.get("identity", ""),
        known_hosts=data.get("known_hosts", ""),
    )


def delivery_of(
    app: api.Application, src: api.Source, revision: str, credentials: Credentials | None
) -> tuple[Target, SyncOptions]:
    """What to fetch and render, and how to sync it, for an Application at ``revision``."""
    spec = app.spec
    render = Options(
        type=spec.render.type,
        target_namespace=spec.render.target_namespace,
        name_prefix=spec.render.name_prefix,
        allow_remote_bases=spec.render.allow_remote_bases,
    )
    target = Target(
        src.spec.url,
        path=spec.path,
        commit=revision,
        ignore=src.spec.ignore,
        credentials=credentials,
        render=render,
    )
    opts = SyncOptions(
        namespace=spec.render.target_namespace or app.metadata.namespace,
        prune=spec.prune,
        allow_empty=spec.prune_options.allow_empty,
        max_share=spec.prune_options.max_share,
        wait=spec.wait,
        timeout=parse_duration(spec.timeout),
        recreate_on_immutable=spec.recreate_on_immutable,
        health_rules=health_rules(app),
        health_checks=tuple(
            (
                r.api_version,
                Key(
                    r.api_version.rpartition("/")[0],
                    r.kind,
                    r.namespace or app.metadata.namespace,
                    r.name,
                ),
            )
            for r in spec.health_checks
        ),
    )
    return target, opts


def health_rules(app: api.Application) -> tuple[HealthRule, ...]:
    """The Application's CEL health expressions as rules."""
    return tuple(
        HealthRule(e.api_version, e.kind, e.current, e.failed) for e in app.spec.health_expressions
    )


def _retries_exhausted(app: api.Application, revision: str) -> bool:
    status = app.status
    stalled = find_condition(status.conditions, "Stalled") if status else None
    return (
        status is not None
        and stalled is not None
        and stalled.status == "True"
        and stalled.reason == "RetriesExhausted"
        and status.last_attempted_revision == revision
        and status.observed_generation == app.metadata.generation
    )


def _ready(app: api.Application) -> bool:
    cond = find_condition(app.status.conditions, "Ready") if app.status else None
    return cond is not None and cond.status == "True"
