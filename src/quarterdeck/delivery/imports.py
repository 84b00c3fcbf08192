"""Bring your own definitions: Flux and Argo CD objects turned into ours.

Pure. Flux ``GitRepository`` becomes a Source and ``Kustomization`` an Application;
an Argo CD ``Application`` becomes both; Helm definitions (``HelmRelease``,
``HelmRepository``, Argo's ``helm`` source) go through ``imports_helm``. Every field
we cannot honour is listed in ``unsupported`` with the object it came from, so nothing
is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.api.delivery import API_VERSION
from quarterdeck.delivery.imports_helm import MIRROR_PATH, argo_helm, helm_release, helm_repository
from quarterdeck.delivery.tenancy import mask

Obj = dict[str, Any]
IN_CLUSTER = ("https://kubernetes.default.svc", "in-cluster", "")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_VERSION_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+].*)?$")


@dataclass
class Imported:
    """Our objects, and what of the originals they do not carry over."""

    objects: list[Obj] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _meta(obj: Mapping[str, Any], namespace: str = "") -> Obj:
    meta = obj.get("metadata") or {}
    return {
        "name": meta.get("name", ""),
        "namespace": namespace or meta.get("namespace") or "default",
    }


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name', '')}"


def _unsupported(
    obj: Mapping[str, Any],
    section: Mapping[str, Any],
    known: Iterable[str],
    prefix: str,
    out: Imported,
) -> None:
    for key in sorted(set(section) - set(known)):
        out.unsupported.append(f"{_where(obj)}: {prefix}{key} is not supported")


def _flux_source(obj: Mapping[str, Any], out: Imported) -> None:
    spec = obj.get("spec") or {}
    ref = spec.get("ref") or {}
    _unsupported(
        obj,
        spec,
        ("url", "ref", "interval", "timeout", "secretRef", "ignore", "suspend"),
        "spec.",
        out,
    )
    _unsupported(obj, ref, ("branch", "tag", "semver", "commit"), "spec.ref.", out)
    ours: Obj = {"url": spec.get("url", "")}
    picked = {k: ref[k] for k in ("branch", "tag", "semver", "commit") if ref.get(k)}
    if picked:
        ours["ref"] = picked
    for key in ("interval", "timeout", "ignore", "suspend"):
        if key in spec:
            ours[key] = spec[key]
    if spec.get("secretRef"):
        ours["secretRef"] = {"name": spec["secretRef"]["name"]}
    out.objects.append(
        {"apiVersion": API_VERSION, "kind": "Source", "metadata": _meta(obj), "spec": ours}
    )


_FLUX_APP = (
    "sourceRef",
    "path",
    "interval",
    "retryInterval",
    "timeout",
    "prune",
    "wait",
    "targetNamespace",
    "namePrefix",
    "dependsOn",
    "suspend",
    "force",
    "healthChecks",
    "healthCheckExprs",
)


def _flux_app(obj: Mapping[str, Any], out: Imported) -> None:
    spec = obj.get("spec") or {}
    _unsupported(obj, spec, _FLUX_APP, "spec.", out)
    source = spec.get("sourceRef") or {}
    if source.get("kind", "GitRepository") != "GitRepository":
        out.unsupported.append(
            f"{_where(obj)}: spec.sourceRef.kind {source.get('kind')} is "
            "not supported (only GitRepository)"
        )
    ours: Obj = {
        "sourceRef": {k: source[k] for k in ("name", "namespace") if source.get(k)},
        "path": spec.get("path", ".").removeprefix("./") or ".",
    }
    render = {k: spec[k] for k in ("targetNamespace", "namePrefix") if spec.get(k)}
    if render:
        ours["render"] = render
    for key in ("interval", "timeout", "prune", "wait", "suspend", "healthChecks"):
        if key in spec:
            ours[key] = spec[key]
    if "retryInterval" in spec:
        ours["retry"] = {"interval": spec["retryInterval"]}
    if spec.get("force"):
        ours["recreateOnImmutable"] = True
    if spec.get("dependsOn"):
        ours["dependsOn"] = [
            {k: d[k] for k in ("name", "namespace") if d.get(k)} for d in spec["dependsOn"]
        ]
    if spec.get("healthCheckExprs"):
        out.unsupported.append(
            f"{_where(obj)}: spec.healthCheckExprs copied as healthExpressions; Flux evaluates "
            "them over the object's fields, ours over `object` (write object.status...)"
        )
        ours["healthExpressions"] = [
            {k: e[k] for k in ("apiVersion", "kind", "current", "failed") if e.get(k)}
            for e in spec["healthCheckExprs"]
        ]
    ours.setdefault("prune", False)  # Flux requires prune to be set; absent means off
    out.objects.append(
        {"apiVersion": API_VERSION, "kind": "Application", "metadata": _meta(obj), "spec": ours}
    )


def _argo_ref(revision: str) -> tuple[dict[str, str], str]:
    """Our ref for an Argo ``targetRevision`` and a note when it is a guess."""
    if revision in ("", "HEAD"):
        return {}, ""
    if _SHA.match(revision):
        return {"commit": revision}, ""
    if _VERSION_TAG.match(revision):
        return {"tag": revision}, f"targetRevision {revision!r} taken as a tag"
    return {"branch": revision}, f"targetRevision {revision!r} taken as a branch"


def _argo_app(obj: Mapping[str, Any], out: Imported) -> None:
    spec = obj.get("spec") or {}
    where = _where(obj)
    _unsupported(obj, spec, ("source", "destination", "syncPolicy", "project"), "spec.", out)
    source = spec.get("source") or {}
    _unsupported(
        obj,
        source,
        ("repoURL", "targetRevision", "path", "kustomize", "directory", "helm", "chart"),
        "spec.source.",
        out,
    )
    kustomize = source.get("kustomize") or {}
    _unsupported(obj, kustomize, ("namePrefix",), "spec.source.kustomize.", out)
    directory = source.get("directory") or {}
    _unsupported(obj, directory, ("recurse",), "spec.source.directory.", out)
    if source.get("chart"):
        out.skipped.append(
            f"{where}: spec.source.chart {source['chart']!r} comes from a chart server; "
            "quarterdeck renders charts offline from Git: point source.path at the chart in Git"
        )
        return
    dest = spec.get("destination") or {}
    if dest.get("server", "") not in IN_CLUSTER or dest.get("name", "") not in IN_CLUSTER:
        cluster = mask(str(dest.get("server") or dest.get("name")))
        out.skipped.append(  # never imported: it would deploy to the local cluster instead
            f"{where}: refused: destination cluster {cluster!r} is not served by this "
            "operator (it applies only to the cluster it runs in)"
        )
        return
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated")
    if policy.get("syncOptions"):
        out.unsupported.append(f"{where}: spec.syncPolicy.syncOptions are not supported")
    ref, note = _argo_ref(str(source.get("targetRevision", "")))
    if note:
        out.unsupported.append(f"{where}: {note}")
    namespace = dest.get("namespace") or "default"
    name = (obj.get("metadata") or {}).get("name", "")
    src_spec: Obj = {"url": source.get("repoURL", "")}
    if ref:
        src_spec["ref"] = ref
    app_spec: Obj = {
        "sourceRef": {"name": name},
        "path": source.get("path", ".") or ".",
        "prune": bool(automated and automated.get("prune")),
        "selfHeal": bool(automated and automated.get("selfHeal")),
        "suspend": automated is None,
    }
    if automated and automated.get("allowEmpty"):
        app_spec["pruneOptions"] = {"allowEmpty": True}
    if kustomize.get("namePrefix"):
        app_spec["render"] = {"namePrefix": kustomize["namePrefix"]}
    if "helm" in source:
        app_spec["render"] = {
            **app_spec.get("render", {}),
            **argo_helm(source, name, where, out.unsupported),
        }
    meta = {"name": name, "namespace": namespace}
    out.objects.append(
        {"apiVersion": API_VERSION, "kind": "Source", "metadata": meta, "spec": src_spec}
    )
    out.objects.append(
        {"apiVersion": API_VERSION, "kind": "Application", "metadata": meta, "spec": app_spec}
    )


def convert(documents: Iterable[Mapping[str, Any]]) -> Imported:
    """Our Sources and Applications for the Flux and Argo CD objects in ``documents``."""
    out = Imported()
    documents = list(documents)
    mirrors: dict[tuple[str, str], str] = {}
    for obj in documents:  # HelmRepositories first: HelmReleases point at them
        if obj.get("kind") == "HelmRepository" and str(obj.get("apiVersion", "")).startswith(
            "source.toolkit.fluxcd.io/"
        ):
            made = helm_repository(obj, out.unsupported, out.skipped)
            if made is not None:
                out.objects.append(made)
                annotations = (obj.get("metadata") or {}).get("annotations") or {}
                key = (made["metadata"]["namespace"], made["metadata"]["name"])
                mirrors[key] = str(annotations.get(MIRROR_PATH) or ".")
    for obj in documents:
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        kind = obj.get("kind")
        if group == "source.toolkit.fluxcd.io" and kind == "HelmRepository":
            continue
        if group == "helm.toolkit.fluxcd.io" and kind == "HelmRelease":
            release = helm_release(obj, mirrors, out.unsupported)
            if release is not None:
                out.objects.append(release)
            else:
                out.skipped.append(f"{_where(obj)}: not imported (see the warnings)")
        elif group == "source.toolkit.fluxcd.io" and kind == "GitRepository":
            _flux_source(obj, out)
        elif group == "kustomize.toolkit.fluxcd.io" and kind == "Kustomization":
            _flux_app(obj, out)
        elif group == "argoproj.io" and kind == "Application":
            _argo_app(obj, out)
        else:
            out.skipped.append(
                f"{_where(obj)} ({obj.get('apiVersion')}) is not a Flux GitRepository, "
                "HelmRepository, Kustomization, HelmRelease or Argo CD Application"
            )
    return out
