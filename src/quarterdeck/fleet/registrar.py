"""The registry's shell: ManagedClusters kept in step with their sources, each cluster probed.

Two kinds of keys share one work queue. ``REGISTRATIONS`` recomputes the whole set from
the informers (kubeconfig Secrets of the operator's namespace, Cluster API Clusters) with
``registry.decide`` and writes the ManagedClusters (created, relabelled, deleted). A
cluster's name is its probe: connect (a new client only when the kubeconfig changed),
ask for the version and nodes, write the status, come back after ``interval``. Workers
handle keys in parallel, so a cluster that hangs holds one worker for the client's
timeout and no other cluster waits for it.

The registrar is also the process's ``Destinations``: delivery asks it for a cluster by
name and gets one ``delivery.cluster.Cluster`` (client + live cache) per registration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from lightkube import Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from quarterdeck.api import fleet as api
from quarterdeck.delivery.cluster import Cluster, ClusterError, call_api
from quarterdeck.delivery.livecache import LiveCache
from quarterdeck.fleet import registry
from quarterdeck.fleet.destinations import NOT_REGISTERED, UNREACHABLE, Destination
from quarterdeck.fleet.health import cluster_api_ready
from quarterdeck.fleet.kubeconfig import KubeconfigError, Parsed, client_for, parse
from quarterdeck.fleet.probe import probe
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import Informer, SharedInformers
from quarterdeck.kube.workqueue import WorkQueue, run_workers

FIELD_MANAGER = "quarterdeck-fleet"
REGISTRATIONS = "@registrations"
#: Seconds after a cluster answers again during which every probe asks its Applications
#: that are not Ready to sync now (``returning``), however often they failed meanwhile.
SETTLE = 60.0
CAPI_GROUP, CAPI_VERSION = "cluster.x-k8s.io", "v1beta2"
CAPI_CRD = "clusters.cluster.x-k8s.io"
ManagedClusterRes = create_global_resource(
    api.GROUP, api.VERSION, "ManagedCluster", "managedclusters"
)
CapiClusterRes = create_namespaced_resource(CAPI_GROUP, CAPI_VERSION, "Cluster", "clusters")
log = structlog.get_logger("quarterdeck.fleet")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Connection:
    """The live side of one registration. ``cluster`` is made on delivery's first ask."""

    parsed: Parsed
    client: Client
    reachable: bool = False
    reason: str = "NotContacted"
    message: str = "not contacted yet"
    cluster: Cluster | None = None
    cache: LiveCache | None = None
    back_since: float = float("-inf")  # when it last turned reachable

    def close(self) -> None:
        """Stop the live cache; the client's connections are left to close when the last
        request using them ends. Closing the pool here closed sockets that other threads
        (syncs, self-heal, probes) were still reading: their file descriptors were freed
        and reused by new connections to the management cluster, whose TLS streams the
        old readers then corrupted ("bad record mac", "wrong version number" in CI)."""
        if self.cache is not None:
            self.cache.stop.set()


@dataclass
class Known:
    """What the registrar holds per registered name."""

    registration: registry.Registration
    problem: tuple[str, str] | None = None
    connection: Connection | None = None
    status: api.ManagedClusterStatus | None = None


class Registrar:
    """See the module docstring. ``on_change(name)`` is called when a cluster's
    registration or reachability changes (ClusterSets and delivery wake on it)."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        informers: SharedInformers,
        clock: Callable[[], float] = time.time,
        interval: float = 10.0,
        workers: int = 8,
        allow_exec_plugins: bool = False,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.informers = informers
        self.clock = clock
        self.interval = interval
        self.workers = workers
        self.allow_exec_plugins = allow_exec_plugins
        self.stop = threading.Event()
        self.queue: WorkQueue[str] = WorkQueue("fleet-registry")
        self.events = EventRecorder(client, FIELD_MANAGER, clock)
        self.secrets = informers.informer(Secret, namespace=namespace)
        self.managed = informers.informer(ManagedClusterRes)
        self.capi: Informer | None = None
        self.known: dict[str, Known] = {}
        self.refused: list[str] = []
        self._last_kubeconfigs: dict[tuple[str, str], Any] = {}
        self.listeners: list[Callable[[str], None]] = []
        self.returned: list[Callable[[str], None]] = []  # a cluster answers again
        self._lock = threading.Lock()
        self.secrets.add_handler(self._wake)

    # --- wake-ups ------------------------------------------------------------------------

    def _wake(self, event: str, obj: dict[str, Any]) -> None:
        self.queue.add(REGISTRATIONS)

    def _changed(self, name: str, listeners: list[Callable[[str], None]] | None = None) -> None:
        for listener in list(self.listeners if listeners is None else listeners):
            try:
                listener(name)
            except Exception as err:
                log.error("fleet listener failed", cluster=name, error=str(err))

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        for informer in (self.secrets, self.managed):  # its own: others' may never sync
            informer.wait_synced(timeout=60.0)
        self.queue.add(REGISTRATIONS)
        stopper = threading.Thread(target=self._shutdown_on_stop, daemon=True)
        stopper.start()
        try:
            run_workers(self.queue, self.handle, self.workers, self.stop)
        finally:
            with self._lock:
                for known in self.known.values():
                    if known.connection is not None:
                        known.connection.close()

    def _shutdown_on_stop(self) -> None:
        self.stop.wait()
        self.queue.shutdown()

    def handle(self, key: str) -> None:
        if key == REGISTRATIONS:
            self.reconcile_registrations()
        else:
            self.reconcile_cluster(key)
        if not self.stop.is_set():
            self.queue.add_after(key, self.interval)

    # --- registrations -------------------------------------------------------------------

    def _capi_informer(self) -> Informer | None:
        """The Cluster API Cluster informer, made once its CRD is served. A failed read
        (not a 404) raises: taken for "no Cluster API" it would unregister its clusters."""
        if self.capi is None:
            try:
                call_api(lambda: self.client.get(CustomResourceDefinition, CAPI_CRD))
            except ClusterError as err:
                if err.code == 404:
                    return None
                raise
            self.capi = self.informers.informer(CapiClusterRes)
            self.capi.add_handler(self._wake)
            self.capi.wait_synced(timeout=30.0)
        if not self.capi.has_synced():  # an empty list now would unregister every one
            raise RuntimeError("Cluster API Clusters not listed yet")
        return self.capi

    def _kubeconfig_secrets(self, clusters: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        """The ``<name>-kubeconfig`` Secret of each Ready Cluster. A read that fails for
        any reason but 404 (a timeout on a loaded API server) keeps the Secret last
        read: a hiccup must not unregister a cluster and hold its Applications."""
        found: dict[tuple[str, str], Any] = {}
        for cluster in clusters:
            if not cluster_api_ready(cluster):
                continue
            namespace = str((cluster.get("metadata") or {}).get("namespace", ""))
            key = (namespace, registry.kubeconfig_secret_name(cluster))
            try:
                secret = self._get_secret(*key)
            except Exception as err:
                log.warning("cannot read kubeconfig Secret", secret="/".join(key), error=str(err))
                secret = self._last_kubeconfigs.get(key)
            if secret is not None:
                found[key] = secret
        self._last_kubeconfigs = found
        return found

    def _get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret, or None when it does not exist; raises on any other failure."""
        try:
            secret = call_api(lambda: self.client.get(Secret, name, namespace=namespace))
        except ClusterError as err:
            if err.code == 404:
                return None
            raise
        return secret.to_dict()

    def reconcile_registrations(self) -> None:
        if not (self.secrets.has_synced() and self.managed.has_synced()):
            raise RuntimeError("kubeconfig Secrets or ManagedClusters not listed yet")
        secrets = self.secrets.list()
        capi = self._capi_informer()
        clusters = capi.list() if capi is not None else []
        decided = registry.decide(secrets, clusters, self._kubeconfig_secrets(clusters))
        for line in decided.refused:
            if line not in self.refused:
                log.warning("cluster registration refused", reason=line)
        self.refused = decided.refused
        wanted = {r.name: r for r in decided.registrations}
        for reg in decided.registrations:
            self._register(reg)
        for raw in self.managed.list():
            name = str((raw.get("metadata") or {}).get("name", ""))
            if name and name not in wanted:
                self._unregister(name)
        with self._lock:
            gone = [n for n in self.known if n not in wanted]
        for name in gone:
            self._unregister(name)

    def _register(self, reg: registry.Registration) -> None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self._lock:
            known = self.known.get(reg.name)
            is_new = known is None
            if known is None:
                known = self.known[reg.name] = Known(reg)
            known.registration = reg
            problem = reg.problem
            parsed: Parsed | None = None
            if problem is None:
                try:
                    parsed = parse(reg.kubeconfig, now, self.allow_exec_plugins)
                except KubeconfigError as err:
                    problem = (err.reason, str(err))
            conn = known.connection
            if parsed is None or (
                conn is not None and conn.parsed.fingerprint != parsed.fingerprint
            ):
                if conn is not None:
                    conn.close()
                known.connection = conn = None
            if parsed is not None and conn is None:
                try:
                    known.connection = Connection(
                        parsed, client_for(parsed, "quarterdeck-delivery")
                    )
                except KubeconfigError as err:
                    problem = (err.reason, str(err))
            known.problem = problem
            server = parsed.server if parsed is not None else ""
        self._write_cluster(reg, server)
        if is_new:
            log.info(
                "cluster registered",
                cluster=reg.name,
                source=f"{reg.source.kind} {reg.source.namespace}/{reg.source.name}",
            )
            self._changed(reg.name)
        self.queue.add(reg.name)

    def _write_cluster(self, reg: registry.Registration, server: str) -> None:
        """Server-side apply of the ManagedCluster's labels and spec (unchanged: no call)."""
        live = self.managed.get(None, reg.name)
        spec = api.ManagedClusterSpec(source=reg.source, server=server)
        want_spec = msgspec.to_builtins(spec)
        if (
            live is not None
            and (live.get("metadata") or {}).get("labels", {}) == reg.labels
            and live.get("spec") == want_spec
        ):
            return
        body = {
            "apiVersion": api.API_VERSION,
            "kind": "ManagedCluster",
            "metadata": {"name": reg.name, "labels": reg.labels},
            "spec": want_spec,
        }
        call_api(
            lambda: self.client.patch(
                ManagedClusterRes,
                reg.name,
                body,
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        )

    def _unregister(self, name: str) -> None:
        with self._lock:
            known = self.known.pop(name, None)
        if known is not None and known.connection is not None:
            known.connection.close()
        try:
            call_api(lambda: self.client.delete(ManagedClusterRes, name))
        except ClusterError as err:
            if err.code != 404:
                raise
        log.info("cluster unregistered", cluster=name)
        self._changed(name)

    # --- probes --------------------------------------------------------------------------

    def reconcile_cluster(self, name: str) -> None:
        with self._lock:
            known = self.known.get(name)
        if known is None:
            return
        conn = known.connection
        found = probe(conn.client) if conn is not None and known.problem is None else None
        with self._lock:
            servers = {n: k.connection.parsed.server for n, k in self.known.items() if k.connection}
        duplicates = registry.same_servers(servers).get(name, [])
        status = registry.cluster_status(
            known.status, known.problem, found, duplicates, rfc3339(self.clock())
        )
        was = conn.reachable if conn is not None else False
        if conn is not None:
            ready = next(c for c in status.conditions if c.type == "Ready")
            conn.reachable, conn.reason, conn.message = (
                status.reachable,
                ready.reason,
                ready.message,
            )
        if status != known.status:
            self._write_status(name, status)
            known.status = status
        if conn is not None and conn.reachable != was:
            log.info(
                "cluster reachability changed",
                cluster=name,
                reachable=conn.reachable,
                reason=conn.reason,
            )
            self._changed(name)
            if conn.reachable:
                conn.back_since = self.clock()
        if conn is not None and conn.reachable and self.clock() - conn.back_since <= SETTLE:
            # a server that was stopped answers before it serves well (its caches
            # re-list); syncs failed meanwhile are not their Applications' fault
            self._changed(name, self.returned)

    def _write_status(self, name: str, status: api.ManagedClusterStatus) -> None:
        body: dict[str, Any] = msgspec.to_builtins(status)
        for f in msgspec.structs.fields(status):
            body.setdefault(f.encode_name, msgspec.to_builtins(getattr(status, f.name)))
        try:
            call_api(
                lambda: self.client.patch(
                    ManagedClusterRes.Status, name, {"status": body}, patch_type=PatchType.MERGE
                )
            )
        except ClusterError as err:
            if err.code != 404:  # unregistered meanwhile
                raise

    # --- Destinations --------------------------------------------------------------------

    def destination(self, name: str) -> Destination:
        """Delivery's Cluster for ``name``, or why it cannot be used now."""
        with self._lock:
            known = self.known.get(name)
            if known is None:
                return Destination(
                    None, NOT_REGISTERED, f"destination cluster {name!r} is not registered (yet)"
                )
            conn = known.connection
            if known.problem is not None or conn is None:
                reason, message = known.problem or ("NotConnected", "no client")
                return Destination(None, UNREACHABLE, f"cluster {name}: {reason}: {message}")
            if not conn.reachable:
                return Destination(
                    None, UNREACHABLE, f"cluster {name}: {conn.reason}: {conn.message}"
                )
            if conn.cluster is None:
                conn.cluster = Cluster(conn.client)
                conn.cache = conn.cluster.cache = LiveCache(conn.cluster, None)
            return Destination(conn.cluster)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self.known)
