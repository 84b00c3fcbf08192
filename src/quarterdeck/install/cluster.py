"""Carrying out an install or an uninstall against an API server (the thin shell).

Every object is server-side applied as `quarterdeck-install`, so a second install with
the same base changes nothing (no resourceVersion moves) and `managedFields` show which
fields the install owns. CRDs go through `kube.crds.install_crds`: the kinds must serve
before anything could refer to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from quarterdeck.api.delivery import GROUP as DELIVERY_GROUP
from quarterdeck.api.delivery import VERSION as DELIVERY_VERSION
from quarterdeck.install.plan import (
    OPERATOR_REGISTERED,
    Application,
    Obj,
    Removal,
    application_of,
    apply_order,
    describe,
    ref,
)
from quarterdeck.kube.crds import install_crds

FIELD_MANAGER = "quarterdeck-install"
Report = Callable[[str], None]

_Applications = create_namespaced_resource(
    DELIVERY_GROUP, DELIVERY_VERSION, "Application", "applications"
)


def _resource(obj: Obj) -> Any:
    return codecs.resource_registry.load(str(obj["apiVersion"]), str(obj["kind"]))


def _version(client: Client, obj: Obj) -> str:
    """The live object's resourceVersion, "" when it does not exist."""
    meta = obj["metadata"]
    try:
        live = client.get(_resource(obj), meta["name"], namespace=meta.get("namespace"))
    except ApiError as err:
        if err.status.code == 404:
            return ""
        raise
    return str(live.metadata.resourceVersion)


def apply_install(client: Client, objects: Sequence[Obj], report: Report) -> int:
    """Apply the rendered base; reports `created|configured|unchanged` per object and
    returns how many changed."""
    ordered = apply_order(objects)
    before = {ref(o): _version(client, o) for o in ordered}
    crds = [dict(o) for o in ordered if o["kind"] == "CustomResourceDefinition"]
    for obj in ordered:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        meta = obj["metadata"]
        client.patch(
            _resource(obj),
            meta["name"],
            dict(obj),
            namespace=meta.get("namespace"),
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )
        if obj["kind"] == "Namespace" and crds:  # the kinds serve before the rest goes in
            install_crds(client, crds, timeout=60, field_manager=FIELD_MANAGER)
            crds = []
    if crds:
        install_crds(client, crds, timeout=60, field_manager=FIELD_MANAGER)
    changed = 0
    for obj in ordered:
        old, new = before[ref(obj)], _version(client, obj)
        verb = "created" if not old else ("unchanged" if old == new else "configured")
        changed += verb != "unchanged"
        report(f"{describe(ref(obj))} {verb}")
    return changed


def applications(client: Client) -> list[Application]:
    """Every Application in the cluster (none when the CRD is not installed)."""
    try:
        return [application_of(dict(a)) for a in client.list(_Applications, namespace="*")]
    except ApiError as err:
        if err.status.code == 404:
            return []
        raise


def custom_object_counts(client: Client, crds: Iterable[Obj]) -> dict[str, int]:
    """How many live objects each of these CRDs holds."""
    out: dict[str, int] = {}
    for crd in crds:
        try:
            out[str(crd["metadata"]["name"])] = sum(1 for _ in _list_all(client, crd))
        except ApiError as err:
            if err.status.code != 404:
                raise
    return out


def _list_all(client: Client, crd: Obj) -> Iterable[Any]:
    """Every live object of the CRD's kind, in all namespaces."""
    spec = crd["spec"]
    res = _custom(spec)
    if spec["scope"] == "Namespaced":
        return client.list(res, namespace="*")
    return client.list(res)


def _custom(spec: Obj) -> Any:
    version = next(v["name"] for v in spec["versions"] if v.get("storage"))
    args = (spec["group"], version, spec["names"]["kind"], spec["names"]["plural"])
    if spec["scope"] == "Namespaced":
        return create_namespaced_resource(*args)
    return create_global_resource(*args)


def _drop_finalizers(client: Client, crd: Obj, report: Report) -> None:
    """With the operator gone no finalizer of ours can complete: drop them so that the
    CRD's deletion finishes (and no finalizer prunes what an Application made)."""
    res = _custom(crd["spec"])
    for obj in _list_all(client, crd):
        if obj.metadata.finalizers:
            client.patch(
                res,
                obj.metadata.name,
                {"metadata": {"finalizers": None}},
                namespace=obj.metadata.namespace,
                patch_type=PatchType.MERGE,
            )
            report(f"finalizers dropped from {crd['spec']['names']['kind']} {obj.metadata.name}")


def _delete(client: Client, obj: Obj) -> bool:
    meta = obj["metadata"]
    try:
        client.delete(_resource(obj), meta["name"], namespace=meta.get("namespace"))
    except ApiError as err:
        if err.status.code == 404:
            return False
        raise
    return True


def carry_out_removal(client: Client, removal: Removal, report: Report) -> None:
    """Delete what `removal` lists (missing objects are fine), then what the operator
    registered itself."""
    for obj in removal.delete:
        if obj["kind"] == "CustomResourceDefinition":
            _drop_finalizers(client, obj, report)
        if _delete(client, obj):
            report(f"{describe(ref(obj))} deleted")
    for api_version, kind, name in OPERATOR_REGISTERED:
        registered = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
        if _delete(client, registered):
            report(f"{kind} {name} deleted")
