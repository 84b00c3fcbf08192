"""Helm definitions of Flux and Argo CD turned into ours: pure, beside ``imports``.

Flux ``HelmRelease`` (with its chart from a ``GitRepository`` path, or from a
``HelmRepository``) and Argo CD Applications with a ``helm`` source become
Applications rendered by Helm (``render.helm``). Charts are rendered offline from Git:
a HelmRepository (an http(s) or OCI chart server) is imported only when annotated
with the Git repository that mirrors it (``delivery.quarterdeck.dev/chart-mirror-url``
and, for a sub-directory holding the ``index.yaml``, ``.../chart-mirror-path``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quarterdeck import kyaml
from quarterdeck.api.delivery import API_VERSION

Obj = dict[str, Any]
MIRROR_URL = "delivery.quarterdeck.dev/chart-mirror-url"
MIRROR_PATH = "delivery.quarterdeck.dev/chart-mirror-path"
_RELEASE = (
    "chart",
    "values",
    "valuesFrom",
    "releaseName",
    "targetNamespace",
    "interval",
    "timeout",
    "suspend",
    "dependsOn",
    "postRenderers",
)


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name', '')}"


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def helm_repository(
    obj: Mapping[str, Any], unsupported: list[str], skipped: list[str]
) -> Obj | None:
    """Our Source for a Flux HelmRepository that names its Git mirror, else None (skipped)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    url = annotations.get(MIRROR_URL)
    spec = obj.get("spec") or {}
    if not url:
        skipped.append(
            f"{_where(obj)}: {spec.get('url', '')!r} is a chart server; quarterdeck renders "
            f"charts offline from Git: annotate it {MIRROR_URL}=<Git repository holding its "
            "index.yaml and charts> to import it"
        )
        return None
    for key in sorted(set(spec) - {"url", "interval", "timeout", "suspend", "type"}):
        unsupported.append(f"{_where(obj)}: spec.{key} is not supported")
    ours: Obj = {"url": url}
    for key in ("interval", "timeout", "suspend"):
        if key in spec:
            ours[key] = spec[key]
    meta = {"name": _name(obj), "namespace": _ns(obj)}
    return {"apiVersion": API_VERSION, "kind": "Source", "metadata": meta, "spec": ours}


def _values_from(items: list[Any], where: str, unsupported: list[str]) -> list[Obj]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("targetPath"):
            unsupported.append(f"{where}: spec.valuesFrom[].targetPath is not supported")
            continue
        ref: Obj = {"kind": item.get("kind", "ConfigMap"), "name": item.get("name", "")}
        if item.get("valuesKey"):
            ref["valuesKey"] = item["valuesKey"]
        if item.get("optional"):
            ref["optional"] = True
        out.append(ref)
    return out


def helm_release(
    obj: Mapping[str, Any],
    mirrors: Mapping[tuple[str, str], str],
    unsupported: list[str],
) -> Obj | None:
    """Our Application for a Flux HelmRelease; ``mirrors``: (namespace, HelmRepository name)
    -> the path of its index in the mirror (imported HelmRepositories only)."""
    where = _where(obj)
    spec = obj.get("spec") or {}
    for key in sorted(set(spec) - set(_RELEASE)):
        unsupported.append(f"{where}: spec.{key} is not supported")
    chart = ((spec.get("chart") or {}).get("spec")) or {}
    if not chart:
        unsupported.append(f"{where}: spec.chart.spec is required (chartRef is not supported)")
        return None
    source = chart.get("sourceRef") or {}
    kind = source.get("kind", "HelmRepository")
    src_ns = source.get("namespace") or _ns(obj)
    helm: Obj = {}
    if kind == "GitRepository":
        path = str(chart.get("chart", ".")).removeprefix("./") or "."
    elif kind == "HelmRepository" and (src_ns, source.get("name", "")) in mirrors:
        path = mirrors[(src_ns, source.get("name", ""))]
        helm["chart"] = chart.get("chart", "")
        if chart.get("version"):
            helm["version"] = chart["version"]
    else:
        unsupported.append(
            f"{where}: chart source {kind} {src_ns}/{source.get('name', '')} was not imported"
        )
        return None
    target = spec.get("targetNamespace", "")
    helm["releaseName"] = spec.get("releaseName") or (
        f"{target}-{_name(obj)}" if target else _name(obj)
    )  # Flux's default release name
    if spec.get("values"):
        helm["values"] = spec["values"]
    if chart.get("valuesFiles"):
        helm["valuesFiles"] = list(chart["valuesFiles"])
    if spec.get("valuesFrom"):
        helm["valuesFrom"] = _values_from(spec["valuesFrom"], where, unsupported)
    posts = spec.get("postRenderers") or []
    if posts:
        if len(posts) > 1:
            unsupported.append(f"{where}: only the first of spec.postRenderers is used")
        helm["postRender"] = {"kustomize": dict((posts[0] or {}).get("kustomize") or {})}
    render: Obj = {"type": "helm", "helm": helm}
    if target:
        render["targetNamespace"] = target
    ours: Obj = {
        "sourceRef": {
            "name": source.get("name", ""),
            **({"namespace": src_ns} if src_ns != _ns(obj) else {}),
        },
        "path": path,
        "render": render,
        "prune": True,  # Helm removes what a new chart version no longer renders
    }
    for key in ("interval", "timeout", "suspend"):
        if key in spec:
            ours[key] = spec[key]
    if spec.get("dependsOn"):
        ours["dependsOn"] = [
            {k: d[k] for k in ("name", "namespace") if d.get(k)} for d in spec["dependsOn"]
        ]
    meta = {"name": _name(obj), "namespace": _ns(obj)}
    return {"apiVersion": API_VERSION, "kind": "Application", "metadata": meta, "spec": ours}


def _set_path(values: Obj, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        values = values.setdefault(part, {})
    values[parts[-1]] = value


def argo_helm(source: Mapping[str, Any], app_name: str, where: str, unsupported: list[str]) -> Obj:
    """``render`` for an Argo CD source with ``helm`` (a chart at a Git path)."""
    helm_src = source.get("helm") or {}
    known = ("valueFiles", "values", "valuesObject", "releaseName", "parameters", "skipCrds")
    for key in sorted(set(helm_src) - set(known)):
        unsupported.append(f"{where}: spec.source.helm.{key} is not supported")
    values: Obj = {}
    if isinstance(helm_src.get("values"), str) and helm_src["values"].strip():
        try:
            parsed = kyaml.load(helm_src["values"], f"{where} spec.source.helm.values")
        except kyaml.YAMLError as err:
            unsupported.append(f"{where}: spec.source.helm.values is not valid YAML: {err}")
            parsed = None
        if isinstance(parsed, dict):
            values.update(parsed)
    if isinstance(helm_src.get("valuesObject"), dict):
        values.update(helm_src["valuesObject"])
    for param in helm_src.get("parameters") or []:
        if isinstance(param, dict) and param.get("name"):
            _set_path(values, str(param["name"]), param.get("value", ""))
    helm: Obj = {"releaseName": helm_src.get("releaseName") or app_name}
    if values:
        helm["values"] = values
    if helm_src.get("valueFiles"):
        helm["valuesFiles"] = list(helm_src["valueFiles"])
    if helm_src.get("skipCrds"):
        helm["skipCrds"] = True
    return {"type": "helm", "helm": helm}
