"""The delivery engine's access to one API server: kinds, get, server-side apply, delete.

Every object travels as a plain dict through lightkube generic resources, so no
field is lost to a typed model of another Kubernetes version. Kinds are found in
lightkube's built-in table and in CRDs (installed, or about to be in the same
render); an unknown kind is a clear error before anything changes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from lightkube import ApiError, Client
from lightkube.core import resource as res
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericNamespacedResource,
    create_api_info,
)
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from quarterdeck.delivery.manifests import Key, Obj, group_of

FIELD_MANAGER = "quarterdeck-delivery"
LIST_THRESHOLD = 3
T = TypeVar("T")


class UnknownKind(LookupError):
    """No built-in resource or CRD serves this apiVersion and kind."""


class ClusterError(Exception):
    """An API call failed; ``code`` is the HTTP status, the message the server's reason."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def call_api(fn: Callable[[], T]) -> T:
    """Run one API call, turning lightkube's and httpx's errors into ClusterError."""
    try:
        return fn()
    except ApiError as err:
        raise ClusterError(error_message(err), int(err.status.code or 0)) from None
    except Exception as err:
        response = getattr(err, "response", None)
        code = getattr(response, "status_code", None)
        if code is None:
            raise
        raise ClusterError(f"HTTP {code}: {getattr(response, 'text', '')[:200]}", code) from None


@dataclass(frozen=True)
class Kind:
    """What the API server needs to address objects of one kind."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool


class Cache(Protocol):
    """Where reads may be answered without an API call (see ``livecache``)."""

    def lookup(self, api_version: str, key: Key) -> tuple[bool, Obj | None]: ...


def _generic(kind: Kind) -> type[Any]:
    """A lightkube resource class that carries objects as plain dicts."""
    group, _, version = kind.api_version.rpartition("/")
    base = GenericNamespacedResource if kind.namespaced else GenericGlobalResource
    info = create_api_info(group, version, kind.kind, kind.plural)
    return type(kind.kind, (base,), {"_api_info": info})


def crd_kinds(crd: Obj) -> list[Kind]:
    """The kinds (one per served version) a CRD object defines."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    return [
        Kind(
            f"{spec['group']}/{v['name']}",
            names["kind"],
            names["plural"],
            spec.get("scope") == "Namespaced",
        )
        for v in spec.get("versions") or []
        if v.get("served", True)
    ]


def error_message(err: ApiError) -> str:
    """The API server's reason, without the HTTP plumbing."""
    status = err.status
    return str(getattr(status, "message", None) or err)


class Cluster:
    """Delivery's view of one cluster through a lightkube Client."""

    def __init__(self, client: Client, cache: Cache | None = None) -> None:
        self.client = client
        self.cache = cache  # answers get_many for the kinds it holds
        self._kinds: dict[tuple[str, str], Kind] = {}
        self._classes: dict[tuple[str, str], type[Any]] = {}
        self._as: dict[str, Cluster] = {}  # impersonated views, by user
        self._base: Cluster = self  # where discovery (CRD lists) is done

    def impersonating(self, user: str) -> Cluster:
        """This cluster as ``user`` (``Impersonate-User``, as Flux's kustomize-controller
        does for a ServiceAccount): every apply, dry-run, prune and uncached read is
        checked against that user's RBAC. Discovery and the live cache stay the
        operator's. One view per user, reused; all share the operator's connection
        pool (``impersonated_client``)."""
        base = self._base
        found = base._as.get(user)
        if found is None:
            found = Cluster(impersonated_client(base.client, user), base.cache)
            found._kinds, found._classes, found._base = base._kinds, base._classes, base
            base._as[user] = found
        found.cache = base.cache
        return found

    def learn_crds(self, crds: Iterable[Obj] = (), *, installed: bool = True) -> None:
        """Index the kinds of ``crds`` (about to be applied) and, unless told not to, of
        the CRDs installed in the cluster."""
        if self._base is not self:  # discovery is the operator's, not the tenant's
            self._base.learn_crds(crds, installed=installed)
            return
        found = (
            [c.to_dict() for c in self.client.list(CustomResourceDefinition)] if installed else []
        )
        for crd in [*found, *crds]:
            for kind in crd_kinds(crd):
                self._kinds[(kind.api_version, kind.kind)] = kind

    def kind(self, api_version: str, kind: str, _retry: bool = True) -> Kind:
        """How to address ``kind``; raises UnknownKind."""
        found = self._kinds.get((api_version, kind))
        if found is not None:
            return found
        try:
            cls = resource_registry.load(api_version, kind)
        except Exception:  # lightkube raises LoadResourceError or ImportError
            if not _retry:
                raise UnknownKind(
                    f"unknown kind {kind} in {api_version} "
                    "(is its CustomResourceDefinition installed?)"
                ) from None
            self.learn_crds()  # a CRD installed since we last looked
            return self.kind(api_version, kind, _retry=False)
        info = res.api_info(cls)
        found = Kind(api_version, kind, info.plural, issubclass(cls, res.NamespacedResource))
        self._kinds[(api_version, kind)] = found
        return found

    def resource(self, api_version: str, kind: str) -> type[Any]:
        cls = self._classes.get((api_version, kind))
        if cls is None:
            cls = self._classes[(api_version, kind)] = _generic(self.kind(api_version, kind))
        return cls

    def get(self, api_version: str, key: Key) -> Obj | None:
        """The live object, or None when it does not exist."""
        cls = self.resource(api_version, key.kind)
        try:
            obj = call_api(lambda: self.client.get(cls, key.name, namespace=key.namespace or None))
        except ClusterError as err:
            if err.code == 404:
                return None
            raise
        return dict(obj)

    def list_objects(self, api_version: str, kind: str, namespace: str) -> list[Obj]:
        """All objects of a kind in a namespace ("" for cluster-scoped kinds or all)."""
        cls = self.resource(api_version, kind)
        items = call_api(lambda: list(self.client.list(cls, namespace=namespace or None)))
        return [dict(i) for i in items]

    def get_many(
        self, wanted: Iterable[tuple[str, Key]], concurrency: int = 8
    ) -> tuple[dict[Key, Obj], list[str]]:
        """Live objects for many keys; missing ones are absent from the result.

        Keys the cache holds cost no call. The others are grouped by kind and namespace:
        a group of more than a few keys is read with one LIST instead of one GET per
        object, which keeps large syncs cheap.
        """
        groups: dict[tuple[str, str, str], list[Key]] = {}
        live: dict[Key, Obj] = {}
        for api_version, key in wanted:
            cached, obj = self.cache.lookup(api_version, key) if self.cache else (False, None)
            if not cached:
                groups.setdefault((api_version, key.kind, key.namespace), []).append(key)
            elif obj is not None:
                live[key] = obj

        def read(group: tuple[tuple[str, str, str], list[Key]]) -> tuple[dict[Key, Obj], str]:
            (api_version, kind, namespace), keys = group
            try:
                if len(keys) <= LIST_THRESHOLD:
                    found = {k: self.get(api_version, k) for k in keys}
                    return {k: o for k, o in found.items() if o is not None}, ""
                names = {k.name: k for k in keys}
                listed = self.list_objects(api_version, kind, namespace)
                return {
                    names[o["metadata"]["name"]]: o
                    for o in listed
                    if o["metadata"]["name"] in names
                }, ""
            except (ClusterError, UnknownKind) as err:
                if isinstance(err, ClusterError) and err.code == 404:
                    return {}, ""  # the kind itself is not served yet (CRD not applied)
                return {}, f"{kind} in {namespace or 'cluster'}: {err}"

        errors: list[str] = []
        items = list(groups.items())
        if not items:
            return live, errors
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items) or 1))) as pool:
            for found, err in pool.map(read, items):
                live.update(found)
                if err:
                    errors.append(err)
        return live, errors

    def apply(self, obj: Obj, *, dry_run: bool = False, force: bool = True) -> Obj:
        """Server-side apply of ``obj`` as ``quarterdeck-delivery``; the resulting object."""
        meta = obj["metadata"]
        cls = self.resource(obj["apiVersion"], obj["kind"])
        out = call_api(
            lambda: self.client.patch(
                cls,
                meta["name"],
                obj,
                namespace=meta.get("namespace") or None,
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=force,
                dry_run=dry_run,
            )
        )
        return dict(out)

    def delete(self, api_version: str, key: Key) -> None:
        """Delete an object (background propagation); a missing one is not an error."""
        cls = self.resource(api_version, key.kind)
        try:
            call_api(lambda: self.client.delete(cls, key.name, namespace=key.namespace or None))
        except ClusterError as err:
            if err.code != 404:
                raise

    def wait_established(self, names: Iterable[str], timeout: float) -> list[str]:
        """Wait until the named CRDs are Established; the ones that were not in time."""
        pending = set(names)
        deadline = time.monotonic() + timeout
        while pending:
            for name in sorted(pending):
                crd = self.client.get(CustomResourceDefinition, name)
                conds = (crd.status.conditions if crd.status else None) or []
                if any(c.type == "Established" and c.status == "True" for c in conds):
                    pending.discard(name)
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return sorted(pending)


def impersonated_client(client: Client, user: str) -> Client:
    """``client`` acting as ``user``: the same connection pool and TLS session, and so
    the same credentials, with the ``Impersonate-User`` header on every request.

    A new lightkube Client per user would build its own SSL context (about 5 ms of CPU
    each, measured) and open its own connections (a TLS handshake per user and
    connection), and idle pools would pile up with the number of tenants; sharing the
    transport costs one small object per user. Reaches into lightkube's and httpx's
    private attributes, which the tests pin.
    """
    generic = copy.copy(client._client)  # lightkube's GenericClient: config, field manager
    http = generic._client
    generic._client = type(http)(
        base_url=http.base_url,
        auth=http.auth,
        headers={**http.headers, "Impersonate-User": user},
        timeout=http.timeout,
        transport=http._transport,
        trust_env=False,
    )
    tenant = copy.copy(client)
    tenant._client = generic
    return tenant


def is_namespaced(cluster: Cluster, obj: Obj) -> bool:
    """Whether an object's kind is namespaced, per discovery."""
    return cluster.kind(str(obj["apiVersion"]), str(obj["kind"])).namespaced


def group_kind(obj: Obj) -> tuple[str, str]:
    return (group_of(str(obj["apiVersion"])), str(obj["kind"]))
